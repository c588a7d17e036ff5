package main

import (
	"context"
	"io"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, parse := configFlags("serve", "serve [-config FILE]", "YAML config file (default: built-in defaults plus MARCADOR_* environment)", stderr)
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, stderr).With("node", cfg.NodeID)
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Node, Schema: app.SchemaTry, Resume: true, Logger: log, Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)
	log.Info("marcador serving", "http", a.HTTPAddr(), "sip", a.Endpoint.Addr(), "redis", app.RedisAddr(cfg.Redis),
		"clickhouse", cfg.ClickHouse.Addr, "spool", cfg.Spool.Dir, "version", version)
	if err := a.Wait(ctx); err != nil {
		log.Error("http server stopped", "err", err)
	}
	log.Info("shutting down")
	if err := a.Close(); err != nil {
		log.Warn("not every part stopped cleanly", "err", err)
	}
	log.Info("stopped", "rows_left_in_spool", a.Writer.Queued())
	return nil
}
