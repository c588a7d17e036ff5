package main

import (
	"context"
	"fmt"
	"io"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, parse := configFlags("migrate", "migrate [-config FILE]", "YAML config file (default: built-in defaults plus MARCADOR_* environment)", stderr)
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.ClickHouse, Logger: app.NewLogger(cfg.Log, stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	done, err := analytics.Migrate(ctx, a.Conn, cfg.ClickHouse.Database)
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
