package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nyaruka/phonenumbers"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
	"github.com/marcador/marcador/cmd/marcador/internal/portfolio"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/sms"
)

// The demo's campaigns: reminders before the due date, collection after it.
var demoCampaigns = []queue.Campaign{
	{ID: "demo-preventive", Name: "Recordatorio preventivo", Mode: queue.ModeIVR, Country: "MX",
		TimeZone: "America/Mexico_City", Profile: queue.ProfileAuto, Trunk: "sim", CallerID: "+525550000100",
		Script: "reminder-preventive", MaxConcurrent: 30, CallbackNumber: "+525550000100",
		Retry: queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{analytics.NoAnswer: queue.Duration(4 * time.Hour), analytics.Busy: queue.Duration(30 * time.Minute)}}},
	{ID: "demo-overdue", Name: "Cobranza temprana y tardía", Mode: queue.ModeIVR, Country: "MX",
		TimeZone: "America/Mexico_City", Profile: queue.ProfileAuto, Trunk: "sim", CallerID: "+525550000200",
		Script: "reminder-overdue", MaxConcurrent: 30, CallbackNumber: "+525550000200", PayURL: "https://pagos.example.com/p/{token}",
		Promise: queue.PromisePolicy{MaxDays: 15, MinPercent: 10, GraceDays: 2}, RingTimeout: queue.Duration(queue.MinRingTimeout),
		Company: "Financiera Sol",
		SMS:     queue.SMSPolicy{Fallback: []queue.FallbackRule{{After: []string{analytics.NoAnswer, analytics.Busy}, Template: "missed-call"}}},
		Retry:   queue.RetryPolicy{MaxAttempts: 6, Delays: map[string]queue.Duration{analytics.NoAnswer: queue.Duration(2 * time.Hour), analytics.Busy: queue.Duration(15 * time.Minute), analytics.Machine: queue.Duration(6 * time.Hour)}}},
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "demo [-config FILE] [-debtors N] [-seed N] [-calls N]", stderr)
	cfgPath := fs.String("config", "", "YAML config file (make demo passes deploy/dev/marcador.yaml)")
	n := fs.Int("debtors", 1000, "debtors in the generated portfolio")
	seed := fs.Int64("seed", 2026, "portfolio generator seed (same seed, same debtors)")
	calls := fs.Int("calls", 30, "contacts to call over SIP in the demo")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg.Log.Level = "warn" // the demo prints its own story
	log := newLogger(cfg.Log, stderr)
	rdb := newRedis(cfg.Redis)
	defer rdb.Close()
	if err := pingRedis(ctx, rdb, cfg.Redis); err != nil {
		return fmt.Errorf("%w (start the dev services: make dev-up)", err)
	}
	conn, err := analytics.Open(ctx, chOptions(cfg.ClickHouse))
	if err != nil {
		return fmt.Errorf("%w (start the dev services: make dev-up)", err)
	}
	defer conn.Close()
	if _, err := analytics.Migrate(ctx, conn, cfg.ClickHouse.Database); err != nil {
		return err
	}
	store := newStore(rdb, cfg, log)
	now := time.Now()
	// Compliance runs on a simulated clock set to business hours, so the
	// demo calls whatever the hour: the next Tuesday-Friday, 10:30 in Mexico
	// City, moving on with real time.
	gateNow := demoClock(now)
	gate, err := newGate(cfg, rdb, nil, log, gateNow)
	if err != nil {
		return err
	}

	p := func(format string, a ...any) { fmt.Fprintf(stdout, format, a...) }
	p("\n== Marcador demo ==\n")
	p("Redis %s · ClickHouse %s (database %s) · node %s\n\n", redisAddr(cfg.Redis), cfg.ClickHouse.Addr, cfg.ClickHouse.Database, cfg.NodeID)

	// 1. The API, served in-process on a loopback port, exactly as `serve` does.
	const token = "demo-token-0123456789abcdef"
	api := httpapi.New(httpapi.Options{Store: store, Gate: gate, Tokens: []string{token}, Now: time.Now, Logger: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/api/v1"
	call := func(method, path, ctype string, body []byte, out any) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}

	p("1. Campaigns (POST %s/campaigns)\n", base)
	for _, c := range demoCampaigns {
		// Each run starts from a clean slate so its figures are reproducible.
		if err := store.DeleteCampaign(ctx, c.ID); err != nil {
			return err
		}
		b, _ := json.Marshal(c)
		var saved queue.Campaign
		code, err := call("POST", "/campaigns", "application/json", b, &saved)
		if err != nil || code >= 300 {
			return fmt.Errorf("create campaign %s: HTTP %d %v", c.ID, code, err)
		}
		p("   %-16s %-28s mode=%-11s profile=%s retry max=%d\n", saved.ID, saved.Name, saved.Mode, saved.Profile, saved.Retry.MaxAttempts)
	}

	// 2. A generated portfolio, uploaded as the CSV a creditor would send.
	debtors := portfolio.Generate(portfolio.Options{N: *n, Countries: []string{"MX", "CO", "CL"}, Seed: *seed, Now: now})
	var pre, over []queue.Account
	for _, a := range debtors {
		if a.DaysPastDue > 0 {
			over = append(over, a)
		} else {
			pre = append(pre, a)
		}
	}
	p("\n2. Portfolio: %d debtors generated (seed %d), uploaded as CSV with national-format phones\n", len(debtors), *seed)
	for _, part := range []struct {
		id    string
		accts []queue.Account
		bad   bool
	}{{"demo-preventive", pre, false}, {"demo-overdue", over, true}} {
		csvBody := portfolioCSV(part.accts, part.bad)
		var res httpapi.UploadResult
		code, err := call("POST", "/campaigns/"+part.id+"/contacts", "text/csv", csvBody, &res)
		if err != nil || code >= 300 && code != http.StatusUnprocessableEntity {
			return fmt.Errorf("upload to %s: HTTP %d %v", part.id, code, err)
		}
		p("   %-16s rows=%d inserted=%d updated=%d rejected=%d\n", part.id, res.Received, res.Loaded.Inserted, res.Loaded.Updated, res.Rejected)
		for _, e := range res.Errors {
			p("      row %d (%s) %s: %s\n", e.Row, e.AccountID, e.Field, e.Reason)
		}
	}
	again := portfolioCSV(pre, false)
	var res2 httpapi.UploadResult
	if code, err := call("POST", "/campaigns/demo-preventive/contacts", "text/csv", again, &res2); err != nil || code != 200 {
		return fmt.Errorf("re-upload: HTTP %d %v", code, err)
	}
	p("   the same preventive file again: inserted=%d updated=%d (uploads are idempotent by account id)\n", res2.Loaded.Inserted, res2.Loaded.Updated)

	// 3. What the portfolio holds.
	p("\n3. Portfolio by country\n")
	printPortfolio(stdout, debtors)

	// 4. Queue state, as GET /campaigns/{id} reports it.
	p("\n4. Queue state (GET %s/campaigns/{id})\n", base)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   campaign\taccounts\tdue\tdue now\tleased\tdone\n")
	for _, c := range demoCampaigns {
		var v httpapi.CampaignView
		if code, err := call("GET", "/campaigns/"+c.ID, "", nil, &v); err != nil || code != 200 {
			return fmt.Errorf("get campaign %s: HTTP %d %v", c.ID, code, err)
		}
		q := v.Queue
		fmt.Fprintf(tw, "   %s\t%d\t%d\t%d\t%d\t%d\n", c.ID, q.Accounts, q.Due, q.DueNow, q.Leased, q.Done)
	}
	tw.Flush()

	// 5. An agentless campaign, run by the same runner `serve` uses.
	ivrc := demoCampaigns[1]
	p("\n5. An IVR reminder campaign calls over SIP/RTP, through the compliance gate\n")
	p("   compliance clock: %s (simulated business hours; profile auto = each debtor's country: MX, CO, CL)\n", gateNow().In(mustZone("America/Mexico_City")).Format("Mon 2006-01-02 15:04 MST"))
	if err := demoListOptOuts(ctx, gate, store, ivrc, 2); err != nil {
		return err
	}
	callsStart := time.Now()
	if err := demoCampaignRun(ctx, stdout, cfg, store, gate, conn, log, ivrc, *calls); err != nil {
		return err
	}
	p("\n   attempts, read back from ClickHouse:\n")
	if err := printAttempts(ctx, stdout, conn, cfg.ClickHouse.Database, ivrc.ID, callsStart.Add(-time.Second)); err != nil {
		return err
	}
	var v httpapi.CampaignView
	if code, err := call("GET", "/campaigns/"+ivrc.ID, "", nil, &v); err != nil || code != 200 {
		return fmt.Errorf("get campaign: HTTP %d %v", code, err)
	}
	p("   GET /campaigns/%s: status %s, %d in flight, %d done, %d due later, dispositions %v\n", ivrc.ID, v.Status, v.InFlight,
		v.Queue.Done, v.Queue.Due-v.Queue.DueNow, v.Dispositions)

	// 6. Why the next contact would be refused, as an operator asks it.
	p("\n6. Compliance: calling the same debtors again right now? (GET %s/compliance/explain)\n", base)
	picks, err := demoExplainPicks(ctx, conn, cfg.ClickHouse.Database, ivrc.ID, callsStart.Add(-time.Second))
	if err != nil {
		return err
	}
	for _, a := range picks {
		at := gateNow().Add(time.Minute).Format(time.RFC3339)
		var e compliance.Explanation
		q := "/compliance/explain?profile=auto&channel=voice&phone=" + url.QueryEscape(a.Phone) + "&account=" + url.QueryEscape(a.AccountID) +
			"&campaign=" + ivrc.ID + "&at=" + url.QueryEscape(at)
		if code, err := call("GET", q, "", nil, &e); err != nil || code != 200 {
			return fmt.Errorf("explain %s: HTTP %d %v", a.Phone, code, err)
		}
		if e.Allowed {
			p("   %s %s after %s, profile %s: allowed\n", a.AccountID, a.Phone, a.Disposition, e.Profile)
			continue
		}
		next := "until " + e.NextAllowed
		if e.NextAllowed == "" {
			next = "with no next time"
		}
		p("   %s %s after %s, profile %s: BLOCKED %s\n      %s — %s\n", a.AccountID, a.Phone, a.Disposition, e.Profile, next, e.Rule, e.Reason)
	}

	// 7. ClickHouse, read back.
	p("\n7. ClickHouse (%s)\n", cfg.ClickHouse.Database)
	if err := printClickHouse(ctx, stdout, conn, cfg.ClickHouse.Database); err != nil {
		return err
	}
	p("\n   this run, read back from contact_attempts and promises:\n")
	if err := printDispositions(ctx, stdout, conn, cfg.ClickHouse.Database, callsStart.Add(-time.Second), ivrc.ID); err != nil {
		return err
	}
	if err := printPromises(ctx, stdout, conn, cfg.ClickHouse.Database, ivrc.ID, callsStart.Add(-time.Second)); err != nil {
		return err
	}
	return printTextSummary(ctx, stdout, conn, cfg.ClickHouse.Database, ivrc.ID, callsStart.Add(-time.Second))
}

// demoListOptOuts starts the campaign's debtors' compliance history and
// listings afresh (so every run tells the same story), queues them in turn
// by country (so the first calls reach MX, CO and CL alike) and lists k
// debtors who asked not to be called, as the DNC API would.
func demoListOptOuts(ctx context.Context, gate *compliance.Gate, store *queue.Store, c queue.Campaign, k int) error {
	leases, err := store.Claim(ctx, c.ID, 1000, time.Now())
	if err != nil {
		return err
	}
	by := map[string][]queue.Lease{}
	var countries []string
	for _, l := range leases {
		if by[l.Account.Country] == nil {
			countries = append(countries, l.Account.Country)
		}
		by[l.Account.Country] = append(by[l.Account.Country], l)
	}
	sort.Strings(countries)
	var order []queue.Lease
	for i := 0; len(order) < len(leases); i++ {
		for _, cc := range countries {
			if i < len(by[cc]) {
				order = append(order, by[cc][i])
			}
		}
	}
	base := time.Now().Add(-time.Minute)
	for i, l := range order {
		a := l.Account
		if err := gate.Forget(ctx, compliance.Subject{Phone: a.Phones[0].Number, Account: a.ID, NationalID: a.NationalID, Country: a.Country}); err != nil {
			return err
		}
		if err := store.ForgetTemplates(ctx, sms.Debtor(c.ID, a)); err != nil {
			return err
		}
		for _, ph := range a.Phones {
			for _, scope := range []string{"", c.ID} {
				if err := gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: ph.Number, Channel: "all", Campaign: scope}); err != nil {
					return err
				}
			}
		}
		if (i == 3 || i == 11) && k > 0 {
			k--
			for _, ph := range a.Phones {
				if err := gate.AddDNC(ctx, compliance.DNCEntry{Phone: ph.Number, Channel: "voice", Campaign: c.ID,
					Reason: "asked not to be called", Source: "demo"}); err != nil {
					return err
				}
			}
		}
		if err := store.Reschedule(ctx, l, base.Add(time.Duration(i)*time.Millisecond), "demo: ready"); err != nil {
			return err
		}
	}
	return nil
}

type demoPick struct{ AccountID, Phone, Disposition string }

// demoExplainPicks chooses from this run's attempts: a debtor who made a
// promise in each country, one on the do-not-contact list, one whose number
// was invalid.
func demoExplainPicks(ctx context.Context, conn driver.Conn, db, campaign string, since time.Time) ([]demoPick, error) {
	rows, err := conn.Query(ctx, "SELECT account_id, phone, disposition, country, promise_amount > 0 FROM "+db+
		".contact_attempts FINAL WHERE campaign_id = ? AND started_at BETWEEN ? AND now() + 1 ORDER BY started_at", campaign, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byKey := map[string]demoPick{}
	for rows.Next() {
		var p demoPick
		var country string
		var promised uint8
		if err := rows.Scan(&p.AccountID, &p.Phone, &p.Disposition, &country, &promised); err != nil {
			return nil, err
		}
		key := p.Disposition
		if promised == 1 {
			key = "promised " + country
			p.Disposition = "a promise"
		}
		if _, ok := byKey[key]; !ok {
			byKey[key] = p
		}
	}
	var out []demoPick
	for _, k := range []string{"promised MX", "promised CO", "promised CL", analytics.Blocked, analytics.InvalidNumber} {
		if p, ok := byKey[k]; ok {
			out = append(out, p)
		}
	}
	return out, rows.Err()
}

// demoClock is the next Tuesday to Friday at 10:30 in Mexico City (today
// if it is one and it is not yet 10:30), running on from there.
func demoClock(real time.Time) func() time.Time {
	mx := mustZone("America/Mexico_City")
	l := real.In(mx)
	base := time.Date(l.Year(), l.Month(), l.Day(), 10, 30, 0, 0, mx)
	for base.Before(real) || base.Weekday() < time.Tuesday || base.Weekday() > time.Friday {
		base = base.AddDate(0, 0, 1)
	}
	return func() time.Time { return base.Add(time.Since(real)) }
}

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // the Go time zone database ships with the binary (time/tzdata)
	}
	return l
}

// portfolioCSV renders accounts the way a creditor's export looks: national
// phone formats, DD/MM/YYYY dates; bad adds rows an operator must fix.
func portfolioCSV(accts []queue.Account, bad bool) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"account_id", "name", "national_id", "phone1", "phone2", "balance", "currency", "due_date", "country", "segment", "product",
		"fecha_nacimiento"})
	for _, a := range accts {
		phones := []string{"", ""}
		for i, ph := range a.Phones {
			if i < 2 {
				phones[i] = national(ph.Number)
			}
		}
		due := a.DueDate
		if t, err := time.Parse(queue.DateLayout, due); err == nil {
			due = t.Format("02/01/2006")
		}
		born := a.BirthDate
		if t, err := time.Parse(queue.DateLayout, born); err == nil {
			born = t.Format("02/01/2006")
		}
		w.Write([]string{a.ID, a.Name, a.NationalID, phones[0], phones[1], a.Balance.StringFixed(2), a.Currency, due, a.Country, a.Segment, a.Fields["product"],
			born})
	}
	if bad {
		w.Write([]string{"BAD-1", "Teléfono Incompleto", "", "55 12", "", "1200.00", "MXN", "01/12/2026", "MX", "early", "", ""})
		w.Write([]string{"", "Sin Identificador", "", "300 555 0101", "", "500000", "COP", "01/12/2026", "CO", "early", "", ""})
		w.Write([]string{"BAD-3", "Fecha Imposible", "", "9 8765 4321", "", "90000", "CLP", "31/02/2026", "CL", "mid", "", ""})
	}
	w.Flush()
	return b.Bytes()
}

func national(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(num, phonenumbers.NATIONAL)
}

func printPortfolio(w io.Writer, debtors []queue.Account) {
	type agg struct {
		n        int
		currency string
		total    decimal.Decimal
		segments map[string]int
	}
	by := map[string]*agg{}
	for _, a := range debtors {
		g := by[a.Country]
		if g == nil {
			g = &agg{currency: a.Currency, segments: map[string]int{}}
			by[a.Country] = g
		}
		g.n++
		g.total = g.total.Add(a.Balance)
		g.segments[a.Segment]++
	}
	countries := make([]string, 0, len(by))
	for c := range by {
		countries = append(countries, c)
	}
	sort.Strings(countries)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   country\tdebtors\tbalance\tsegments\n")
	for _, c := range countries {
		g := by[c]
		var segs []string
		for _, s := range []string{"preventive", "early", "mid", "late"} {
			if g.segments[s] > 0 {
				segs = append(segs, fmt.Sprintf("%s %d", s, g.segments[s]))
			}
		}
		fmt.Fprintf(tw, "   %s\t%d\t%s %s\t%s\n", c, g.n, money(g.total), g.currency, strings.Join(segs, ", "))
	}
	tw.Flush()
}

func printClickHouse(ctx context.Context, w io.Writer, conn driver.Conn, db string) error {
	rows, err := conn.Query(ctx, "SELECT version, name FROM "+db+".schema_migrations FINAL ORDER BY version")
	if err != nil {
		return err
	}
	var applied []string
	for rows.Next() {
		var v uint32
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			rows.Close()
			return err
		}
		applied = append(applied, fmt.Sprintf("%03d %s", v, name))
	}
	rows.Close()
	fmt.Fprintf(w, "   schema migrations applied: %s\n", strings.Join(applied, ", "))
	for _, t := range analytics.Tables() {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+"."+t.Name+" FINAL").Scan(&n); err != nil {
			return err
		}
		fmt.Fprintf(w, "   %-17s %d rows\n", t.Name, n)
	}
	return nil
}

// money writes an amount with thousands grouped: 1,514,583,000.00.
func money(d decimal.Decimal) string {
	s := d.StringFixed(2)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}
