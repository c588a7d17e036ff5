package main

import (
	"context"
	"io"

	"github.com/marcador/marcador/cmd/marcador/internal/simcmd"
)

// runSim is 'marcador sim': the pacing simulator (cmd/marcador/internal/simcmd).
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return simcmd.Main(ctx, args, stdout, stderr)
}
