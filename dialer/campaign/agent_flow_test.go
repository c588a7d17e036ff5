package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/contact"
)

// An answered call finds no ready agent (the only one paused while the
// call rang): the debtor hears the campaign's abandon script, which begins
// within 2 s of the answer; the row says abandoned, and the campaign's
// daily and 30-day counts have the live answer and the abandon. The
// campaign waits 1 s for an agent, so the legal 2 s holds with a second to
// spare for a loaded test machine, and the message must not come before
// the wait (less its lead) is over.
//
// Not parallel: it times the message against the legal 2 s on the wall
// clock, so it runs before this package's parallel tests start.
func TestNoAgentReadyPlaysTheAbandonScript(t *testing.T) {
	w := newAgentWorld(t, nil)
	c := w.campaign(func(c *queue.Campaign) { c.AbandonAfter = queue.Duration(time.Second) })
	ag := w.agent(c, agenttest.Options{})
	acct, dc := w.answeredAfterPause(c, ag)
	num := dc.number
	start := heardPrompt(t, w.ctx, dc, "p/abandon")
	if at := time.Duration(start) * time.Second / media.SampleRate; at > 2*time.Second || at < time.Second-abandonLead {
		t.Fatalf("the abandon message began %s after the answer, want after the 1s wait (less %s) and within 2s", at, abandonLead)
	}
	w.settled(c, 1)
	row := w.rows(c)[acct.ID]
	if row.disposition != "abandoned" || row.abandoned != 1 || row.agent != "" || row.ivrPath != "message>end" ||
		!strings.Contains(row.reason, "no agent within 1s") {
		t.Fatalf("attempt %+v", row)
	}
	rates, err := w.pool.Rates(w.ctx, c.ID, c.Zone())
	if err != nil || rates.Today.Live != 1 || rates.Today.Abandoned != 1 || rates.Rolling.Live != 1 || rates.Rolling.Abandoned != 1 {
		t.Fatalf("rates %+v %v", rates, err)
	}
	if st := w.status(ag.id); st.State != agent.Paused {
		t.Fatalf("agent %+v", st)
	}
	// The abandon is in the debtor's history: under the UK profile no call
	// for 72 hours unless an agent is guaranteed.
	uk, err := w.h.gate.Profile("UK", contact.Subject(c, acct, num))
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.h.gate.Check(w.ctx, uk, contact.Subject(c, acct, num), analytics.Voice, gateNow().Add(time.Hour), false)
	if err != nil || d.Allowed || !strings.Contains(d.Rule+" "+d.Reason, "abandoned") {
		t.Fatalf("UK after the abandon: %+v %v", d, err)
	}
	if d, _ := w.h.gate.Check(w.ctx, uk, contact.Subject(c, acct, num), analytics.Voice, gateNow().Add(time.Hour), true); !d.Allowed {
		t.Fatalf("UK with an agent guaranteed: %+v", d)
	}
}

// The agent's phone leg drops mid-call: the station pauses the agent and
// tells the runner, and the debtor hears the abandon message, not dead air.
func TestAgentLegDropsMidCall(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(nil)
	ag := w.agent(c, agenttest.Options{})
	acct, dc, _ := w.bridged(c, ag)
	before := len(dc.rec.Samples())
	if err := ag.leg.Hangup(w.ctx); err != nil {
		t.Fatal(err)
	}
	p := heardPrompt(t, w.ctx, dc, "p/abandon")
	if p < before {
		t.Fatalf("abandon message at sample %d, before the drop (%d)", p, before)
	}
	select {
	case <-dc.leg.Ended():
	case <-w.ctx.Done():
		t.Fatal("the debtor was not hung up after the message")
	}
	st := w.waitState(ag.id, agent.Paused)
	if st.Reason != agent.ReasonPhoneDisconnected {
		t.Fatalf("agent %+v", st)
	}
	w.settled(c, 1)
	row := w.rows(c)[acct.ID]
	if row.disposition != "answered" || row.agent != ag.id || row.abandoned != 0 || !strings.Contains(row.reason, "phone leg dropped") ||
		row.wrapMS != 0 {
		t.Fatalf("attempt %+v", row)
	}
}

// With nothing sent by the agent, wrap-up ends at the campaign's limit and
// the agent is ready again; the row has the talk and wrap-up times and no
// code.
func TestWrapUpLimitReturnsTheAgent(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(func(c *queue.Campaign) { c.WrapUp = queue.Duration(time.Second) })
	ag := w.agent(c, agenttest.Options{})
	screen, _ := w.desk.Subscribe(w.ctx, ag.id, "")
	acct, dc, _ := w.bridged(c, ag)
	// Some talk time: the debtor hears 300 ms of the agent's voice.
	talk, quiet := context.WithCancel(w.ctx)
	playLoop(talk, ag.leg.Session, tone("agent", 600, time.Second))
	poll(t, "the debtor to hear the agent", func() bool { return mediatest.ToneAt(dc.rec.Samples(), 600) >= 300*time.Millisecond })
	quiet()
	dc.leg.Hangup(w.ctx)
	w.waitState(ag.id, agent.WrapUp)
	w.waitState(ag.id, agent.Ready)
	w.settled(c, 1)
	row := w.rows(c)[acct.ID]
	if row.disposition != "answered" || row.agent != ag.id || row.code != "" || row.talkMS < 200 || row.wrapMS < 900 || row.wrapMS > 10000 {
		t.Fatalf("attempt %+v", row)
	}
	var kinds []string
	for ev := range screen {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == agent.DeskWrapEnded {
			if !strings.Contains(string(ev.Data), `"reason":"wrap_up limit"`) {
				t.Fatalf("wrap event %s", ev.Data)
			}
			break
		}
	}
	if strings.Join(kinds, ",") != "call,call_ended,wrap_ended" {
		t.Fatalf("screen events %v", kinds)
	}
}

// Two debtors answered at the same instant, two ready agents: each gets its
// own agent, none is abandoned.
func TestTwoAnswersAtOnceGetTwoAgents(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(nil)
	a1, a2 := w.agent(c, agenttest.Options{}), w.agent(c, agenttest.Options{})
	n1, n2 := number(), number()+"1"
	accts := w.debtors(c, n1, n2)
	release := make(chan struct{})
	w.carrier.holdUntil(n1, release)
	w.carrier.holdUntil(n2, release)
	w.start(c)
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case n := <-w.carrier.invited:
			got[n] = true
		case <-w.ctx.Done():
			t.Fatal("two calls were not placed")
		}
	}
	close(release) // both answer now
	w.waitState(a1.id, agent.Talking)
	w.waitState(a2.id, agent.Talking)
	for _, n := range []string{n1, n2} {
		w.carrier.call(w.ctx, n).leg.Hangup(w.ctx)
	}
	for _, a := range []*testAgent{a1, a2} {
		if _, err := w.r.CallAction(w.ctx, w.status(a.id).Call, opDisposition, Disposition{Code: "refused"}); err != nil {
			t.Fatal(err)
		}
	}
	w.settled(c, 2)
	rows := w.rows(c)
	r1, r2 := rows[accts[0].ID], rows[accts[1].ID]
	if r1.agent == "" || r2.agent == "" || r1.agent == r2.agent || r1.abandoned+r2.abandoned != 0 {
		t.Fatalf("attempts %+v %+v", r1, r2)
	}
}

// The agent hands the debtor to the IVR's promise script and is freed: the
// debtor hears the promise menu and keys a promise (channel ivr) while the
// agent's disposition ends its wrap-up.
func TestTransferToTheIVR(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(nil)
	ag := w.agent(c, agenttest.Options{})
	acct, dc, call := w.bridged(c, ag)
	if _, err := w.r.CallAction(w.ctx, call, opTransfer, Transfer{To: "agent"}); err == nil {
		t.Fatal("a transfer to anything but ivr was taken")
	}
	if _, err := w.r.CallAction(w.ctx, call, opTransfer, Transfer{To: "ivr"}); err != nil {
		t.Fatal(err)
	}
	w.waitState(ag.id, agent.WrapUp)
	heardPrompt(t, w.ctx, dc, "p/promise-how")
	dc.leg.Session().SendDigits("1") // the full balance
	heardPrompt(t, w.ctx, dc, "p/promise-when")
	dc.leg.Session().SendDigits("1") // today
	if _, err := w.r.CallAction(w.ctx, call, opDisposition, Disposition{Code: "third_party"}); err != nil {
		t.Fatal(err)
	}
	w.waitState(ag.id, agent.Ready)
	w.settled(c, 1)
	row := w.rows(c)[acct.ID]
	if row.agent != ag.id || row.code != "third_party" || row.rightParty != 0 || !strings.HasPrefix(row.ivrPath, "promise-how>full-balance>when>today>record") ||
		row.promise != "10000.00" {
		t.Fatalf("attempt %+v", row)
	}
	var ch string
	if err := w.h.conn.QueryRow(w.ctx, "SELECT toString(channel) FROM "+w.h.db+".promises FINAL WHERE attempt_id = ?", call).Scan(&ch); err != nil || ch != "ivr" {
		t.Fatalf("promise channel %q %v", ch, err)
	}
}

// A call back the agent agreed: the account is due at that time, pinned to
// the agent; a custom code is the campaign's own.
func TestCallbackIsRequeuedAndPinned(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(func(c *queue.Campaign) {
		c.AgentCodes = []queue.AgentCode{{Code: "hardship", RightParty: true, Retry: queue.Duration(72 * time.Hour)}}
	})
	ag := w.agent(c, agenttest.Options{})
	acct, dc, call := w.bridged(c, ag)
	at := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	var ce *agent.CallError
	if _, err := w.r.CallAction(w.ctx, call, opDisposition, Disposition{Code: "callback"}); !errors.As(err, &ce) || ce.Field != "callback_at" {
		t.Fatalf("a call back without a time: %v", err)
	}
	if _, err := w.r.CallAction(w.ctx, call, opDisposition, Disposition{Code: "callback", CallbackAt: &at}); err != nil {
		t.Fatal(err)
	}
	dc.leg.Hangup(w.ctx)
	w.waitState(ag.id, agent.Ready)
	w.settled(c, 1)
	if row := w.rows(c)[acct.ID]; row.code != "callback" || row.rightParty != 1 {
		t.Fatalf("attempt %+v", row)
	}
	due, queued, err := w.h.store.DueAt(w.ctx, c.ID, acct.ID)
	if err != nil || !queued || !due.Equal(at) {
		t.Fatalf("due at %s (%v %v), want %s", due, queued, err, at)
	}
	// The account's next answer takes the agent through its pin (the
	// reservation let go at once: only the pin is looked at).
	res, ok, err := w.pool.ReserveFor(w.ctx, c.ID, w.node, acct.ID, "pin-probe-"+rnd())
	if !ok || err != nil || res.Agent != ag.id || !res.Pinned {
		t.Fatalf("pin: %+v %v %v", res, ok, err)
	}
	if _, err := w.pool.Release(w.ctx, res); err != nil {
		t.Fatal(err)
	}
	// The campaign's own code: due again after its own delay.
	c2 := w.campaign(func(c *queue.Campaign) {
		c.AgentCodes = []queue.AgentCode{{Code: "hardship", RightParty: true, Retry: queue.Duration(72 * time.Hour)}}
	})
	ag2 := w.agent(c2, agenttest.Options{})
	acct2, dc2, call2 := w.bridged(c2, ag2)
	if _, err := w.r.CallAction(w.ctx, call2, opDisposition, Disposition{Code: "hardship"}); err != nil {
		t.Fatal(err)
	}
	dc2.leg.Hangup(w.ctx)
	w.settled(c2, 1)
	if due, _, _ := w.h.store.DueAt(w.ctx, c2.ID, acct2.ID); due.Before(time.Now().Add(71*time.Hour)) || due.After(time.Now().Add(73*time.Hour)) {
		t.Fatalf("hardship: due at %s", due)
	}
}

// A personal call back: the account's answer goes to the agent it is
// pinned to, ahead of an agent idle longer, and the pin goes once the call
// is bridged.
func TestPinnedCallbackReachesItsAgent(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(nil)
	first := w.agent(c, agenttest.Options{})
	w.waitState(first.id, agent.Ready) // idle longest
	pinned := w.agent(c, agenttest.Options{})
	w.waitState(pinned.id, agent.Ready)
	num := number()
	acct := w.debtors(c, num)[0]
	if err := w.pool.PinCallback(w.ctx, c.ID, acct.ID, pinned.id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.start(c)
	dc := w.carrier.call(w.ctx, num)
	call := w.waitState(pinned.id, agent.Talking).Call
	if st := w.status(first.id); st.State != agent.Ready {
		t.Fatalf("the agent idle longest took a pinned call: %+v", st)
	}
	pins := "marcador:{" + c.ID + "}:callbacks"
	w.poll("the pin dropped once bridged", func() bool { return !w.h.rdb.HExists(w.ctx, pins, acct.ID).Val() })
	if _, err := w.r.CallAction(w.ctx, call, opDisposition, Disposition{Code: "refused"}); err != nil {
		t.Fatal(err)
	}
	dc.leg.Hangup(w.ctx)
	w.settled(c, 1)
	if row := w.rows(c)[acct.ID]; row.agent != pinned.id {
		t.Fatalf("attempt %+v", row)
	}
}

// A call bridged to an agent is a conversation for the caps unless the
// agent's code says it reached someone else, counted live exactly as the
// row says (analytics.AgentTalked, the rule `marcador redis restore`
// rebuilds the history by); and only then does the campaign's text after
// an answered call follow it (to someone else it would disclose the debt).
func TestAgentCallsCountAsTheirRowSays(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	for _, tc := range []struct {
		code          string
		conversations int
	}{{"wrong_party", 0}, {"refused", 1}} {
		c := w.campaign(func(c *queue.Campaign) {
			c.SMS.Fallback = []queue.FallbackRule{{After: []string{"answered"}, Template: "missed-call"}}
		})
		ag := w.agent(c, agenttest.Options{})
		acct, dc, call := w.bridged(c, ag)
		if _, err := w.r.CallAction(w.ctx, call, opDisposition, Disposition{Code: tc.code}); err != nil {
			t.Fatal(err)
		}
		dc.leg.Hangup(w.ctx)
		w.settled(c, 1)
		row := w.rows(c)[acct.ID]
		n := w.h.conversations(t, acct)
		byRow := analytics.AgentTalked(row.agent, row.talkMS, row.disposition, row.code, row.rightParty == 1)
		if n != tc.conversations || byRow != (n == 1) || row.ivrPath != "" {
			t.Errorf("%s: %d conversations recorded live, the row (%+v) says %v", tc.code, n, row, byRow)
		}
		w.mu.Lock()
		texted := slices.ContainsFunc(w.sms, func(m SMSRequest) bool { return m.Key == call+"/fallback/0" })
		w.mu.Unlock()
		if texted != (tc.conversations == 1) {
			t.Errorf("%s: texted after the call %v", tc.code, texted)
		}
	}
}

// A recording that cannot be written: the call goes on, the row says why,
// and the node counts it.
func TestRecordingFailureDoesNotStopTheCall(t *testing.T) {
	t.Parallel()
	var w *agentWorld
	blocked := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocked, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w = newAgentWorld(t, func(o *Options) { o.RecordingsDir = blocked })
	c := w.campaign(func(c *queue.Campaign) { c.Record = true })
	ag := w.agent(c, agenttest.Options{})
	acct, dc, call := w.bridged(c, ag)
	playLoop(w.ctx, dc.leg.Session(), tone("debtor", 1000, time.Second))
	w.poll("the debtor's tone at the agent", func() bool { return mediatest.ToneAt(ag.leg.Heard(), 1000) >= 400*time.Millisecond })
	if n := w.r.RecordingErrors(); n != 1 {
		t.Fatalf("recording errors %d", n)
	}
	w.r.CallAction(w.ctx, call, opDisposition, Disposition{Code: "refused"})
	dc.leg.Hangup(w.ctx)
	w.settled(c, 1)
	row := w.rows(c)[acct.ID]
	if row.recording != "" || !strings.Contains(row.recErr, "not a directory") || row.agent != ag.id {
		t.Fatalf("attempt %+v", row)
	}
}

var _ = json.Marshal
var _ = context.Background

// An IVR campaign's transfer node reaches a ready agent of the campaign,
// whose screen shows the debtor's account; with none ready within the
// node's limit the script falls back.
func TestIVRTransferNodeReachesAnAgent(t *testing.T) {
	t.Parallel()
	short, err := script.Parse("transfer-short.yaml", []byte(`name: transfer-short
start: hello
nodes:
  hello:
    play: [p/transfer]
    next: transfer
  transfer:
    transfer: {queue: agents, timeout: 1s, fallback: no-agent}
  no-agent:
    play: [p/no-agent]
    next: end
  end:
    hangup: true
`))
	if err != nil {
		t.Fatal(err)
	}
	w := newAgentWorld(t, func(o *Options) { o.Scripts["transfer-short"] = short })
	c := w.campaign(func(c *queue.Campaign) { c.Mode, c.Script = queue.ModeIVR, "reminder-overdue" })
	ag := w.agent(c, agenttest.Options{})
	screen, _ := w.desk.Subscribe(w.ctx, ag.id, "")
	num := number()
	acct := w.debtors(c, num)[0]
	w.start(c)
	dc := w.carrier.call(w.ctx, num)
	heardPrompt(t, w.ctx, dc, "p/rpc-greeting")
	dc.leg.Session().SendDigits("1") // it is me
	heardPrompt(t, w.ctx, dc, "p/verify-id-last4")
	dc.leg.Session().SendDigits(num[len(num)-4:]) // the id's last four
	heardPrompt(t, w.ctx, dc, "p/overdue-intro")
	dc.leg.Session().SendDigits("3") // an advisor
	st := w.waitState(ag.id, agent.Talking)
	var pop ScreenPop
	select {
	case ev := <-screen:
		if ev.Kind != agent.DeskCall || ev.Call != st.Call || json.Unmarshal(ev.Data, &pop) != nil {
			t.Fatalf("screen event %+v", ev)
		}
	case <-w.ctx.Done():
		t.Fatal("no screen pop")
	}
	if pop.Account.ID != acct.ID || pop.Account.Balance != "10000.00" || !pop.FromIVR || pop.Call != st.Call {
		t.Fatalf("screen pop %+v", pop)
	}
	playLoop(w.ctx, ag.leg.Session, tone("agent", 600, time.Second))
	w.poll("the agent heard by the debtor", func() bool { return mediatest.ToneAt(dc.rec.Samples(), 600) >= 400*time.Millisecond })
	if _, err := w.r.CallAction(w.ctx, st.Call, opDisposition, Disposition{Code: "refused"}); err != nil {
		t.Fatal(err)
	}
	dc.leg.Hangup(w.ctx)
	w.settled(c, 1)
	row := w.rows(c)[acct.ID]
	if row.agent != ag.id || row.code != "refused" || !strings.HasSuffix(row.ivrPath, "menu>agent>transfer") || row.disposition != "answered" {
		t.Fatalf("attempt %+v", row)
	}
	// No agent ready (paused): the node's limit passes, the script falls back.
	w.waitState(ag.id, agent.Ready)
	if _, err := w.st.Pause(w.ctx, ag.id, "break"); err != nil {
		t.Fatal(err)
	}
	c2 := w.campaign(func(c *queue.Campaign) { c.Mode, c.Script = queue.ModeIVR, "transfer-short" })
	num2 := number()
	acct2 := w.debtors(c2, num2)[0]
	w.start(c2)
	dc2 := w.carrier.call(w.ctx, num2)
	heardPrompt(t, w.ctx, dc2, "p/no-agent")
	w.settled(c2, 1)
	if row := w.rows(c2)[acct2.ID]; row.agent != "" || row.ivrPath != "hello>transfer>no-agent>end" {
		t.Fatalf("fallback attempt %+v", row)
	}
}
