package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// revisedMS checks a revised row's amd_ms against the offline revision
// time of greeting i (the same audio, fed live: within half a second).
func revisedMS(t *testing.T, audio *amdVoices, i int, ms uint32) {
	t.Helper()
	want := audio.outcome[i].Decision.At
	if d := time.Duration(ms)*time.Millisecond - want; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("%s: amd_ms %d, the revision offline at %s", audio.Machine[i].Name, ms, want)
	}
}

// An IVR campaign whose machines are first taken for people (a short
// greeting, a pause, then the beep): the script starts for the "person",
// the beep revises the call, the script is cut and the Reg F message is
// left after the beep, which the box hears; the row is a machine's with
// the revision's cause and time.
//
// Not parallel: whether the detector says human before the beep depends
// on the greeting arriving in time; it runs before the parallel tests.
func TestAMDRevisedIVRMachineGetsTheMessageAfterTheBeep(t *testing.T) {
	audio := amdCorpus(t)
	numbers := map[string]string{}
	greeting := map[string]int{} // account: the machine's greeting
	for k, i := range audio.revised[:2] {
		a := fmt.Sprintf("R%d", k)
		numbers[a], greeting[a] = audio.number(i, true), i
	}
	line, rows := amdIVRCalls(t, audio, numbers)
	revised := map[string]bool{} // by number
	for a := range numbers {
		g := rows[a]
		t.Logf("%s (%s): %+v", a, audio.Machine[greeting[a]].Name, g)
		if g.disposition != "machine" || g.amd != "machine" || g.cause != "beep" || g.path != "message>end" ||
			!strings.Contains(g.reason, "voicemail-limited left after the beep") {
			t.Errorf("machine %s: %+v", a, g)
		}
		revisedMS(t, audio, greeting[a], g.ms)
		revised[numbers[a]] = strings.Contains(g.reason, "first taken for a person (human at") && strings.Contains(g.reason, "the script cut at greeting")
		// R0 holds a person's silence longest after its greeting: it is
		// taken for a person even when the greeting comes late on a
		// loaded machine. R1's shorter pause may be decided at its beep
		// directly, which is a machine all the same.
		if a == "R0" && !revised[numbers[a]] {
			t.Errorf("revised machine %s: %+v, want first taken for a person and the script cut", a, g)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := line.sim.Settle(sctx); err != nil {
		t.Fatal(err)
	}
	machines := 0
	for _, c := range line.sim.Calls() {
		if c.Outcome != simcarrier.Machine {
			continue
		}
		machines++
		// Before the beep the box heard the script (it was a person's
		// call then, if it was revised); after it, the message.
		if (revised[c.To] && !c.BeforeBeep.IsSpeech(500*time.Millisecond)) || !c.Message.IsSpeech(2*time.Second) {
			t.Errorf("machine %s (%s): before the beep %s, after it %s", c.To, c.Greeting, c.BeforeBeep, c.Message)
		}
	}
	if machines != len(numbers) {
		t.Errorf("%d machines answered, want %d", machines, len(numbers))
	}
}

// An agent campaign whose machine first reaches the agent (a short
// greeting taken for a person's, bridged): the beep revises the call, the
// agent is unbridged and back to ready at once (the screen says
// call_ended and wrap_ended with reason machine), the box gets the
// voicemail message after its beep, the row is a machine's with the agent
// who heard it, and the day's counts hold a machine, not a live answer.
func TestAMDRevisedAgentCallFreesTheAgent(t *testing.T) {
	t.Parallel()
	audio := amdCorpus(t)
	sim, w := amdAgentWorld(t, audio, 30*time.Second)
	c := w.campaign(func(c *queue.Campaign) {
		c.WrapUp = queue.Duration(30 * time.Second) // a machine's call must not hold the agent in wrap-up
		c.AMD = &queue.AMD{OnMachine: queue.OnMachineVoicemail}
	})
	ag := w.agent(c, agenttest.Options{})
	screen, _ := w.desk.Subscribe(w.ctx, ag.id, "")
	i := audio.revised[0]
	acct := w.debtors(c, audio.number(i, true))[0]
	w.start(c)
	var kinds []string
	for ev := range screen {
		var data struct {
			Reason string `json:"reason"`
		}
		json.Unmarshal(ev.Data, &data)
		kinds = append(kinds, ev.Kind+":"+data.Reason)
		if ev.Kind == agent.DeskWrapEnded {
			break
		}
	}
	if got := strings.Join(kinds, ","); got != "call:,call_ended:machine,wrap_ended:machine" {
		t.Fatalf("screen events %s", got)
	}
	// Ready as the screen is told: no wrap-up for a machine's call.
	if st := w.status(ag.id); st.State != agent.Ready {
		t.Fatalf("agent after the machine: %+v", st)
	}
	w.settled(c, 1)
	row, g := w.rows(c)[acct.ID], w.h.amdRows(t, w.ctx, c.ID)[acct.ID]
	t.Logf("%s: %+v %+v", audio.Machine[i].Name, row, g)
	if row.disposition != "machine" || row.agent != ag.id || row.abandoned != 0 || row.talkMS < 500 || row.wrapMS != 0 || row.ivrPath != "message>end" ||
		!strings.Contains(row.reason, "voicemail-limited left after the beep") || !strings.Contains(row.reason, "the agent freed after") {
		t.Errorf("row %+v", row)
	}
	if g.amd != "machine" || g.cause != "beep" {
		t.Errorf("amd columns %+v", g)
	}
	revisedMS(t, audio, i, g.ms)
	rates, err := w.pool.Rates(w.ctx, c.ID, c.Zone())
	if err != nil {
		t.Fatal(err)
	}
	if rates.Today.Live != 0 || rates.Today.Machine != 1 || rates.Today.Abandoned != 0 {
		t.Errorf("counts today %+v, want one machine, no live answer", rates.Today)
	}
	ctx, cancel := context.WithTimeout(w.ctx, time.Minute)
	defer cancel()
	if err := sim.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	calls := sim.Calls()
	if len(calls) != 1 || calls[0].Outcome != simcarrier.Machine || !calls[0].Message.IsSpeech(2*time.Second) {
		t.Errorf("the box: %+v, want the message after its beep", calls)
	}
}

// A machine first taken for a person when no agent is ready: the abandon
// message starts, the beep revises the call and cuts it, and the box gets
// the voicemail message after its beep; the abandon leaves the day's
// counts (a machine, no live answer, no abandon) and the row.
func TestAMDRevisedDuringTheAbandonMessage(t *testing.T) {
	t.Parallel()
	audio := amdCorpus(t)
	g := audio.Machine[audio.revised[0]]
	w := newAgentWorld(t, nil)
	c := w.campaign(func(c *queue.Campaign) { c.AMD = &queue.AMD{OnMachine: queue.OnMachineVoicemail} })
	ag := w.agent(c, agenttest.Options{})
	acct, dc := w.answeredAfterPause(c, ag)
	go dc.leg.Session().Play(w.ctx, false, &media.Prompt{Name: g.Name, Samples: g.Samples})
	start := heardPrompt(t, w.ctx, dc, "p/limited")
	if at := time.Duration(start) * time.Second / media.SampleRate; at < g.BeepEnd {
		t.Errorf("the message began %s after the answer, before the beep ended (%s)", at, g.BeepEnd)
	}
	w.settled(c, 1)
	row := w.rows(c)[acct.ID]
	t.Logf("%s: %+v", g.Name, row)
	if row.disposition != "machine" || row.abandoned != 0 || row.agent != "" || row.ivrPath != "message>end" ||
		!strings.Contains(row.reason, "voicemail-limited left after the beep") || !strings.Contains(row.reason, "the abandon message cut") {
		t.Errorf("row %+v", row)
	}
	rates, err := w.pool.Rates(w.ctx, c.ID, c.Zone())
	if err != nil || rates.Today.Live != 0 || rates.Today.Abandoned != 0 || rates.Today.Machine != 1 {
		t.Errorf("counts today %+v (%v), want one machine, no live answer or abandon", rates.Today, err)
	}
}

// answeredAfterPause starts c with one debtor whose phone rings until the
// agent (c's only one, ready when the call was placed) has paused, then
// answers: no agent is ready for the call.
func (w *agentWorld) answeredAfterPause(c queue.Campaign, ag *testAgent) (queue.Account, *debtorCall) {
	w.t.Helper()
	num := number()
	acct := w.debtors(c, num)[0]
	release := make(chan struct{})
	w.carrier.holdUntil(num, release)
	w.start(c)
	w.carrier.invite(w.ctx, num)
	if _, err := w.st.Pause(w.ctx, ag.id, "break"); err != nil {
		w.t.Fatal(err)
	}
	close(release)
	return acct, w.carrier.call(w.ctx, num)
}
