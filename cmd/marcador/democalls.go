package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
)

// demoDebtor is what a simulated debtor who answers does, by number: most
// promise (the full balance in a week, or an amount of their own today),
// some ask for the payment link, a few opt out, some only listen.
func demoDebtor(number string) string {
	h := fnv.New32a()
	h.Write([]byte(number))
	switch h.Sum32() % 10 {
	case 0, 1, 2:
		return "1/1/2" // promise / full balance / in a week
	case 3, 4: // promise / another amount, in the local currency's scale / today
		switch {
		case strings.HasPrefix(number, "+57"):
			return "1/2/400000#/1"
		case strings.HasPrefix(number, "+56"):
			return "1/2/300000#/1"
		}
		return "1/2/3000#/1"
	case 5:
		return "1/1/3/0812" // promise / full balance / on a date: 8 December
	case 6, 7:
		return "2" // the payment link by SMS
	case 8:
		return "9" // stop calling me
	}
	return "" // listens and hangs up
}

// demoCampaignRun runs an IVR campaign with the real runner against an
// in-process carrier simulator until about n contacts have been tried, then
// pauses it and waits for the calls in progress.
func demoCampaignRun(ctx context.Context, w io.Writer, cfg config.Config, store *queue.Store, gate *compliance.Gate,
	conn driver.Conn, log *slog.Logger, c queue.Campaign, n int) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, Seed: 7,
		Ring: simcarrier.Range{Min: time.Second, Max: 3 * time.Second}, DigitsFor: demoDebtor, DigitsAfter: 1500 * time.Millisecond,
		Logger: log})
	if err != nil {
		return err
	}
	defer sim.Close()
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: c.Trunk, URI: "sip:" + sim.Addr(), CallerID: c.CallerID, CPS: 20, MaxChannels: 60})
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(cfg.SIP.Listen)
	ep, err := newEndpoint(cfg, net.JoinHostPort(host, "0"), log, nil)
	if err != nil {
		return err
	}
	defer ep.Close()
	scripts, err := script.Shipped()
	if err != nil {
		return err
	}
	cfg.Spool.Dir = filepath.Join(cfg.Spool.Dir, "demo") // a running `serve` keeps its own spool
	wr, err := newWriter(conn, cfg, log, nil)
	if err != nil {
		return err
	}
	defer wr.Close()
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); wr.Run(wctx) }()
	defer func() { stopWriter(); <-writerDone }()

	runner := campaign.New(campaign.Options{Store: store, Gate: gate, Endpoint: ep, Trunks: map[string]*dialer.Trunk{c.Trunk: trunk},
		// Attempts carry real times; only the compliance gate runs on the
		// demo's business-hours clock.
		Writer: wr, Scripts: scripts, Library: prompts.NewLibrary(cfg.IVR.PromptsDir), Node: cfg.NodeID, Logger: log,
		Signer: paylink.Signer{Key: []byte("demo-paylink-secret-0123456789"), TTL: 72 * time.Hour}})
	defer runner.Close()

	p("   carrier simulator on %s: the number's last digit decides (0-3 a person, 4-5 voicemail, 6 busy, 7 no answer, 8 invalid, 9 network error);\n", sim.Addr())
	p("   a person who answers promises, asks for the payment link, opts out or just listens\n")
	p("   POST /api/v1/campaigns/%s/start: script %s, up to %d calls at once, trunk %q at 20 CPS\n", c.ID, c.Script, c.MaxConcurrent, c.Trunk)
	if err := runner.Start(ctx, c.ID); err != nil {
		return err
	}
	start := time.Now()
	for {
		d, err := store.Dispositions(ctx, c.ID)
		if err != nil {
			return err
		}
		inflight, _ := store.InFlightCount(ctx, c.ID)
		var tried int64
		for _, v := range d {
			tried += v
		}
		if tried+inflight >= int64(n) || time.Since(start) > 2*time.Minute {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := runner.Pause(ctx, c.ID); err != nil {
		return err
	}
	p("   POST /api/v1/campaigns/%s/pause after %d contacts: no new calls; the calls in progress finish...\n", c.ID, n)
	runner.Wait()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := wr.Flush(fctx); err != nil {
		return fmt.Errorf("attempts not in ClickHouse: %w", err)
	}
	p("   done in %s; the simulator saw %d calls (%d answered)\n", time.Since(start).Round(time.Second), sim.Stats().Offered, sim.Stats().Answered)
	return nil
}

// printAttempts lists this run's attempts from ClickHouse.
func printAttempts(ctx context.Context, w io.Writer, conn driver.Conn, db, campaign string, since time.Time) error {
	rows, err := conn.Query(ctx, "SELECT account_id, phone, disposition, sip_code, ring_ms, talk_ms, dtmf, ivr_path, promise_amount, currency, reason FROM "+db+
		".contact_attempts FINAL WHERE campaign_id = ? AND started_at BETWEEN ? AND now() + 1 ORDER BY started_at", campaign, since)
	if err != nil {
		return fmt.Errorf("attempts: %w", err)
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   account\tphone\tdisposition\tSIP\tring\ttalk\tkeys\tpromise\tpath or reason\n")
	for rows.Next() {
		var acct, ph, disp, dtmf, path, cur, reason string
		var code uint16
		var ring, talk uint32
		var amount decimal.Decimal
		if err := rows.Scan(&acct, &ph, &disp, &code, &ring, &talk, &dtmf, &path, &amount, &cur, &reason); err != nil {
			return err
		}
		prom := ""
		if !amount.IsZero() {
			prom = money(amount) + " " + cur
		}
		if path == "" {
			path = reason
		}
		if len(path) > 70 {
			path = path[:67] + "..."
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%d\t%.1fs\t%.1fs\t%s\t%s\t%s\n", acct, ph, disp, code, float64(ring)/1000, float64(talk)/1000, dtmf, prom, path)
	}
	tw.Flush()
	return rows.Err()
}

// printPromises totals this run's promises by currency from ClickHouse.
func printPromises(ctx context.Context, w io.Writer, conn driver.Conn, db, campaign string, since time.Time) error {
	rows, err := conn.Query(ctx, "SELECT currency, count(), sum(amount) FROM "+db+".promises FINAL WHERE campaign_id = ? AND created_at BETWEEN ? AND now() + 1 GROUP BY currency ORDER BY currency",
		campaign, since)
	if err != nil {
		return fmt.Errorf("promises: %w", err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var cur string
		var n uint64
		var sum decimal.Decimal
		if err := rows.Scan(&cur, &n, &sum); err != nil {
			return err
		}
		found = true
		fmt.Fprintf(w, "   promises captured: %d, total %s %s\n", n, money(sum), cur)
	}
	if !found {
		fmt.Fprintf(w, "   promises captured: 0\n")
	}
	return rows.Err()
}

// printDispositions reads back the attempts campaign made since `since`.
func printDispositions(ctx context.Context, w io.Writer, conn driver.Conn, db string, since time.Time, campaign string) error {
	rows, err := conn.Query(ctx, "SELECT disposition, count(), avg(ring_ms), sum(talk_ms), countIf(dtmf != '') FROM "+db+
		".contact_attempts FINAL WHERE campaign_id = ? AND started_at BETWEEN ? AND now() + 1 GROUP BY disposition ORDER BY count() DESC, disposition",
		campaign, since)
	if err != nil {
		return fmt.Errorf("attempts by disposition: %w", err)
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   disposition\tattempts\tavg ring\ttalk total\tpressed a key\n")
	var total uint64
	for rows.Next() {
		var d string
		var n, talk, keys uint64
		var ring float64
		if err := rows.Scan(&d, &n, &ring, &talk, &keys); err != nil {
			return err
		}
		total += n
		fmt.Fprintf(tw, "   %s\t%d\t%.1fs\t%.0fs\t%d\n", d, n, ring/1000, float64(talk)/1000, keys)
	}
	fmt.Fprintf(tw, "   total\t%d\t\t\t\n", total)
	tw.Flush()
	return rows.Err()
}
