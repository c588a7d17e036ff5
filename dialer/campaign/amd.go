package campaign

// Answering-machine detection on a campaign's calls (the campaign's `amd`
// block): the debtor's decoded audio goes frame by frame from the RTP
// receive goroutine into a dialer/amd detector from the answer until it
// needs no more (Done: its decision final, and for a machine whose message
// waits for the beep, the beep search over). People (and notsure) go on as
// every answer did: the script, or the wait for an agent; a machine gets
// the campaign's machine action; a call that ends first is a hang-up. A
// person's decision stays provisional for revise_within: a beep then makes
// the call a machine's after all (amd_revise.go).

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/amd"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
)

const (
	// catchUpEvery is how often the call's goroutine checks that audio is
	// arriving while the detector listens.
	catchUpEvery = 40 * time.Millisecond
	// audioSlack is how far the detector's audio time may fall behind the
	// time since the answer before the missing audio is fed as silence: a
	// carrier that suppresses silence (DTX), or lost packets, must not keep
	// a person who said "¿Aló?" waiting for packets that never come. More
	// than a loaded node's scheduling delays, so arriving audio is never
	// pushed aside by invented silence.
	audioSlack = 300 * time.Millisecond
)

// amdParams reads a campaign's detector parameters with dialer/amd's one
// parser (the block's JSON object is YAML).
func amdParams(c queue.Campaign) (amd.Params, error) {
	var raw []byte
	if c.AMD != nil {
		raw = c.AMD.Params
	}
	p, err := amd.ParseParams(raw)
	if err != nil {
		return p, &queue.FieldError{Campaign: c.ID, Field: "amd", Reason: err.Error()}
	}
	return p, nil
}

// checkAMD says why a campaign's amd block cannot run on this node.
func (r *Runner) checkAMD(c queue.Campaign) error {
	if !c.AMDOnCalls() {
		return nil
	}
	if _, err := amdParams(c); err != nil {
		return err
	}
	if s := c.MachineScript(); s != "" && r.opt.Scripts[s] == nil {
		return &queue.FieldError{Campaign: c.ID, Field: "amd.script", Reason: fmt.Sprintf("%q is not loaded", s)}
	}
	return nil
}

// amdTap is one call's detector and its feed. The receive goroutine feeds
// it (onAudio) while the call's goroutine waits for its outcome (await);
// the mutex is uncontended but for the rare silence the call's goroutine
// feeds when audio stops arriving. Each channel closes once, when the
// detector reports its event: the first decision, a revision of a
// provisional one (amd_revise.go), the beep search's end, and the end of
// the analysis (Done, or the call's end).
type amdTap struct {
	feeding atomic.Bool // from the answer until the detector needs no more audio

	mu       sync.Mutex
	d        *amd.Detector
	start    time.Time // the answer, as this node saw it
	decided  chan struct{}
	revised  chan struct{}
	beepDone chan struct{}
	over     chan struct{}
	isOver   bool
	zeros    [amd.FrameSamples]int16
}

// newAMDTap is a detector for one call of c, nil when c has no AMD.
func newAMDTap(c queue.Campaign) (*amdTap, error) {
	if !c.AMDOnCalls() {
		return nil, nil
	}
	p, err := amdParams(c)
	if err != nil {
		return nil, err
	}
	d, err := amd.New(p)
	if err != nil {
		return nil, err
	}
	return &amdTap{d: d, decided: make(chan struct{}), revised: make(chan struct{}), beepDone: make(chan struct{}), over: make(chan struct{})}, nil
}

// onAudio is the dial request's OnAudio: nil without a tap, so a call
// without AMD has no receive hook at all.
func (t *amdTap) onAudio() func([]int16) {
	if t == nil {
		return nil
	}
	return t.hear
}

// arm starts the analysis: the call was answered at now (frames of early
// media before it were not fed).
func (t *amdTap) arm(now time.Time) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.start = now
	t.mu.Unlock()
	t.feeding.Store(true)
}

// hear feeds one decoded frame (the receive goroutine; no allocation).
func (t *amdTap) hear(pcm []int16) {
	if !t.feeding.Load() {
		return
	}
	t.mu.Lock()
	t.signal(t.d.Feed(pcm))
	t.mu.Unlock()
}

// signal publishes what the detector just reported (under mu). Each event
// is reported once, so each channel closes once.
func (t *amdTap) signal(ev amd.Event) {
	if ev&amd.Decided != 0 {
		close(t.decided)
	}
	if ev&amd.Revised != 0 {
		close(t.revised)
	}
	if ev&amd.BeepDone != 0 {
		close(t.beepDone)
	}
	if t.d.Done() {
		t.feeding.Store(false)
		if !t.isOver {
			t.isOver = true
			close(t.over)
		}
	}
}

// catchUp feeds silence for audio that has not arrived audioSlack after it
// was due.
func (t *amdTap) catchUp(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for !t.d.Done() && now.Sub(t.start)-t.d.Elapsed() > audioSlack {
		t.signal(t.d.Feed(t.zeros[:]))
	}
}

// hangup ends the analysis: the call ended (or is being ended).
func (t *amdTap) hangup() {
	t.feeding.Store(false)
	t.mu.Lock()
	t.signal(t.d.Hangup())
	t.mu.Unlock()
}

// await waits for done (decided or beepDone), keeping the detector's audio
// time up with the clock; a call that ends first ends the analysis as a
// hang-up, which closes done.
func (t *amdTap) await(ctx context.Context, leg *dialer.Leg, done <-chan struct{}) {
	tick := time.NewTicker(catchUpEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-leg.Ended():
		case <-leg.Session().Done():
		case <-ctx.Done():
		case now := <-tick.C:
			t.catchUp(now)
			continue
		}
		t.hangup()
		<-done
		return
	}
}

// decision is the detector's decision (after decided is closed).
func (t *amdTap) decision() amd.Decision {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, _ := t.d.Decision()
	return d
}

// beep is the beep search's outcome (after beepDone is closed).
func (t *amdTap) beep() amd.Beep {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, _ := t.d.Beep()
	return b
}

// greetingEnd is when the debtor's greeting ended on the wall clock, as
// the detector heard it; the decision's time when nobody spoke.
func (t *amdTap) greetingEnd(dec amd.Decision) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if end, ok := t.d.GreetingEnd(); ok && end < dec.At {
		return t.start.Add(end)
	}
	return t.start.Add(dec.At)
}

// searchesBeep says whether the detector looks for a beep after a machine
// decision (beep.max_wait > 0).
func (t *amdTap) searchesBeep() bool { return t.d.Params().Beep.MaxWait > 0 }

// screened is what detection made of an answered call.
type screened struct {
	// person: a person (human or notsure) or no AMD; the call goes on as
	// any answer does. Otherwise it is over (a machine, or a hang-up) and
	// the attempt row says so.
	person bool
	res    ivr.Result // a machine's message script
	// greeted is when the abandon clock starts: the end of the debtor's
	// greeting (the answer without AMD).
	greeted time.Time
}

// screen runs the campaign's answering-machine detection on an answered
// call (nothing without a tap) and, on a machine, its machine action. The
// row gets amd, amd_cause and amd_ms.
func (r *Runner) screen(ctx context.Context, c queue.Campaign, acct queue.Account, number string, zones []*time.Location,
	leg *dialer.Leg, tap *amdTap, a *analytics.Attempt, ln *line) screened {
	if tap == nil {
		return screened{person: true, greeted: leg.Result().Answered}
	}
	tap.await(ctx, leg, tap.decided)
	dec := tap.decision()
	a.AMD, a.AMDCause, a.AMDMS = string(dec.Result), string(dec.Cause), uint32(max(dec.At.Milliseconds(), 0))
	switch dec.Result {
	case amd.Machine:
		ln.machine()
		r.countAMD(ctx, c, agent.Machine)
		res, reason := r.onMachine(ctx, c, acct, number, zones, leg, tap, a)
		hangup(ctx, leg).ApplyTo(a)
		a.Disposition, a.Reason, a.IVRPath = analytics.Machine, reason, res.IVRPath()
		return screened{res: res}
	case amd.Hangup:
		// Answered by someone who hung up before a decision: a live
		// answer (as the KPIs count it), neither a contact nor an abandon.
		ln.done()
		if c.HasAgents() {
			r.countAMD(ctx, c, agent.Live)
		}
		hangup(ctx, leg).ApplyTo(a)
		a.Reason = "hung up during answering-machine detection"
		return screened{}
	}
	return screened{person: true, greeted: tap.greetingEnd(dec)}
}

// onMachine is the campaign's machine action: hang up, or, once the beep
// search ends (beep.max_wait at most), its message script, played once. It
// returns the script's result and the row's reason.
func (r *Runner) onMachine(ctx context.Context, c queue.Campaign, acct queue.Account, number string, zones []*time.Location,
	leg *dialer.Leg, tap *amdTap, a *analytics.Attempt) (ivr.Result, string) {
	name := c.MachineScript()
	if name == "" {
		tap.hangup()
		return ivr.Result{}, "answering machine: hung up (amd.on_machine hangup)"
	}
	after := "at once (beep search off)"
	if tap.searchesBeep() {
		tap.await(ctx, leg, tap.beepDone)
		b := tap.beep()
		switch b.Outcome {
		case amd.BeepHangup:
			return ivr.Result{}, "answering machine: the call ended before the beep; no message left"
		case amd.BeepFound:
			after = fmt.Sprintf("after the beep at %.1fs", b.Start.Seconds())
		default:
			// No beep (the greeting ended without one, or beep.max_wait
			// passed): the box is recording by now, or never will.
			after = fmt.Sprintf("without a beep (%s at %.1fs)", b.Outcome, b.At.Seconds())
		}
	}
	env := r.env(c, acct, number, a.AttemptID)
	if len(zones) > 0 {
		env.Zone = zones[0]
	}
	res, err := ivr.Run(ctx, leg.Session(), r.opt.Scripts[name], env)
	if err != nil {
		r.log.Error("campaign: machine message failed", "campaign", c.ID, "account", acct.ID, "script", name, "err", err)
		return res, fmt.Sprintf("answering machine: message %s failed: %v", name, err)
	}
	return res, fmt.Sprintf("answering machine: message %s left %s", name, after)
}

// countAMD counts an AMD outcome in the campaign's shared day counts (the
// abandon rate's live answers, the pacer's machine rate), where the node
// has an agent pool.
func (r *Runner) countAMD(ctx context.Context, c queue.Campaign, o agent.Outcome) {
	if r.opt.Agents == nil {
		return
	}
	if err := r.opt.Agents.Pool().Count(ctx, c.ID, o, c.Zone()); err != nil {
		r.log.Warn("campaign: AMD outcome not counted", "campaign", c.ID, "outcome", o, "err", err)
	}
}
