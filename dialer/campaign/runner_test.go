package campaign

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/analytics/writer/writertest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// debtor is one simulated debtor of the end-to-end test: the simulator
// picks the outcome by the number's last digit (0-3 human, 4-5 machine, 6
// busy, 8 invalid) and, at an outbound reminder, proves who they are (1,
// then the last four digits of their id) before pressing keys ("/" waits
// 1.2 s more).
type debtor struct {
	id, number, keys, disposition, path string // path: a suffix of the IVR path
}

// Every shipped outbound script, through every branch, over real SIP/RTP.
var e2eCampaigns = []struct {
	script  string
	debtors []debtor
}{
	{"reminder-overdue", []debtor{
		{"O0", "+525512340010", "1/1/2", "answered", "full-balance>when>in-a-week>record>promise-ok>goodbye>end"},
		{"O1", "+525512340021", "1/2/3000#/3/0412", "answered", "ask-amount>when>ask-date>record>promise-ok>goodbye>end"},
		{"O2", "+525512340030", "9", "answered", "menu>optout>optout-done>goodbye>end"},
		{"O3", "+525512340041", "", "answered", "intro>menu"}, // says nothing and hangs up during the retries
		{"O4", "+525512340056", "", "busy", ""},
		{"O5", "+525512340068", "", "invalid_number", ""},
		{"O6", "+525512340072", "3", "answered", "agent>transfer>no-agent>goodbye>end"}, // no agents in an ivr campaign
		// 500 is under the policy's 10 %: rejected, then the full balance today.
		{"O7", "+525512340102", "1/2/500#/2/1/1", "answered", "record>promise-rejected>promise-how>full-balance>when>today>record>promise-ok>goodbye>end"},
		{"O8", "+525512340113", "7//8", "answered", "intro>menu>goodbye>end"}, // two invalid keys, then silence
		{"O9", "+525512340120", "2", "answered", "menu>paylink>link-sent>goodbye>end"},
	}},
	{"reminder-preventive", []debtor{
		{"P0", "+525512340200", "2", "answered", "intro>menu>paylink>link-sent>goodbye>end"},
		{"P1", "+525512340211", "9", "answered", "intro>menu>optout>optout-done>goodbye>end"},
		{"P2", "+525512340222", "3", "answered", "menu>agent>transfer>no-agent>goodbye>end"},
	}},
	{"voicemail-limited", []debtor{
		{"V0", "+525512340304", "", "answered", "message>end"}, // an answering machine
	}},
	{"abandon-message", []debtor{
		{"B0", "+525512340400", "", "answered", "message>end"},
	}},
}

// harness is the real services a campaign test runs against.
type harness struct {
	rdb   redis.UniversalClient
	conn  driver.Conn
	db    string
	w     *writer.Writer
	gate  *compliance.Gate
	store *queue.Store
	// proofs: what the debtor at each loaded number keys to prove who they
	// are at an outbound right-party check (simcarrier Options.Proof).
	proofs sync.Map
}

// proof is what the debtor at number keys at the right-party check: the
// last four digits of the national id of the account loaded with it.
func (h *harness) proof(number string) string {
	v, _ := h.proofs.Load(number)
	s, _ := v.(string)
	return s
}

// A Tuesday morning in Mexico City, so the MX window is open.
func gateNow() time.Time { return time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CST", -6*3600)) }

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{rdb: redistest.Client(t), conn: chtest.Conn(t)}
	h.db = chtest.Database(t, h.conn)
	h.w = writertest.Start(t, h.conn, h.db)
	cal, _ := compliance.LoadCalendars("", nil)
	var err error
	h.gate, err = compliance.NewGate(compliance.GateOptions{Client: h.rdb, Calendars: cal, Profiles: compliance.Builtin(), Now: gateNow})
	if err != nil {
		t.Fatal(err)
	}
	h.store = queue.New(queue.Options{Client: h.rdb, NodeID: "e2e"})
	return h
}

// heardBeforeKeys checks that every person the simulator put through (want
// of them) heard the IVR speak before their first key, or before they hung
// up when they had none to press: a Marcador that sent silence fails here.
func heardBeforeKeys(t *testing.T, sim *simcarrier.Carrier, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := sim.CheckHeard(ctx, time.Second)
	if err != nil {
		t.Errorf("debtors were not spoken to: %v", err)
	}
	if n != want {
		t.Errorf("the simulator put %d people through, want %d", n, want)
	}
}

// fresh clears what earlier runs left for these debtors in the gate.
func (h *harness) fresh(ctx context.Context, accts []queue.Account) {
	for _, a := range accts {
		answer, _ := ivr.Answer(ivr.DefaultVerifyMethod, a)
		for _, p := range a.Phones {
			h.proofs.Store(p.Number, answer)
			h.gate.Forget(ctx, compliance.Subject{Phone: p.Number, Account: a.ID, NationalID: a.NationalID, Country: a.Country})
			h.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: p.Number, Channel: "all"})
		}
	}
}

// conversations counts the conversations in the caps' history of the
// debtor of acct (by national id), as the gate recorded them.
func (h *harness) conversations(t *testing.T, acct queue.Account) int {
	t.Helper()
	ms, err := h.rdb.ZRange(context.Background(), "marcador:{debtor:nid:"+acct.Country+":"+acct.NationalID+"}:history", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if strings.Split(m, "|")[2] == compliance.KindConversation {
			n++
		}
	}
	return n
}

// load clears the debtors' history in the gate (fresh) and loads them into
// campaign id, due a minute ago.
func (h *harness) load(t *testing.T, ctx context.Context, id string, accts []queue.Account) {
	t.Helper()
	h.fresh(ctx, accts)
	if _, err := h.store.Load(ctx, id, accts, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// putIVRCampaign defines an IVR campaign on the trunk "sim": MX, in
// Spanish, the overdue reminder; mod adjusts it. It returns the id.
func (h *harness) putIVRCampaign(t *testing.T, ctx context.Context, mod func(*queue.Campaign)) string {
	t.Helper()
	c := queue.Campaign{ID: redistest.CampaignID(t, h.rdb), Mode: queue.ModeIVR, Country: "MX", Profile: "MX", TimeZone: "America/Mexico_City",
		Trunk: "sim", Script: "reminder-overdue", Language: "es"}
	if mod != nil {
		mod(&c)
	}
	if _, err := h.store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// simLine is a carrier simulator and an endpoint that dials it through the
// trunk "sim"; both are closed when the test ends.
type simLine struct {
	sim   *simcarrier.Carrier
	ep    *dialer.Endpoint
	trunk *dialer.Trunk
}

// newSimLine starts the simulator o on loopback with RTP ports rtp (the
// endpoint's are as many, right above them) and a trunk to it of cps calls
// a second and channels at once.
func newSimLine(t *testing.T, o simcarrier.Options, rtp media.PortRange, cps float64, channels int) *simLine {
	t.Helper()
	o.Listen, o.RTPPorts = "127.0.0.1:0", rtp
	sim, err := simcarrier.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0",
		RTPPorts: media.PortRange{Min: rtp.Max + 1, Max: 2*rtp.Max + 1 - rtp.Min}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + sim.Addr(), CallerID: "+525550000100", CPS: cps, MaxChannels: channels})
	if err != nil {
		t.Fatal(err)
	}
	return &simLine{sim: sim, ep: ep, trunk: trunk}
}

// runnerOptions are a runner's on the line: the harness's store, gate and
// writer, the shipped scripts and prompts.
func (h *harness) runnerOptions(l *simLine, node string) Options {
	scripts, _ := script.Shipped()
	return Options{Store: h.store, Gate: h.gate, Endpoint: l.ep, Trunks: map[string]*dialer.Trunk{"sim": l.trunk}, Writer: h.w,
		Scripts: scripts, Library: prompts.NewLibrary(""), Node: node}
}

// settleOne waits until campaign id has recorded an attempt, then pauses it
// and waits for its calls to end.
func (h *harness) settleOne(t *testing.T, ctx context.Context, r *Runner, id string) {
	t.Helper()
	poll(t, "the call to be settled", func() bool {
		d, _ := h.store.Dispositions(ctx, id)
		return len(d) > 0
	})
	if err := r.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.Wait()
}

func TestIVRCampaignEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	keys := map[string]string{}
	for _, c := range e2eCampaigns {
		for _, d := range c.debtors {
			keys[d.number] = d.keys
		}
	}
	line := newSimLine(t, simcarrier.Options{ByLastDigit: true,
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 40 * time.Second, Max: 40 * time.Second},
		DigitsAfter: 1200 * time.Millisecond, DigitsFor: func(n string) string { return keys[n] }, Proof: h.proof, Record: true},
		media.PortRange{Min: 47000, Max: 47999}, 50, 30)
	sim := line.sim
	store := h.store
	run := fmt.Sprint(time.Now().UnixNano())
	var ids []string
	total := 0
	for _, ec := range e2eCampaigns {
		id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) {
			c.Script, c.MaxConcurrent, c.PayURL, c.CallbackNumber = ec.script, 10, "https://pay.example/{token}", "8005550100"
			c.Retry = queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{"busy": queue.Duration(30 * time.Minute)}}
			c.Promise = queue.PromisePolicy{MaxDays: 15, MinPercent: 10}
		})
		ids = append(ids, id)
		var accts []queue.Account
		for _, d := range ec.debtors {
			accts = append(accts, queue.Account{ID: d.id, NationalID: run + d.id + "-" + d.number[len(d.number)-4:], Country: "MX", Phones: []queue.Phone{{Number: d.number}},
				Balance: decimal.NewFromInt(10000), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23})
		}
		h.fresh(ctx, accts)
		total += len(accts)
		if ec.script == "reminder-overdue" {
			// A-dead was being dialled by a node that died: it must not be dialled again now.
			accts = append(accts, queue.Account{ID: "A-dead", Country: "MX", Phones: []queue.Phone{{Number: "+525512340080"}},
				Balance: decimal.NewFromInt(500), Currency: "MXN"})
		}
		if _, err := store.Load(ctx, id, accts, time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	overdue := ids[0]
	if err := store.InFlight(ctx, overdue, "A-dead", "att-dead-node", time.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	signer := paylink.Signer{Key: []byte("0123456789abcdef0123")}
	var smsMu sync.Mutex
	sms := map[string]string{} // account: template link
	opt := h.runnerOptions(line, "e2e")
	opt.Signer = signer
	opt.SendSMS = func(_ context.Context, m SMSRequest) error {
		smsMu.Lock()
		defer smsMu.Unlock()
		sms[m.Account] = m.Template + " " + m.Link
		return nil
	}
	r := New(opt)
	defer r.Close()
	for _, id := range ids {
		if err := r.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(120 * time.Second)
	for _, id := range ids {
		var n queue.Counts
		var inflight int64
		if !polltest.Until(time.Until(deadline), func() bool {
			n, _ = store.Counts(ctx, id, time.Now())
			inflight, _ = store.InFlightCount(ctx, id)
			return n.DueNow == 0 && n.Leased == 0 && inflight == 0
		}) {
			t.Fatalf("campaign %s did not finish: %+v, %d in flight", id, n, inflight)
		}
		if err := r.Pause(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	r.Wait()
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sim.Stats(); st.Offered != int64(total) {
		t.Errorf("the simulator saw %d calls, want %d (A-dead must not be redialled)", st.Offered, total)
	}
	humans := 0
	for _, c := range e2eCampaigns {
		for _, d := range c.debtors {
			if sim.OutcomeFor(d.number) == simcarrier.Human {
				humans++
			}
		}
	}
	heardBeforeKeys(t, sim, humans)
	type row struct{ disp, path, dtmf string }
	got := map[string]row{}
	rows, err := h.conn.Query(ctx, "SELECT account_id, disposition, ivr_path, dtmf FROM "+h.db+".contact_attempts FINAL WHERE campaign_id IN ('"+strings.Join(ids, "','")+"')")
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
	for _, ec := range e2eCampaigns {
		for _, d := range ec.debtors {
			g := got[d.id]
			if g.disp != d.disposition || !strings.HasSuffix(g.path, d.path) {
				t.Errorf("%s %s (%s, keys %q): %s %q, want %s ending %q", ec.script, d.id, d.number, d.keys, g.disp, g.path, d.disposition, d.path)
			}
		}
	}
	if g := got["O8"]; g.dtmf != "1****78" || got["A-dead"].disp != "interrupted" { // 1 it is me, the id's last four masked
		t.Errorf("O8 %+v, A-dead %+v", g, got["A-dead"])
	}
	var amounts []string
	prow, err := h.conn.Query(ctx, "SELECT account_id, toString(amount), toString(due_date) FROM "+h.db+".promises FINAL WHERE campaign_id = ? ORDER BY account_id", overdue)
	if err != nil {
		t.Fatal(err)
	}
	for prow.Next() {
		var acc, a, d string
		prow.Scan(&acc, &a, &d)
		amounts = append(amounts, acc+" "+a+"@"+d)
	}
	prow.Close()
	mx := time.FixedZone("CST", -6*3600)
	week := time.Now().In(mx).AddDate(0, 0, 7).Format(time.DateOnly)
	if want := "O0 10000.00@" + week + ", O1 3000.00@2026-12-04, O7 10000.00@" + time.Now().In(mx).Format(time.DateOnly); strings.Join(amounts, ", ") != want {
		t.Errorf("promises %v, want %s", amounts, want)
	}
	// The payment link went by SMS with a token that verifies.
	for _, acc := range []string{"O9", "P0"} {
		tpl, link, _ := strings.Cut(sms[acc], " ")
		tok := strings.TrimPrefix(link, "https://pay.example/")
		if cl, err := signer.Verify(tok); tpl != "payment-link" || err != nil || cl.Account != acc {
			t.Errorf("%s: sms %q: %v %+v", acc, sms[acc], err, cl)
		}
	}
	// The opt-outs and the invalid number are on the do-not-contact list;
	// the busy one is due again in 30 minutes; the rest are done.
	for _, n := range []string{"+525512340030", "+525512340211"} {
		if _, listed, _ := h.gate.LookupDNC(ctx, n, analytics.Voice, ""); !listed {
			t.Errorf("opt-out %s not listed", n)
		}
	}
	if e, listed, _ := h.gate.LookupDNC(ctx, "+525512340068", analytics.SMS, ""); !listed || e.Reason != "invalid_number" {
		t.Error("invalid number not suppressed on every channel")
	}
	n, _ := store.Counts(ctx, overdue, time.Now().Add(31*time.Minute))
	if n.DueNow != 1 || n.Due != 2 || n.Done != 9 { // busy in 30 minutes, the interrupted A-dead in an hour
		t.Errorf("queue afterwards: %+v", n)
	}
	d, _ := store.Dispositions(ctx, overdue)
	if d["answered"] != 8 || d["busy"] != 1 || d["invalid_number"] != 1 || d["interrupted"] != 1 {
		t.Errorf("dispositions %v", d)
	}
	if st, _ := store.Status(ctx, overdue); st != queue.StatusPaused {
		t.Errorf("status %s", st)
	}
}
