package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/restore"
	"github.com/marcador/marcador/queue/compliance"
)

// rebuildDNC puts the do-not-contact lists back and says how many.
func rebuildDNC(ctx context.Context, w io.Writer, conn driver.Conn, db string, gate *compliance.Gate) error {
	r, err := restore.DNC(ctx, conn, db, gate)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "do-not-contact lists: %d listings put back from %s.dnc_events (%d whose newest action is a removal stay off)\n",
		r.Listed, db, r.Unlisted)
	return nil
}

const dncUsage = `usage: marcador dnc rebuild -config FILE

  rebuild  list again, in Redis, every number whose newest action in ClickHouse dnc_events is a listing
           (a rebuild never takes a listing off; run it again at any time)
`

func runDNC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprint(stderr, dncUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return fmt.Errorf("which dnc command? (rebuild)")
	}
	_, parse := configFlags("dnc rebuild", "dnc rebuild -config FILE", "YAML config file", stderr)
	cfg, err := parse(args[1:])
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Gate, Schema: app.SchemaRequired, SpoolName: "dnc",
		Logger: app.NewLogger(cfg.Log, stderr), Version: version})
	if err != nil {
		return readsClickHouse("dnc rebuild", err)
	}
	defer a.Close()
	a.Start(ctx)
	return rebuildDNC(ctx, stdout, a.Conn, cfg.ClickHouse.Database, a.Gate)
}

// readsClickHouse says that cmd needed ClickHouse when it did not answer.
func readsClickHouse(cmd string, err error) error {
	var ue *app.UnreachableError
	if errors.As(err, &ue) && ue.Service == "clickhouse" {
		return fmt.Errorf("%s reads ClickHouse: %w", cmd, err)
	}
	return err
}
