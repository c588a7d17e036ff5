package pacing

import (
	"math"
	"testing"
	"time"
)

// tickFor runs the pacer once a second for d with the same campaign state
// and returns the last decision.
func tickFor(v *Vicidial, s *Snapshot, d time.Duration) Decision {
	var last Decision
	for end := s.Now.Add(d); s.Now.Before(end); s.Now = s.Now.Add(time.Second) {
		last = v.Decide(s)
	}
	return last
}

// With 5 of 10 agents ready and no call waiting for 15 s, the level rises by
// 50% (intensity 0); it never passes the maximum level.
func TestVicidialLevelUpdate(t *testing.T) {
	v := NewVicidial(VicidialConfig{})
	a := append(inState(Ready, time.Second, 5), inState(Talking, time.Minute, 5)...)
	s := snap(a, nil)
	tickFor(v, s, 16*time.Second)
	if math.Abs(v.DialLevel()-1.5) > 1e-9 {
		t.Fatalf("level %.3f after one recalculation, want 1.5", v.DialLevel())
	}
	tickFor(v, s, 60*time.Second)
	if v.DialLevel() != 3.0 {
		t.Errorf("level %.3f, want the 3.0 cap", v.DialLevel())
	}
	// Intensity +40: the same surplus raises it 40% faster.
	w := NewVicidial(VicidialConfig{Intensity: 40})
	tickFor(w, snap(a, nil), 16*time.Second)
	if math.Abs(w.DialLevel()-1.7) > 1e-9 {
		t.Errorf("intensity 40: level %.3f, want 1.7", w.DialLevel())
	}
	// Calls waiting and nobody ready: the level falls, but never under 1.0.
	busy := snap(inState(Talking, time.Minute, 10), nil)
	busy.Now = s.Now
	busy.Waiting = 3
	tickFor(v, busy, 16*time.Second)
	if math.Abs(v.DialLevel()-3.0*0.7) > 1e-9 {
		t.Errorf("3 waiting of 10 agents: level %.3f, want 2.1", v.DialLevel())
	}
	tickFor(v, busy, 5*time.Minute)
	if v.DialLevel() != 1.0 {
		t.Errorf("level %.3f after long waits, want the 1.0 floor", v.DialLevel())
	}
}

// Level × counted agents (not paused, not in wrap-up) less the calls
// existing (ringing, waiting, connected), every 2.5 s.
func TestVicidialPlacesCalls(t *testing.T) {
	v := NewVicidial(VicidialConfig{})
	v.dl = 2
	a := append(inState(Ready, time.Second, 3), inState(Talking, time.Minute, 2)...)
	a = append(a, inState(Wrap, time.Second, 4)...)
	a = append(a, inState(Paused, time.Second, 6)...)
	s := snap(a, ringing(4, time.Second))
	if d := v.Decide(s); d.Dial != 2*5-4-2 {
		t.Fatalf("level 2, 5 counted agents, 4 ringing, 2 connected: dial %d, want 4", d.Dial)
	}
	s.Now = s.Now.Add(time.Second)
	if d := v.Decide(s); d.Dial != 0 || d.Reason != ReasonWait {
		t.Errorf("1 s later: dial %d (%s), want to wait for 2.5 s", d.Dial, d.Reason)
	}
	s.Now = s.Now.Add(2 * time.Second)
	s.Calls = ringing(8, 2*time.Second)
	if d := v.Decide(s); d.Dial != 0 || d.Reason != ReasonEnough {
		t.Errorf("goal reached: dial %d (%s)", d.Dial, d.Reason)
	}
	for _, agents := range [][]Agent{nil, inState(Paused, time.Second, 3)} {
		s := snap(agents, nil)
		s.Now = s.Now.Add(time.Hour)
		if d := v.Decide(s); d.Dial != 0 || d.Reason != ReasonNoAgents {
			t.Errorf("%d agents, none available: dial %d (%s)", len(agents), d.Dial, d.Reason)
		}
	}
}

// Over the day's drop limit (more than 50 calls): each method's brake.
func TestVicidialDropBrakes(t *testing.T) {
	loc := time.UTC
	for _, tc := range []struct {
		mode VicidialMode
		at   time.Time
		want float64
	}{
		{AdaptHardLimit, time.Date(2025, 3, 3, 10, 0, 0, 0, loc), 1.0},
		{AdaptAverage, time.Date(2025, 3, 3, 10, 0, 0, 0, loc), 1.5},       // 3.0 / 2
		{AdaptTapered, time.Date(2025, 3, 3, 10, 0, 0, 0, loc), 3.0},       // 11 h before 21:00: no taper
		{AdaptTapered, time.Date(2025, 3, 3, 16, 0, 0, 0, loc), 3.0 * 0.5}, // (2100-1600)/1000
		{AdaptTapered, time.Date(2025, 3, 3, 21, 30, 0, 0, loc), 1.0},      // past the latest time
	} {
		v := NewVicidial(VicidialConfig{Mode: tc.mode, Location: loc})
		v.dl = 3.0
		s := snap(append(inState(Ready, time.Second, 5), inState(Talking, time.Minute, 5)...), nil)
		s.Now = tc.at
		v.Decide(s) // the day starts; 5 calls... placed on this tick count as calls
		v.callsToday = 100
		for i := range 100 { // 5% of human answers dropped, spread over the hour
			at := tc.at.Add(-time.Duration(i) * 30 * time.Second)
			v.Observe(Event{Kind: AnsweredLive, At: at})
			if i%20 == 0 {
				v.Observe(Event{Kind: Abandoned, At: at})
			}
		}
		v.lastStats, v.lastRecalc = time.Time{}, tc.at.Add(-time.Minute)
		v.nSamples = 0
		s.Agents = append(inState(Ready, time.Second, 0), inState(Talking, time.Minute, 10)...)
		s.Now = tc.at.Add(time.Second)
		v.Decide(s) // no surplus: the level holds before the brake
		if math.Abs(v.DialLevel()-tc.want) > 1e-9 {
			t.Errorf("%v at %s: level %.3f, want %.3f", tc.mode, tc.at.Format("15:04"), v.DialLevel(), tc.want)
		}
	}
}
