package main

import (
	"context"
	"fmt"
	"io"

	"github.com/marcador/marcador/analytics"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "migrate [-config FILE]", stderr)
	cfgPath := fs.String("config", "", "YAML config file (default: built-in defaults plus MARCADOR_* environment)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	conn, err := analytics.Open(ctx, chOptions(cfg.ClickHouse))
	if err != nil {
		return err
	}
	defer conn.Close()
	done, err := analytics.Migrate(ctx, conn, cfg.ClickHouse.Database)
	for _, m := range done {
		fmt.Fprintf(stdout, "applied %03d %s\n", m.Version, m.Name)
	}
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintf(stdout, "schema of %s is up to date\n", cfg.ClickHouse.Database)
	}
	return nil
}
