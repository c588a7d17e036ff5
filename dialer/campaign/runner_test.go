package campaign

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/spool"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// The debtors of the end-to-end test, by the last digit of their number
// (the simulator's table) and the keys they press.
var debtors = []struct {
	number, keys, disposition string
}{
	{"+525512340010", "1/1/2", "answered"},            // promise: full balance in a week
	{"+525512340021", "1/2/3000#/3/0412", "answered"}, // promise: 3000 on 4 December
	{"+525512340030", "9", "answered"},                // opt out
	{"+525512340041", "", "answered"},                 // an answering machine
	{"+525512340056", "", "busy"},
	{"+525512340068", "", "invalid_number"},
	{"+525512340072", "3", "answered"}, // wants an agent: there are none
}

// harness is the real services a campaign test runs against.
type harness struct {
	rdb   redis.UniversalClient
	conn  driver.Conn
	db    string
	w     *writer.Writer
	gate  *compliance.Gate
	store *queue.Store
}

// A Tuesday morning in Mexico City, so the MX window is open.
func gateNow() time.Time { return time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CST", -6*3600)) }

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{rdb: redistest.Client(t), conn: chtest.Conn(t)}
	h.db = chtest.Database(t, h.conn)
	w, err := writer.New(writer.Options{Conn: h.conn, Database: h.db, Spool: spool.Options{Dir: filepath.Join(t.TempDir(), "spool")},
		FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopW := context.WithCancel(context.Background())
	go w.Run(wctx)
	t.Cleanup(func() { stopW(); w.Close() })
	h.w = w
	cal, _ := compliance.LoadCalendars("", nil)
	h.gate, err = compliance.NewGate(compliance.GateOptions{Client: h.rdb, Calendars: cal, Profiles: compliance.Builtin(), Now: gateNow})
	if err != nil {
		t.Fatal(err)
	}
	h.store = queue.New(queue.Options{Client: h.rdb, NodeID: "e2e"})
	return h
}

// fresh clears what earlier runs left for these debtors in the gate.
func (h *harness) fresh(ctx context.Context, accts []queue.Account) {
	for _, a := range accts {
		for _, p := range a.Phones {
			h.gate.Forget(ctx, compliance.Subject{Phone: p.Number, Account: a.ID, NationalID: a.NationalID, Country: a.Country})
			h.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: p.Number, Channel: "all"})
		}
	}
}

func TestIVRCampaignEndToEnd(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	rdb, conn, db, w, gate := h.rdb, h.conn, h.db, h.w, h.gate
	id := redistest.CampaignID(t, rdb)
	keys := map[string]string{}
	for _, d := range debtors {
		keys[d.number] = d.keys
	}
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, RTPPorts: media.PortRange{Min: 47000, Max: 47999},
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 15 * time.Second, Max: 15 * time.Second},
		DigitsAfter: 1200 * time.Millisecond, DigitsFor: func(n string) string { return keys[n] }})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 48000, Max: 48999}})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	trunk, _ := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + sim.Addr(), CPS: 50, MaxChannels: 20})
	store := h.store
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City", Profile: "MX", Trunk: "sim",
		Script: "reminder-overdue", MaxConcurrent: 10, Language: "es", PayURL: "https://pay.example/{token}",
		Retry:   queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{"busy": queue.Duration(30 * time.Minute)}},
		Promise: queue.PromisePolicy{MaxDays: 15, MinPercent: 10}}
	if _, err := store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := fmt.Sprint(time.Now().UnixNano())
	var accts []queue.Account
	for i, d := range debtors {
		accts = append(accts, queue.Account{ID: fmt.Sprintf("A%d", i), NationalID: run + fmt.Sprint(i), Country: "MX",
			Phones: []queue.Phone{{Number: d.number}}, Balance: decimal.NewFromInt(10000), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23})
	}
	h.fresh(ctx, accts)
	// A8 was being dialled by a node that died: it must not be dialled again now.
	accts = append(accts, queue.Account{ID: "A8", Country: "MX", Phones: []queue.Phone{{Number: "+525512340080"}},
		Balance: decimal.NewFromInt(500), Currency: "MXN"})
	if _, err := store.Load(ctx, id, accts, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := store.InFlight(ctx, id, "A8", "att-dead-node", time.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	scripts, _ := script.Shipped()
	r := New(Options{Store: store, Gate: gate, Endpoint: ep, Trunks: map[string]*dialer.Trunk{"sim": trunk}, Writer: w,
		Scripts: scripts, Library: prompts.NewLibrary(""), Node: "e2e", Signer: paylink.Signer{Key: []byte("0123456789abcdef0123")}})
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, _ := store.Counts(ctx, id, time.Now())
		inflight, _ := store.InFlightCount(ctx, id)
		if n.DueNow == 0 && n.Leased == 0 && inflight == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign did not finish: %+v, %d in flight", n, inflight)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := r.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sim.Stats(); st.Offered != int64(len(debtors)) {
		t.Errorf("the simulator saw %d calls, want %d (A8 must not be redialled)", st.Offered, len(debtors))
	}
	type row struct{ disp, path, dtmf string }
	got := map[string]row{}
	rows, err := conn.Query(ctx, "SELECT account_id, disposition, ivr_path, dtmf FROM "+db+".contact_attempts FINAL WHERE campaign_id = ?", id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		var x row
		rows.Scan(&a, &x.disp, &x.path, &x.dtmf)
		got[a] = x
	}
	rows.Close()
	for i, d := range debtors {
		g := got[fmt.Sprintf("A%d", i)]
		if g.disp != d.disposition {
			t.Errorf("A%d (%s): disposition %q, want %q (path %s)", i, d.number, g.disp, d.disposition, g.path)
		}
	}
	if !strings.HasSuffix(got["A0"].path, "promise-ok>goodbye>end") || !strings.Contains(got["A2"].path, "optout") ||
		!strings.Contains(got["A6"].path, "transfer>no-agent") || got["A8"].disp != "interrupted" {
		t.Errorf("paths: %+v", got)
	}
	var amounts []string
	prow, err := conn.Query(ctx, "SELECT toString(amount), toString(due_date) FROM "+db+".promises FINAL WHERE campaign_id = ? ORDER BY amount", id)
	if err != nil {
		t.Fatal(err)
	}
	for prow.Next() {
		var a, d string
		prow.Scan(&a, &d)
		amounts = append(amounts, a+"@"+d)
	}
	prow.Close()
	week := time.Now().In(time.FixedZone("CST", -6*3600)).AddDate(0, 0, 7).Format(time.DateOnly)
	if strings.Join(amounts, " ") != "3000.00@2026-12-04 10000.00@"+week {
		t.Errorf("promises %v", amounts)
	}
	// The opt-out and the invalid number are on the do-not-contact list;
	// the busy one is due again in 30 minutes; the rest are done.
	if _, listed, _ := gate.LookupDNC(ctx, debtors[2].number, compliance.Voice, id); !listed {
		t.Error("opt-out not listed")
	}
	if e, listed, _ := gate.LookupDNC(ctx, debtors[5].number, compliance.SMS, ""); !listed || e.Reason != "invalid_number" {
		t.Error("invalid number not suppressed on every channel")
	}
	n, _ := store.Counts(ctx, id, time.Now().Add(31*time.Minute))
	if n.DueNow != 1 || n.Due != 2 || n.Done != 6 { // busy in 30 minutes, the interrupted A8 in an hour
		t.Errorf("queue afterwards: %+v", n)
	}
	d, _ := store.Dispositions(ctx, id)
	if d["answered"] != 5 || d["busy"] != 1 || d["invalid_number"] != 1 || d["interrupted"] != 1 {
		t.Errorf("dispositions %v", d)
	}
	if st, _ := store.Status(ctx, id); st != queue.StatusPaused {
		t.Errorf("status %s", st)
	}
	_ = analytics.Voice
}
