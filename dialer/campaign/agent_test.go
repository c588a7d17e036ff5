package campaign

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/queue"
)

// A progressive campaign with one ready agent dials one debtor; the answer
// is bridged to the agent once the debtor has heard the recording notice: the debtor's tone (PCMU) reaches the
// agent's phone (PCMA) and the agent's tone the debtor, the debtor's RFC
// 4733 key reaches the agent, the agent's screen pops with the account, the
// call is recorded in stereo (debtor left, agent right), and the agent's
// promise and hang-up, sent from another node, end in the attempt row and
// the promises table.
func TestAgentCallBridgesBothWaysAndRecords(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil)
	c := w.campaign(func(c *queue.Campaign) { c.Record, c.RecordingNotice = true, "p/recording-notice" })
	ag := w.agent(c, agenttest.Options{Codecs: []media.Codec{media.PCMA}})
	screen, err := w.desk.Subscribe(w.ctx, ag.id, "")
	if err != nil {
		t.Fatal(err)
	}
	num := number()
	accts := w.debtors(c, num)
	w.start(c)
	dc := w.carrier.call(w.ctx, num)
	// The screen pop: the account, its open promises and history, the codes.
	// It comes before the recording notice, and the call it names is found
	// at once, with its agent (an agent's screen asks for it right away).
	var pop ScreenPop
	select {
	case ev := <-screen:
		if ev.Kind != agent.DeskCall || json.Unmarshal(ev.Data, &pop) != nil {
			t.Fatalf("first screen event %+v", ev)
		}
		if info, err := w.r.agentCalls.Get(w.ctx, ev.Call); err != nil || info.Agent != ag.id || info.State != agent.CallTalking {
			t.Fatalf("the popped call %s: %+v %v", ev.Call, info, err)
		}
	case <-w.ctx.Done():
		t.Fatal("no screen pop")
	}
	heardPrompt(t, w.ctx, dc, "p/recording-notice") // before the agent comes on
	playLoop(w.ctx, dc.leg.Session(), tone("debtor", 1000, time.Second))
	playLoop(w.ctx, ag.leg.Session, tone("agent", 600, time.Second))
	w.waitState(ag.id, agent.Talking)
	if pop.Account.ID != accts[0].ID || pop.Account.Name != accts[0].Name || pop.Account.Balance != "10000.00" ||
		pop.Account.Currency != "MXN" || pop.Account.DaysPastDue != 23 || pop.Phone != num || pop.Account.Fields["producto"] != "tarjeta" ||
		len(pop.Codes) != 8 || pop.HistoryError != "" {
		t.Fatalf("screen pop %+v", pop)
	}
	// Audio both ways, through the law conversion.
	w.poll("the debtor's tone at the agent", func() bool { return mediatest.ToneAt(ag.leg.Heard(), 1000) >= 600*time.Millisecond })
	w.poll("the agent's tone at the debtor", func() bool { return mediatest.ToneAt(dc.rec.Samples(), 600) >= 600*time.Millisecond })
	if got := ag.leg.Invite.Body(); !strings.Contains(string(got), "PCMA") {
		t.Fatalf("offer to the agent has no PCMA: %s", got)
	}
	// A key the debtor presses reaches the agent's phone (and its screen).
	if err := dc.leg.Session().SendDigits("7"); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-ag.leg.Session.Digits():
		if d != '7' {
			t.Fatalf("agent got digit %q", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the debtor's digit did not reach the agent")
	}
	for ev := range screen {
		if ev.Kind == agent.DeskDigit {
			if string(ev.Data) != `{"digit":"7"}` {
				t.Fatalf("digit event %s", ev.Data)
			}
			break
		}
	}
	// The agent acts from another node's API: Calls there forwards to the
	// node holding the call, through Redis.
	callID := w.status(ag.id).Call
	other := w.otherNode()
	info, err := other.Get(w.ctx, callID)
	if err != nil || info.State != agent.CallTalking || info.Agent != ag.id || info.Node != w.node || info.Recording == "" {
		t.Fatalf("call state %+v %v", info, err)
	}
	var ce *agent.CallError
	if _, err := other.Do(w.ctx, callID, opDisposition, Disposition{Code: "promise", Amount: dec("50"), Date: today(0)}); !errors.As(err, &ce) ||
		ce.Kind != agent.CallInvalid || ce.Field != "amount" || !strings.Contains(ce.Reason, "below the policy's least of 1000.00") {
		t.Fatalf("a promise under the policy: %v", err)
	}
	if _, err := other.Do(w.ctx, callID, opDisposition, Disposition{Code: "maybe"}); !errors.As(err, &ce) || ce.Field != "code" {
		t.Fatalf("an unknown code: %v", err)
	}
	out, err := other.Do(w.ctx, callID, opDisposition, Disposition{Code: "promise", Amount: dec("2500"), Date: today(3)})
	var ans CallAnswer
	if err != nil || json.Unmarshal(out, &ans) != nil || ans.Code != "promise" || ans.Promise == nil || ans.Promise.Amount != "2500.00" {
		t.Fatalf("promise: %s %v", out, err)
	}
	if _, err := other.Do(w.ctx, callID, opDisposition, Disposition{Code: "refused"}); !errors.As(err, &ce) || ce.Kind != agent.CallConflict {
		t.Fatalf("a second disposition: %v", err)
	}
	if _, err := other.Do(w.ctx, callID, opSMS, Text{}); err != nil {
		t.Fatalf("payment link by text: %v", err)
	}
	if _, err := other.Do(w.ctx, callID, opHangup, nil); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	select {
	case <-dc.leg.Ended():
	case <-w.ctx.Done():
		t.Fatal("the debtor's leg was not hung up")
	}
	// Disposed during the call: ready again as soon as it ends.
	w.waitState(ag.id, agent.Ready)
	w.settled(c, 1)
	row := w.rows(c)[accts[0].ID]
	if row.disposition != "answered" || row.agent != ag.id || row.code != "promise" || row.rightParty != 1 || row.talkMS < 500 ||
		row.promise != "2500.00" || row.abandoned != 0 || row.recording == "" || row.recErr != "" {
		t.Fatalf("attempt %+v", row)
	}
	// The promise carries the agent who took it and the campaign's rules.
	var ch, amount, agentID, country string
	var grace, keep uint8
	if err := w.h.conn.QueryRow(w.ctx, "SELECT toString(channel), toString(amount), agent_id, country, grace_days, keep_percent FROM "+
		w.h.db+".promises FINAL WHERE attempt_id = ?", callID).Scan(&ch, &amount, &agentID, &country, &grace, &keep); err != nil ||
		ch != "agent" || amount != "2500.00" || agentID != ag.id || country == "" || grace != 2 || keep != 100 {
		t.Fatalf("promise row: %s %s agent %q country %q grace %d keep %d %v", ch, amount, agentID, country, grace, keep, err)
	}
	w.mu.Lock()
	if len(w.sms) != 1 || w.sms[0].Template != "payment-link" || w.sms[0].Phone != num || !strings.HasPrefix(w.sms[0].Link, "https://pay.example/") {
		t.Errorf("texts %+v", w.sms)
	}
	w.mu.Unlock()
	// The recording: the debtor's tone on the left, the agent's on the right.
	left, right := readStereo(t, filepath.Join(w.dir, row.recording))
	if mediatest.ToneAt(left, 1000) < 600*time.Millisecond || mediatest.ToneAt(right, 600) < 600*time.Millisecond ||
		mediatest.ToneAt(left, 600) > 100*time.Millisecond || mediatest.ToneAt(right, 1000) > 100*time.Millisecond {
		t.Fatalf("recording: left 1000 Hz %s, 600 Hz %s; right 600 Hz %s, 1000 Hz %s", mediatest.ToneAt(left, 1000),
			mediatest.ToneAt(left, 600), mediatest.ToneAt(right, 600), mediatest.ToneAt(right, 1000))
	}
	if got, _ := other.Get(w.ctx, callID); got.State != agent.CallEnded || got.Disposition != "answered" || got.Code != "promise" {
		t.Fatalf("ended call %+v", got)
	}
}

func dec(s string) *decimal.Decimal { d := decimal.RequireFromString(s); return &d }

// today is the debtor's (Mexico City) calendar date plus n days.
func today(n int) string {
	return time.Now().In(time.FixedZone("CST", -6*3600)).AddDate(0, 0, n).Format(time.DateOnly)
}

// otherNode is another node's view of the agent calls (it holds none).
func (w *agentWorld) otherNode() *agent.Calls {
	w.t.Helper()
	c, err := agent.NewCalls(agent.CallsOptions{Client: w.h.rdb, Node: "other-" + rnd(), Timeout: 20 * time.Second,
		Handle: func(context.Context, agent.Command) (any, error) { return nil, errors.New("holds no call") }})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	w.t.Cleanup(func() { stop(); <-done })
	<-c.Ready()
	return c
}

// readStereo reads a recording's two channels.
func readStereo(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" || binary.LittleEndian.Uint16(b[22:]) != 2 {
		t.Fatalf("%s is not a stereo WAV", path)
	}
	data := b[44:]
	for i := 0; i+4 <= len(data); i += 4 {
		left = append(left, int16(binary.LittleEndian.Uint16(data[i:])))
		right = append(right, int16(binary.LittleEndian.Uint16(data[i+2:])))
	}
	return left, right
}
