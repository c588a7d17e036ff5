package pacing

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func agents(states ...AgentState) []Agent {
	a := make([]Agent, len(states))
	for i, s := range states {
		a[i] = Agent{State: s, InState: 20 * time.Second}
	}
	return a
}

func ringing(n int, each time.Duration) []Call {
	c := make([]Call, n)
	for i := range c {
		c[i] = Call{Ringing: each}
	}
	return c
}

func snap(a []Agent, c []Call) *Snapshot {
	return &Snapshot{Now: t0, Agents: a, Calls: c, Trunk: Trunk{FreeChannels: NoLimit},
		Settings: Settings{TargetAbandon: 0.03}}
}

func TestProgressiveOneLinePerReadyAgent(t *testing.T) {
	p := NewProgressive()
	cases := []struct {
		name   string
		s      *Snapshot
		want   int
		reason Reason
	}{
		{"three ready, none ringing", snap(agents(Ready, Ready, Ready, Talking), nil), 3, ReasonDial},
		{"three ready, two ringing", snap(agents(Ready, Ready, Ready, Wrap), ringing(2, time.Second)), 1, ReasonDial},
		{"covered", snap(agents(Ready, Talking), ringing(1, time.Second)), 0, ReasonEnough},
		{"nobody logged in", snap(nil, nil), 0, ReasonNoAgents},
		{"all paused", snap(agents(Paused, Paused), nil), 0, ReasonNoAgents},
		{"all busy", snap(agents(Talking, Wrap), nil), 0, ReasonNoneSoon},
	}
	for _, tc := range cases {
		tc.s.Now = tc.s.Now.Add(time.Minute) // a fresh second of CPS each time
		d := p.Decide(tc.s)
		if d.Dial != tc.want || d.Reason != tc.reason {
			t.Errorf("%s: dial %d (%s), want %d (%s)", tc.name, d.Dial, d.Reason, tc.want, tc.reason)
		}
	}
}

func TestProgressiveLinesPerAgentAndCaps(t *testing.T) {
	p := NewProgressive()
	s := snap(agents(Ready, Ready, Ready, Ready), nil)
	s.Settings.LinesPerAgent = 2.5
	if d := p.Decide(s); d.Dial != 10 {
		t.Fatalf("2.5 lines x 4 ready: dial %d, want 10", d.Dial)
	}
	s.Now = s.Now.Add(time.Minute)
	s.Trunk.FreeChannels = 4
	if d := p.Decide(s); d.Dial != 4 || d.Reason != ReasonCapChannel {
		t.Fatalf("4 free channels: dial %d (%s)", d.Dial, d.Reason)
	}
	s.Now = s.Now.Add(time.Minute)
	s.Trunk = Trunk{FreeChannels: NoLimit, CPS: 3}
	if d := p.Decide(s); d.Dial != 3 || d.Reason != ReasonCapCPS {
		t.Fatalf("3 cps: dial %d (%s)", d.Dial, d.Reason)
	}
	// Half a second later the bucket holds 1.5 calls.
	s.Now = s.Now.Add(500 * time.Millisecond)
	if d := p.Decide(s); d.Dial != 1 {
		t.Fatalf("3 cps, 0.5 s later: dial %d, want 1", d.Dial)
	}
	s.Now = s.Now.Add(time.Minute)
	s.Trunk.CPS = 0
	s.Settings.MaxLinesPerAgent = 1.5
	if d := p.Decide(s); d.Dial != 6 || d.Reason != ReasonCapLines {
		t.Fatalf("max 1.5 lines per agent: dial %d (%s), want 6", d.Dial, d.Reason)
	}
}
