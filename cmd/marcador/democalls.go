package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/netip"
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
		Record: true, Logger: log})
	if err != nil {
		return err
	}
	defer sim.Close()
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: c.Trunk, URI: "sip:" + sim.Addr(), CallerID: c.CallerID, CPS: 20, MaxChannels: 60})
	if err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(cfg.SIP.Listen)
	var runner *campaign.Runner
	ready := make(chan struct{})
	// The callback line takes calls only from the demo's own handset, which
	// calls from this host.
	handsetFrom := []dialer.Source{{Trunk: "handset", Prefix: netip.MustParsePrefix("127.0.0.0/8")}}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		handsetFrom = append(handsetFrom, dialer.Source{Trunk: "handset", Prefix: netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())})
	}
	ep, err := newEndpoint(cfg, net.JoinHostPort(host, "0"), log, func(in *dialer.Inbound) { <-ready; runner.Inbound(in) },
		dialer.InboundPolicy{Sources: handsetFrom, MaxCalls: cfg.IVR.Inbound.MaxCalls, ReserveOutbound: cfg.SIP.RTPPorts.ReserveOutbound})
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

	texting, err := startDemoTexting(cfg, store, gate, wr, log)
	if err != nil {
		return err
	}
	defer texting.Close()
	runner = campaign.New(campaign.Options{Store: store, Gate: gate, Endpoint: ep, Trunks: map[string]*dialer.Trunk{c.Trunk: trunk},
		SendSMS: queueSMS(texting.sender, time.Now),
		// Attempts carry real times; only the compliance gate runs on the
		// demo's business-hours clock.
		Writer: wr, Scripts: scripts, Library: prompts.NewLibrary(cfg.IVR.PromptsDir), Node: cfg.NodeID, Logger: log,
		Signer: paylink.Signer{Key: []byte("demo-paylink-secret-0123456789"), TTL: 72 * time.Hour},
		// Mexican ids are CURPs, which cannot be keyed: callers prove who
		// they are with their date of birth.
		Inbound: campaign.InboundOptions{Numbers: []string{demoCallbackLine}, Country: "MX", Language: "es", Verify: "birth_date"}})
	defer runner.Close()
	close(ready)

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
	// The simulated debtors listen: each key waits for the IVR to speak.
	people, err := sim.CheckHeard(fctx, time.Second)
	if err != nil {
		return fmt.Errorf("the IVR did not speak to the debtors: %w", err)
	}
	p("   all %d people who answered heard the IVR speak before their first key\n", people)
	if err := demoTexts(ctx, w, texting, store, conn, cfg.ClickHouse.Database, c.ID, start); err != nil {
		return err
	}
	if err := demoCallback(ctx, w, cfg, conn, store, ep, log, c, start); err != nil {
		return err
	}
	if err := demoPayments(ctx, w, conn, cfg.ClickHouse.Database, runner, c.ID, start); err != nil {
		return err
	}
	fctx2, cancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel2()
	if err := wr.Flush(fctx2); err != nil {
		return fmt.Errorf("rows not in ClickHouse: %w", err)
	}
	return nil
}

// demoCallbackLine is the number debtors call back on in the demo.
const demoCallbackLine = "8005550100"

// demoCallback has a debtor who missed our call ring the callback line from
// their phone (a SIP phone on loopback sending RFC 4733 keys): the caller id
// alone proves nothing, so they key their date of birth, then hear the
// balance and promise the full amount in a week.
func demoCallback(ctx context.Context, w io.Writer, cfg config.Config, conn driver.Conn, store *queue.Store, line *dialer.Endpoint, log *slog.Logger,
	c queue.Campaign, since time.Time) error {
	var phone, acct string
	err := conn.QueryRow(ctx, "SELECT phone, account_id FROM "+cfg.ClickHouse.Database+".contact_attempts FINAL WHERE campaign_id = ? AND started_at >= ? "+
		"AND disposition IN ('no_answer', 'busy') AND country = 'MX' ORDER BY started_at LIMIT 1", c.ID, since.Add(-time.Second)).Scan(&phone, &acct)
	if err != nil {
		fmt.Fprintf(w, "   (no unanswered MX debtor to call back this run)\n")
		return nil
	}
	a, err := store.Account(ctx, c.ID, acct)
	if err != nil {
		return fmt.Errorf("callback call: %w", err)
	}
	born, err := time.Parse(queue.DateLayout, a.BirthDate)
	if err != nil {
		fmt.Fprintf(w, "   (%s has no date of birth on file to prove who they are)\n", acct)
		return nil
	}
	host, _, _ := net.SplitHostPort(cfg.SIP.Listen)
	handset, err := newEndpoint(cfg, net.JoinHostPort(host, "0"), log, nil, dialer.InboundPolicy{})
	if err != nil {
		return err
	}
	defer handset.Close()
	tr, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "handset", URI: "sip:" + line.Addr(), CPS: 1, MaxChannels: 1})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n   %s (%s) missed our call and calls the callback line %s back; keys their date of birth (the caller id proves nothing),\n"+
		"   then 1 (promise), 1 (full balance), 2 (in a week)\n", acct, phone, demoCallbackLine)
	leg, err := handset.Dial(ctx, dialer.DialRequest{Trunk: tr, To: demoCallbackLine, CallerID: phone})
	if err != nil {
		return fmt.Errorf("callback call: %w", err)
	}
	for _, k := range []string{born.Format("02012006"), "1", "1", "2"} {
		select {
		case <-leg.Ended():
		case <-time.After(2500 * time.Millisecond):
			leg.Session().SendDigits(k)
		}
	}
	select {
	case <-leg.Ended():
	case <-time.After(60 * time.Second):
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		leg.Hangup(hctx)
		cancel()
	}
	return nil
}

// demoPayments pays two of this run's promises through the same code as
// POST /api/v1/payments, so the summary shows promises kept.
func demoPayments(ctx context.Context, w io.Writer, conn driver.Conn, db string, r *campaign.Runner, campaignID string, since time.Time) error {
	rows, err := conn.Query(ctx, "SELECT account_id, toString(amount), currency FROM "+db+".promises FINAL WHERE campaign_id = ? AND created_at >= ? ORDER BY created_at LIMIT 2",
		campaignID, since.Add(-time.Second))
	if err != nil {
		return fmt.Errorf("promises to pay: %w", err)
	}
	type due struct{ acct, amount, cur string }
	var pays []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.acct, &d.amount, &d.cur); err != nil {
			rows.Close()
			return err
		}
		pays = append(pays, d)
	}
	rows.Close()
	for _, d := range pays {
		amt, _ := decimal.NewFromString(d.amount)
		res, err := r.RecordPayment(ctx, campaign.Payment{ID: fmt.Sprintf("demo-%s-%d", d.acct, since.Unix()), Campaign: campaignID,
			Account: d.acct, Amount: amt, Currency: d.cur, Method: "link"})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   POST /api/v1/payments: %s paid %s %s through the payment link; promises kept: %d\n", d.acct, d.amount, d.cur, len(res.Kept))
	}
	return nil
}

// printAttempts lists this run's attempts from ClickHouse.
func printAttempts(ctx context.Context, w io.Writer, conn driver.Conn, db, campaign string, since time.Time) error {
	rows, err := conn.Query(ctx, "SELECT account_id, phone, disposition, sip_code, ring_ms, talk_ms, dtmf, ivr_path, promise_amount, currency, reason FROM "+db+
		".contact_attempts FINAL WHERE campaign_id = ? AND channel = 'voice' AND started_at BETWEEN ? AND now() + 1 ORDER BY started_at", campaign, since)
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
	rows, err := conn.Query(ctx, "SELECT currency, count(), sum(amount), countIf(status = 'kept'), sumIf(amount, status = 'kept') FROM "+db+
		".promises FINAL WHERE campaign_id = ? AND created_at BETWEEN ? AND now() + 1 GROUP BY currency ORDER BY currency",
		campaign, since)
	if err != nil {
		return fmt.Errorf("promises: %w", err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var cur string
		var n, kept uint64
		var sum, keptSum decimal.Decimal
		if err := rows.Scan(&cur, &n, &sum, &kept, &keptSum); err != nil {
			return err
		}
		found = true
		fmt.Fprintf(w, "   promises captured: %d, total %s %s; kept (paid): %d, %s %s\n", n, money(sum), cur, kept, money(keptSum), cur)
	}
	if !found {
		fmt.Fprintf(w, "   promises captured: 0\n")
	}
	return rows.Err()
}

// printDispositions reads back the attempts campaign made since `since`.
func printDispositions(ctx context.Context, w io.Writer, conn driver.Conn, db string, since time.Time, campaign string) error {
	rows, err := conn.Query(ctx, "SELECT toString(channel) AS ch, disposition, count(), avg(ring_ms), sum(talk_ms), countIf(dtmf != '') FROM "+db+
		".contact_attempts FINAL WHERE campaign_id = ? AND started_at BETWEEN ? AND now() + 1 GROUP BY ch, disposition ORDER BY ch DESC, count() DESC, disposition",
		campaign, since)
	if err != nil {
		return fmt.Errorf("attempts by disposition: %w", err)
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   channel\tdisposition\tattempts\tavg ring\ttalk total\tpressed a key\n")
	var total uint64
	for rows.Next() {
		var ch, d string
		var n, talk, keys uint64
		var ring float64
		if err := rows.Scan(&ch, &d, &n, &ring, &talk, &keys); err != nil {
			return err
		}
		total += n
		fmt.Fprintf(tw, "   %s\t%s\t%d\t%.1fs\t%.0fs\t%d\n", ch, d, n, ring/1000, float64(talk)/1000, keys)
	}
	fmt.Fprintf(tw, "   total\t\t%d\t\t\t\n", total)
	tw.Flush()
	return rows.Err()
}
