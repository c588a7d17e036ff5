//go:build !prod

package main

import (
	"context"
	"io"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, parse := configFlags("demo", "demo [-config FILE] [-debtors N] [-seed N] [-calls N] [-media-calls N]", "YAML config file (make demo passes deploy/dev/marcador.yaml)", stderr)
	n := fs.Int("debtors", 1000, "debtors in the generated portfolio")
	seed := fs.Int64("seed", 2026, "portfolio generator seed (same seed, same debtors)")
	calls := fs.Int("calls", 30, "contacts to call over SIP in the demo")
	mediaCalls := fs.Int("media-calls", 300, "calls held at once in the media engine's step")
	cfg, err := parse(args)
	if err != nil {
		return err
	}
	cfg.Log.Level = "warn" // the demo prints its own story
	return demo.Run(ctx, demo.Options{Config: cfg, Debtors: *n, Seed: *seed, Calls: *calls, MediaCalls: *mediaCalls, Logger: app.NewLogger(cfg.Log, stderr),
		Version: version}, stdout)
}
