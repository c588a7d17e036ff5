package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/restore"
	"github.com/marcador/marcador/queue/epoch"
)

const redisUsage = `usage: marcador redis <command> -config FILE

  status        the data epoch marker in Redis and this node's copy: would serve be held?
  restore       rebuild the do-not-contact lists and the contact history from ClickHouse,
                then confirm the data so every node resumes dialing and texting
  accept-empty  confirm an empty (or otherwise restored) Redis as it is; nothing is rebuilt
`

func runRedis(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, redisUsage)
		if len(args) > 0 {
			return nil
		}
		return fmt.Errorf("which redis command? (status, restore, accept-empty)")
	}
	sub := args[0]
	switch sub {
	case "status", "restore", "accept-empty":
	default:
		fmt.Fprint(stderr, redisUsage)
		return fmt.Errorf("redis %q: unknown command (status, restore, accept-empty)", sub)
	}
	_, parse := configFlags("redis "+sub, "redis "+sub+" -config FILE", "YAML config file (the node's: its spool dir locates the node's copy of the marker)", stderr)
	cfg, err := parse(args[1:])
	if err != nil {
		return err
	}
	// restore rebuilds through the gate, so it reads ClickHouse and keeps
	// a spool of its own; status and accept-empty need only Redis.
	opt := app.Options{Config: cfg, Parts: app.Redis, Logger: app.NewLogger(cfg.Log, stderr), Version: version}
	if sub == "restore" {
		opt.Parts, opt.Schema, opt.SpoolName = app.Gate, app.SchemaRequired, "redis"
	}
	a, err := app.New(ctx, opt)
	if err != nil {
		return readsClickHouse("restore", err)
	}
	defer a.Close()
	a.Start(ctx)
	rdb := a.Redis
	file := epoch.FileBeside(cfg.Spool.Dir)
	p := func(format string, a ...any) { fmt.Fprintf(stdout, format, a...) }
	if err := printEpoch(ctx, stdout, rdb, file); err != nil {
		return err
	}
	switch sub {
	case "status":
		return nil
	case "accept-empty":
		m, err := epoch.Confirm(ctx, rdb, file, cfg.NodeID, epoch.AcceptEmpty, time.Now())
		if err != nil {
			return err
		}
		p("accepted Redis as it is: new data epoch %s\nnothing was rebuilt; every node sharing this Redis resumes within a few seconds\n", m)
		return nil
	}
	if err := restoreRedis(ctx, stdout, a); err != nil {
		return err
	}
	m, err := epoch.Confirm(ctx, rdb, file, cfg.NodeID, epoch.Restore, time.Now())
	if err != nil {
		return err
	}
	p("new data epoch %s: every node sharing this Redis resumes dialing and texting within a few seconds\n", m)
	return nil
}

// printEpoch says what Redis and this node's file hold.
func printEpoch(ctx context.Context, w io.Writer, rdb redis.UniversalClient, file string) error {
	m, present, err := epoch.Read(ctx, rdb)
	if err != nil {
		return err
	}
	local, haveLocal, err := epoch.ReadFile(file)
	if err != nil {
		return err
	}
	inRedis, here := "missing", "none (this node never ran against a Redis)"
	if present {
		inRedis = m.String()
	}
	if haveLocal {
		here = local.String()
	}
	fmt.Fprintf(w, "data epoch in Redis: %s\nthis node's copy (%s): %s\n", inRedis, file, here)
	switch {
	case !haveLocal:
		fmt.Fprintln(w, "state: this node has no copy; serve adopts the marker in Redis (or creates one on an empty Redis)")
	case present && m.ID == local.ID:
		fmt.Fprintln(w, "state: ok, Redis holds this node's data")
	default:
		fmt.Fprintln(w, "state: DATA LOST, serve holds dialing and texting until `marcador redis restore` or `marcador redis accept-empty`")
	}
	return nil
}

// restoreRedis runs both rebuilds and says plainly what it cannot rebuild.
func restoreRedis(ctx context.Context, w io.Writer, a *app.App) error {
	db := a.Config.ClickHouse.Database
	if err := rebuildDNC(ctx, w, a.Conn, db, a.Gate); err != nil {
		return err
	}
	h, err := restore.History(ctx, a.Conn, db, a.Gate, a.Store)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "contact history: %d events put back from %d attempts since %s (%s.contact_attempts)\n",
		h.Events, h.Attempts, h.Since.UTC().Format(time.RFC3339), db)
	if h.Unmatched > 0 {
		fmt.Fprintf(w, "  %d of those attempts belong to accounts Redis does not hold: their history is kept by account id, not by\n"+
			"  national id; upload the campaigns' contacts again, then run `marcador redis restore` again (it adds nothing twice)\n", h.Unmatched)
	}
	fmt.Fprintln(w, "NOT rebuilt (they came from uploads, not from ClickHouse): campaign definitions, accounts and due-queues,\n"+
		"  run states, promises awaiting follow-up, texts waiting in the outbox")
	if len(h.MissingCampaigns) > 0 {
		fmt.Fprintf(w, "campaigns with attempts since %s and no definition in Redis: %s\n"+
			"  upload each again (POST /api/v1/campaigns, then its contacts) and start it\n",
			h.Since.UTC().Format(time.DateOnly), strings.Join(h.MissingCampaigns, ", "))
	}
	return nil
}
