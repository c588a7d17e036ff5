package pacing

import (
	"testing"
	"time"
)

func TestAgentlessTargetSessions(t *testing.T) {
	p := NewAgentless(AgentlessConfig{})
	warm(p) // 35% of calls answered (people and machines)
	s := snap(nil, nil)
	s.Settings.TargetSessions = 20
	d := p.Decide(s)
	if d.Dial < 50 || d.Dial > 65 {
		t.Errorf("20 sessions wanted, none running: dial %d, want about 20/0.35 = 57", d.Dial)
	}
	s.Now = s.Now.Add(time.Minute)
	s.Sessions = 20
	if d := p.Decide(s); d.Dial != 0 || d.Reason != ReasonEnough {
		t.Errorf("20 sessions running: dial %d (%s)", d.Dial, d.Reason)
	}
	s.Sessions = 10
	s.Calls = ringing(30, time.Second) // about 10 answers coming
	s.Now = s.Now.Add(time.Minute)
	if d := p.Decide(s); d.Dial > 3 {
		t.Errorf("10 running, 30 fresh calls in flight: dial %d, want ~0", d.Dial)
	}
	s.Calls = ringing(30, 29*time.Second) // rung out: no answers coming
	s.Now = s.Now.Add(time.Minute)
	if d := p.Decide(s); d.Dial < 25 {
		t.Errorf("10 running, 30 calls about to time out: dial %d, want about 28", d.Dial)
	}
	s = snap(nil, nil)
	s.Settings.TargetSessions = 20
	s.Trunk.CPS = 4
	s.Now = s.Now.Add(time.Hour)
	if d := p.Decide(s); d.Dial != 4 || d.Reason != ReasonCapCPS {
		t.Errorf("4 cps: dial %d (%s)", d.Dial, d.Reason)
	}
}

// Sessions that transfer to agents are capped by what the agents can take,
// and nothing is dialled while transfers wait with no agent ready.
func TestAgentlessCountsTransfers(t *testing.T) {
	p := NewAgentless(AgentlessConfig{})
	warm(p) // agents handle 180 s per call
	for range 500 {
		p.Observe(Event{Kind: SessionEnded, Duration: 60 * time.Second})
		p.Observe(Event{Kind: Transferred, Duration: 60 * time.Second})
	}
	if q := p.TransferShare(); q < 0.45 || q > 0.55 {
		t.Fatalf("transfer share %.2f, want 0.5", q)
	}
	// 3 agents take 3/180 transfers a second; at half of 60 s sessions
	// transferring, that is 0.85 × 3/180 × 60/0.5 ≈ 1.7 sessions.
	s := snap(inState(Ready, time.Second, 3), nil)
	s.Settings.TargetSessions = 50
	if d := p.Decide(s); d.Dial > 6 {
		t.Errorf("3 agents, half the sessions transfer: dial %d, want about 1.7/0.35 = 4", d.Dial)
	}
	s.Now = s.Now.Add(time.Minute)
	s.Agents = inState(Talking, time.Second, 3)
	s.Waiting = 1
	if d := p.Decide(s); d.Dial != 0 {
		t.Errorf("a transfer waiting, no agent ready: dial %d", d.Dial)
	}
}

// The calls-per-second budget pays for calls placed: what a decision asked
// for and the queue did not fill is given back (Unplaced), never beyond a
// second's worth; without it a clock held still would stall the campaign.
func TestAgentlessUnplacedCallsGiveTheirCPSBack(t *testing.T) {
	p := NewAgentless(AgentlessConfig{})
	warm(p)
	s := snap(nil, nil)
	s.Settings.TargetSessions = 20
	s.Trunk.CPS = 4
	if d := p.Decide(s); d.Dial != 4 || d.Reason != ReasonCapCPS {
		t.Fatalf("4 cps: dial %d (%s)", d.Dial, d.Reason)
	}
	if d := p.Decide(s); d.Dial != 0 || d.Reason != ReasonCapCPS {
		t.Fatalf("4 cps, 4 placed this instant: dial %d (%s), want 0", d.Dial, d.Reason)
	}
	p.Unplaced(3) // the queue filled one of the four
	if d := p.Decide(s); d.Dial != 3 {
		t.Fatalf("3 of 4 not placed: dial %d, want 3", d.Dial)
	}
	p.Unplaced(100) // more than was charged: a second's worth at most
	if d := p.Decide(s); d.Dial != 4 {
		t.Fatalf("refund beyond the bucket: dial %d, want 4", d.Dial)
	}
	s.Now = s.Now.Add(500 * time.Millisecond)
	if d := p.Decide(s); d.Dial != 2 {
		t.Fatalf("half a second later: dial %d, want 2", d.Dial)
	}
}
