package campaign

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

const lineNumber = "8005550100"

// newLine starts the callback line: a runner answering INVITEs on its own
// endpoint on 127.0.0.1.
func newLine(t *testing.T, h *harness, o InboundOptions) (*Runner, *dialer.Endpoint) {
	t.Helper()
	scripts, err := script.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	var r *Runner
	ready := make(chan struct{})
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 44000, Max: 44999},
		OnInvite: func(in *dialer.Inbound) { <-ready; r.Inbound(in) },
		Inbound:  loopbackTrunk()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	o.Numbers = []string{lineNumber}
	r = New(Options{Store: h.store, Gate: h.gate, Endpoint: ep, Writer: h.w, Scripts: scripts, Library: prompts.NewLibrary(""),
		Node: "e2e", Inbound: o})
	t.Cleanup(r.Close)
	close(ready)
	return r, ep
}

// testPhone calls the line over SIP from its own loopback address (a SIP
// source of its own) and records what it hears.
type testPhone struct {
	ep  *dialer.Endpoint
	tr  *dialer.Trunk
	det *mediatest.Detector
}

func newPhone(t *testing.T, line *dialer.Endpoint, det *mediatest.Detector) *testPhone {
	t.Helper()
	ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(250), rand.IntN(256), 2+rand.IntN(250))
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: ip + ":0", RTPPorts: media.PortRange{Min: 45000, Max: 45999}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	tr, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "phone", URI: "sip:" + line.Addr(), CPS: 100, MaxChannels: 4})
	if err != nil {
		t.Fatal(err)
	}
	return &testPhone{ep: ep, tr: tr, det: det}
}

func (p *testPhone) source() string { host, _, _ := strings.Cut(p.ep.Addr(), ":"); return host }

type testCall struct {
	t    *testing.T
	leg  *dialer.Leg
	rec  *mediatest.Recorder
	det  *mediatest.Detector
	from int // where the last prompt heard ended
}

// dial calls the line with caller as the caller id.
func (p *testPhone) dial(t *testing.T, caller string) *testCall {
	t.Helper()
	rec := &mediatest.Recorder{}
	leg, err := p.ep.Dial(context.Background(), dialer.DialRequest{Trunk: p.tr, To: lineNumber, CallerID: caller, OnAudio: rec.OnAudio})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-leg.Ended():
		t.Fatalf("call from %s not answered: %+v", caller, leg.Result())
	default:
	}
	return &testCall{t: t, leg: leg, rec: rec, det: p.det}
}

// hear waits until the prompt has played to its end, after the last one heard.
func (c *testCall) hear(name string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	end, err := c.det.Wait(ctx, c.rec, name, c.from, c.leg.Ended())
	if err != nil {
		c.t.Fatal(err)
	}
	c.from = end
}

func (c *testCall) key(digits string) {
	c.t.Helper()
	if err := c.leg.Session().SendDigits(digits); err != nil {
		c.t.Fatal(err)
	}
}

// ended waits for the line to hang up.
func (c *testCall) ended() {
	c.t.Helper()
	select {
	case <-c.leg.Ended():
	case <-time.After(60 * time.Second):
		c.t.Fatalf("the line did not hang up; heard %v", c.heard())
	}
}

func (c *testCall) hangup() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.leg.Hangup(ctx)
}

func (c *testCall) heard() []string { return c.det.Heard(c.rec.Samples()) }

// esDetector knows every shipped Spanish prompt as sent with PCMU (the
// codec both sides prefer).
func esDetector(t *testing.T) *mediatest.Detector {
	t.Helper()
	lib := prompts.NewLibrary("")
	var ps []*media.Prompt
	for _, name := range prompts.Shipped("es") {
		p, err := lib.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return mediatest.NewDetector(media.PCMU, ps...)
}

// debtDisclosures are prompts that say something about an account.
var debtDisclosures = []string{"es/p/balance-is", "es/p/due-on", "es/p/overdue-menu", "es/p/promise-how", "es/w/pesos", "es/w/mil", "es/w/noviembre"}

type attemptRow struct{ campaign, account, disposition, path, dtmf, reason string }

func attemptsOf(t *testing.T, h *harness, phone string) []attemptRow {
	t.Helper()
	ctx := context.Background()
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := h.conn.Query(ctx, "SELECT campaign_id, account_id, disposition, ivr_path, dtmf, reason FROM "+h.db+
		".contact_attempts FINAL WHERE phone = ? ORDER BY started_at, disposition", phone)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []attemptRow
	for rows.Next() {
		var x attemptRow
		if err := rows.Scan(&x.campaign, &x.account, &x.disposition, &x.path, &x.dtmf, &x.reason); err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func byDisposition(rows []attemptRow, d string) []attemptRow {
	var out []attemptRow
	for _, r := range rows {
		if r.disposition == d {
			out = append(out, r)
		}
	}
	return out
}

// A stranger calling with a debtor's number as caller id hears the
// company's name, three questions and the help menu: not the balance, not
// the due date, not the debtor's menu (shown by the prompts that reached the
// phone, found sample for sample in what it received). Pressing 9 lists only
// the number calling, and the account stays in its queue. With the right
// answer, the same phone hears the balance.
func TestCallerIDAloneNeverHearsTheBalance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City", Profile: "MX", Trunk: "sim",
		Script: "reminder-overdue", Language: "es", Promise: queue.PromisePolicy{MaxDays: 15}}
	if _, err := h.store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano() % 1e8
	p1, p2 := fmt.Sprintf("+5255%08d", run), fmt.Sprintf("+5233%08d", run)
	acct := queue.Account{ID: "V-1", NationalID: fmt.Sprintf("7%08d", run), Country: "MX",
		Phones:  []queue.Phone{{Number: p1}, {Number: p2}},
		Balance: decimal.RequireFromString("1250.50"), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23}
	if _, err := h.store.Load(ctx, id, []queue.Account{acct}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.fresh(ctx, []queue.Account{acct})
	last4 := acct.NationalID[len(acct.NationalID)-4:]
	r, line := newLine(t, h, InboundOptions{Country: "MX", Campaign: id + "-inbound"})
	ph := newPhone(t, line, esDetector(t))

	call := ph.dial(t, p1)
	for range 3 {
		call.hear("es/p/verify-id-last4")
		call.key("0000")
		call.hear("es/p/inbound-identify")
		call.key("#")
		call.hear("es/p/verify-no-match")
	}
	call.hear("es/p/help-menu")
	call.key("9")
	call.ended()
	heard := call.heard()
	allowed := []string{"es/goodbye", "es/p/help-menu", "es/p/inbound-identify", "es/p/inbound-welcome", "es/p/optout",
		"es/p/verify-failed", "es/p/verify-id-last4", "es/p/verify-no-match"}
	// What the claim needs: nothing outside the public prompts. The
	// welcome plays at answer and a loaded machine's phone may start
	// listening after its first words (seen in CI), so it is not required.
	for _, p := range heard {
		if !slices.Contains(allowed, p) {
			t.Fatalf("the caller heard %s (all: %v); want only %v", p, heard, allowed)
		}
	}
	r.Wait()
	rows := attemptsOf(t, h, p1)
	calls, fails := byDisposition(rows, analytics.Inbound), byDisposition(rows, analytics.IdentityFailed)
	if len(calls) != 1 || calls[0].account != "" || calls[0].campaign != id+"-inbound" || calls[0].reason != "caller not verified" ||
		calls[0].path != "welcome>verify>not-verified>help>help-optout>optout-done>goodbye>end" ||
		strings.Count(calls[0].dtmf, "*") != 12 || strings.ContainsAny(calls[0].dtmf, "012345678") || !strings.HasSuffix(calls[0].dtmf, "9") {
		t.Fatalf("the call's row: %+v", calls)
	}
	if len(fails) != 3 {
		t.Fatalf("identity_failed rows: %+v", fails)
	}
	for _, f := range fails {
		if f.account != "V-1" || f.campaign != id || !strings.HasPrefix(f.reason, "national_id_last4 does not match the calling number's accounts; no account or id number keyed") ||
			strings.Contains(f.reason, last4) || strings.Contains(f.reason, "0000") {
			t.Errorf("identity_failed row %+v", f)
		}
	}
	// The opt-out covers the number calling, not the account's other phone,
	// and does not finish the account.
	if _, listed, _ := h.gate.LookupDNC(ctx, p1, analytics.Voice, id); !listed {
		t.Errorf("%s (calling) not listed", p1)
	}
	if _, listed, _ := h.gate.LookupDNC(ctx, p2, analytics.Voice, id); listed {
		t.Errorf("%s (the account's other phone) listed by an unverified caller", p2)
	}
	if cnt, _ := h.store.Counts(ctx, id, time.Now().Add(2*time.Hour)); cnt.Due != 1 || cnt.Done != 0 {
		t.Errorf("the account left its queue: %+v", cnt)
	}

	// The right answer: the balance and due date, then the debtor's menu.
	call = ph.dial(t, p1)
	call.hear("es/p/verify-id-last4")
	call.key(last4)
	call.hear("es/p/overdue-menu")
	call.hangup()
	heard = call.heard()
	for _, want := range []string{"es/p/balance-is", "es/w/mil", "es/w/doscientos", "es/w/cincuenta", "es/w/pesos", "es/p/due-on", "es/w/noviembre"} {
		if !slices.Contains(heard, want) {
			t.Errorf("the verified debtor did not hear %s: %v", want, heard)
		}
	}
	r.Wait()
	calls = byDisposition(attemptsOf(t, h, p1), analytics.Inbound)
	if len(calls) != 2 || calls[1].account != "V-1" || calls[1].campaign != id || !strings.HasPrefix(calls[1].path, "welcome>verify>balance>menu") ||
		calls[1].dtmf != "****" {
		t.Fatalf("the verified call's row: %+v", calls)
	}
}

// Failed identifications are limited per calling number and per source
// across calls: once either is used up, a new call is told the line cannot
// help and offered the help menu only, without a question.
func TestFailedIdentificationIsLimitedAcrossCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City", Profile: "MX", Trunk: "sim",
		Script: "reminder-overdue", Language: "es"}
	if _, err := h.store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano() % 1e8
	n1, n2, n3 := fmt.Sprintf("+5281%08d", run), fmt.Sprintf("+5222%08d", run), fmt.Sprintf("+5244%08d", run)
	acct := queue.Account{ID: "L-1", NationalID: fmt.Sprintf("6%08d", run), Country: "MX", Phones: []queue.Phone{{Number: n1}},
		Balance: decimal.NewFromInt(900), Currency: "MXN", DueDate: "2026-11-10"}
	if _, err := h.store.Load(ctx, id, []queue.Account{acct}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.fresh(ctx, []queue.Account{acct})
	r, line := newLine(t, h, InboundOptions{Country: "MX", Campaign: id + "-inbound",
		Lockout: queue.IdentityLimits{PerNumber: 2, PerSource: 2, Window: time.Hour}})
	det := esDetector(t)
	a, b := newPhone(t, line, det), newPhone(t, line, det)

	// n1 from source a: two wrong answers, then no third question; 4 asks
	// for a call back, which moves the account holding n1 forward.
	call := a.dial(t, n1)
	for range 2 {
		call.hear("es/p/verify-id-last4")
		call.key("0000")
		call.hear("es/p/inbound-identify")
		call.key("1111#")
		call.hear("es/p/verify-no-match")
	}
	call.hear("es/p/verify-locked")
	call.hear("es/p/help-menu")
	call.key("4")
	call.hear("es/p/callback")
	call.ended()
	if heard := call.heard(); strings.Count(strings.Join(heard, " "), "verify-id-last4") != 1 || slices.ContainsFunc(heard, func(p string) bool {
		return slices.Contains(debtDisclosures, p)
	}) {
		t.Fatalf("first call heard %v", heard)
	}
	if at, ok, _ := h.store.DueAt(ctx, id, acct.ID); !ok || at.After(time.Now()) {
		t.Errorf("call back: the account is due at %s (queued %v)", at, ok)
	}
	// A new call from another number on source a, and from n1 on source b:
	// no question at all.
	for _, tc := range []struct {
		ph     *testPhone
		caller string
		by     string
	}{{a, n2, "source"}, {b, n1, "number"}} {
		call := tc.ph.dial(t, tc.caller)
		call.hear("es/p/verify-locked")
		call.hangup()
		if heard := call.heard(); slices.Contains(heard, "es/p/verify-id-last4") || slices.Contains(heard, "es/p/inbound-identify") {
			t.Errorf("%s from %s was asked: %v", tc.caller, tc.ph.source(), heard)
		}
		r.Wait()
		rows := attemptsOf(t, h, tc.caller)
		last := byDisposition(rows, analytics.Inbound)
		if len(last) == 0 || last[len(last)-1].reason != "caller not verified: too many failed identifications from this "+tc.by ||
			!strings.HasPrefix(last[len(last)-1].path, "welcome>verify>cannot-verify") {
			t.Errorf("%s from %s: rows %+v", tc.caller, tc.ph.source(), rows)
		}
	}
	// Another number on source b is still asked.
	call = b.dial(t, n3)
	call.hear("es/p/verify-id-last4")
	call.hangup()
	r.Wait()
	// Each failure is a row; the refused calls add none.
	fails := byDisposition(attemptsOf(t, h, n1), analytics.IdentityFailed)
	if len(fails) != 2 {
		t.Fatalf("identity_failed rows of %s: %+v", n1, fails)
	}
	for _, f := range fails {
		if f.account != "L-1" || f.campaign != id ||
			!strings.HasPrefix(f.reason, "national_id_last4 does not match the calling number's accounts; the keyed number is on no account (call ") {
			t.Errorf("identity_failed row %+v", f)
		}
	}
	for _, n := range []string{n2, n3} {
		if fails := byDisposition(attemptsOf(t, h, n), analytics.IdentityFailed); len(fails) != 0 {
			t.Errorf("%s: identity_failed rows %+v", n, fails)
		}
	}
}
