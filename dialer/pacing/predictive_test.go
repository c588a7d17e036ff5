package pacing

import (
	"math/rand/v2"
	"testing"
	"time"
)

// warm feeds a pacer the outcomes of a campaign like the simulator's
// standard one: talk lognormal 150 s (cv 1), 30 s wrap-up, 10% live answers
// after about 10 s, 25% machines after 15 s, the rest ringing 30 s.
func warm(p Pacer) {
	r := rand.New(rand.NewPCG(11, 12))
	at := t0.Add(-time.Hour)
	for range 400 {
		p.Observe(Event{Kind: TalkEnded, At: at, Duration: secs(lognormal(r, 150, 1))})
		p.Observe(Event{Kind: WrapEnded, At: at, Duration: 30 * time.Second})
	}
	for range 3000 {
		u := r.Float64()
		switch {
		case u < 0.10:
			p.Observe(Event{Kind: AnsweredLive, At: at, Duration: secs(lognormal(r, 10, 0.5))})
		case u < 0.35:
			p.Observe(Event{Kind: AnsweredMachine, At: at, Duration: secs(lognormal(r, 15, 0.3))})
		default:
			p.Observe(Event{Kind: NotAnswered, At: at, Duration: 30 * time.Second})
		}
	}
}

// history is a compliance window exactly on budget, so that tests of the
// model see the pacer's neutral threshold.
func history(s *Snapshot) *Snapshot {
	s.Window = &WindowCounts{Live: 10000, Abandoned: 0}
	s.Window.Abandoned = int64(0.97*0.03*10000) - 3
	return s
}

func inState(st AgentState, d time.Duration, n int) []Agent {
	a := make([]Agent, n)
	for i := range a {
		a[i] = Agent{State: st, InState: d}
	}
	return a
}

// The pacer never dials when nobody could take a live answer: no agent
// logged in, all paused, all leaving after their call, or all just started
// talking (none can be free before a call dialled now is answered) — warmed
// up or not.
func TestPredictiveNeverDialsWithoutAnAgent(t *testing.T) {
	leaving := inState(Talking, 200*time.Second, 4)
	for i := range leaving {
		leaving[i].Leaving = true
	}
	cases := []struct {
		name   string
		agents []Agent
		reason Reason
	}{
		{"none logged in", nil, ReasonNoAgents},
		{"all paused", inState(Paused, time.Minute, 5), ReasonNoAgents},
		{"all leaving", leaving, ReasonNoAgents},
		{"all just started talking", inState(Talking, 0, 5), ReasonNoneSoon},
		{"all reserved for a call", inState(Reserved, 0, 5), ReasonNoneSoon},
	}
	for _, warmed := range []bool{false, true} {
		p := NewPredictive(PredictiveConfig{})
		if warmed {
			warm(p)
		}
		for _, tc := range cases {
			s := snap(tc.agents, nil)
			d := p.Decide(s)
			if d.Dial != 0 || d.Reason != tc.reason {
				t.Errorf("warmed %v, %s: dial %d (%s), want 0 (%s)", warmed, tc.name, d.Dial, d.Reason, tc.reason)
			}
		}
	}
}

// Until it has seen enough calls it dials one line per ready agent.
func TestPredictiveWarmsUpProgressively(t *testing.T) {
	p := NewPredictive(PredictiveConfig{})
	d := p.Decide(snap(agents(Ready, Ready, Ready, Talking, Wrap), ringing(1, time.Second)))
	if d.Dial != 2 || d.Reason != ReasonWarmUp {
		t.Fatalf("fresh pacer: dial %d (%s), want 2 (warm_up)", d.Dial, d.Reason)
	}
	warm(p)
	d = p.Decide(snap(agents(Ready, Ready, Ready, Talking, Wrap), ringing(1, time.Second)))
	if d.Reason == ReasonWarmUp || d.Dial <= 2 {
		t.Fatalf("warmed pacer: dial %d (%s), want more than progressive", d.Dial, d.Reason)
	}
}

// It dials for agents about to be free, more the sooner they are, and not
// for ones who will be free only after the calls are answered.
func TestPredictiveDialsForSoonFreeAgents(t *testing.T) {
	p := NewPredictive(PredictiveConfig{})
	warm(p)
	dial := func(a []Agent) int {
		s := history(snap(a, nil))
		s.Now = s.Now.Add(time.Minute)
		return p.Decide(s).Dial
	}
	soon := dial(inState(Wrap, 25*time.Second, 10)) // free in 5 s
	later := dial(inState(Wrap, 5*time.Second, 10)) // free in 25 s
	ready := dial(inState(Ready, time.Second, 10))
	if soon == 0 || later >= soon || soon > ready {
		t.Errorf("10 agents: ready %d calls, free in 5 s %d, free in 25 s %d; want ready >= 5 s > 25 s and 5 s > 0", ready, soon, later)
	}
	// About ten live answers' worth for ten ready agents (10% answer).
	if ready < 50 || ready > 200 {
		t.Errorf("10 ready agents: %d calls, want about 100", ready)
	}
}

// Calls in flight count by their chance of still bringing a live answer: a
// hundred just-dialled calls cover ten ready agents, a hundred that have rung
// 28 s (nearly all unanswered ones) do not.
func TestPredictiveCountsCallsInFlight(t *testing.T) {
	p := NewPredictive(PredictiveConfig{})
	warm(p)
	decide := func(c []Call) Decision {
		s := history(snap(inState(Ready, time.Second, 10), c))
		s.Settings.MaxLinesPerAgent = 30
		return p.Decide(s)
	}
	fresh, old := decide(ringing(100, time.Second)), decide(ringing(100, 28*time.Second))
	if fresh.Dial > 20 || old.Dial < 30 {
		t.Errorf("10 ready agents: with 100 fresh calls dial %d (want few), with 100 calls rung 28 s dial %d (want many)", fresh.Dial, old.Dial)
	}
}

func TestPredictiveRespectsCaps(t *testing.T) {
	p := NewPredictive(PredictiveConfig{})
	warm(p)
	s := snap(inState(Ready, time.Second, 20), ringing(10, time.Second))
	s.Settings.MaxLinesPerAgent = 2
	if d := p.Decide(s); d.Dial != 30 || d.Reason != ReasonCapLines {
		t.Errorf("2 lines per agent, 20 agents, 10 in flight: dial %d (%s), want 30 (cap_lines)", d.Dial, d.Reason)
	}
	s.Now = s.Now.Add(time.Minute)
	s.Settings.MaxLinesPerAgent = 0
	s.Trunk.FreeChannels = 7
	if d := p.Decide(s); d.Dial != 7 || d.Reason != ReasonCapChannel {
		t.Errorf("7 free channels: dial %d (%s)", d.Dial, d.Reason)
	}
	s.Now = s.Now.Add(time.Minute)
	s.Trunk = Trunk{FreeChannels: NoLimit, CPS: 5}
	if d := p.Decide(s); d.Dial != 5 || d.Reason != ReasonCapCPS {
		t.Errorf("5 cps: dial %d (%s)", d.Dial, d.Reason)
	}
	s.Now = s.Now.Add(200 * time.Millisecond)
	if d := p.Decide(s); d.Dial != 1 {
		t.Errorf("5 cps, 200 ms later: dial %d, want 1", d.Dial)
	}
	// The default cap: 6 lines per available agent.
	s = snap(inState(Ready, time.Second, 2), ringing(11, 25*time.Second))
	s.Now = s.Now.Add(time.Hour)
	if d := p.Decide(s); d.Dial != 1 {
		t.Errorf("default cap, 2 agents, 11 in flight: dial %d (%s), want 1", d.Dial, d.Reason)
	}
}

// Abandons over the budget lower the threshold, and the pacer dials less
// for the same campaign state; live answers under budget raise it.
func TestPredictiveFeedback(t *testing.T) {
	p := NewPredictive(PredictiveConfig{})
	warm(p)
	state := func() *Snapshot {
		return snap(inState(Ready, 20*time.Second, 10), ringing(10, 3*time.Second))
	}
	for i := range 150 {
		p.Observe(Event{Kind: Connected, At: t0.Add(time.Duration(i) * time.Second)})
	}
	s := state()
	s.Now = t0.Add(10 * time.Minute)
	before, th0 := p.Decide(s).Dial, p.Threshold()
	for i := range 20 {
		p.Observe(Event{Kind: Abandoned, At: s.Now.Add(time.Duration(i) * time.Second)})
	}
	s = state()
	s.Now = t0.Add(11 * time.Minute)
	after, th1 := p.Decide(s).Dial, p.Threshold()
	if th1 >= th0/10 || after >= before {
		t.Errorf("20 abandons in 170 live answers: threshold %.4f -> %.4f, dial %d -> %d; want both down", th0, th1, before, after)
	}
	// The campaign's shared counters, when given, rule instead.
	s = state()
	s.Now = t0.Add(12 * time.Minute)
	s.Window = &WindowCounts{Live: 10000, Abandoned: 100}
	if p.Decide(s); p.Threshold() <= th1 {
		t.Errorf("shared counters 1%% abandoned: threshold %.4f, want above %.4f", p.Threshold(), th1)
	}
}

// A tick allocates nothing once the pacer has run a few.
func TestPredictiveTickDoesNotAllocate(t *testing.T) {
	p := NewPredictive(PredictiveConfig{})
	warm(p)
	a := append(inState(Wrap, 20*time.Second, 10), inState(Talking, 100*time.Second, 10)...)
	s := snap(append(a, inState(Ready, 0, 3)...), ringing(40, 4*time.Second))
	p.Decide(s)
	if n := testing.AllocsPerRun(100, func() {
		s.Now = s.Now.Add(500 * time.Millisecond)
		p.Decide(s)
	}); n != 0 {
		t.Errorf("%v allocations per tick", n)
	}
}
