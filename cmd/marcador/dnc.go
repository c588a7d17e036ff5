package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
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
	fs := newFlags("dnc rebuild", "dnc rebuild -config FILE", stderr)
	cfgPath := fs.String("config", "", "YAML config file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	rdb := newRedis(cfg.Redis)
	defer rdb.Close()
	if err := pingRedis(ctx, rdb, cfg.Redis); err != nil {
		return err
	}
	conn, err := analytics.Open(ctx, chOptions(cfg.ClickHouse))
	if err != nil {
		return fmt.Errorf("dnc rebuild reads ClickHouse: %w", err)
	}
	defer conn.Close()
	if _, err := analytics.Migrate(ctx, conn, cfg.ClickHouse.Database); err != nil {
		return err
	}
	gate, err := newGate(cfg, rdb, nil, log, time.Now)
	if err != nil {
		return err
	}
	return rebuildDNC(ctx, stdout, conn, cfg.ClickHouse.Database, gate)
}
