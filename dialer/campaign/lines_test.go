package campaign

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/ivr"
)

// A loop's lines give the pacer its calls in flight with their ring time
// on the runner's clock, the answered calls still holding a line, and the
// outcomes to learn, each once: a contact the gate blocked or a call that
// never left teaches nothing.
func TestLinesFeedThePacer(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := t0
	ls := newLines(func() time.Time { return now })
	var got []pacing.Event
	observe := func(ev pacing.Event) { got = append(got, ev) }
	blocked, local, busy, live, gone := ls.add(), ls.add(), ls.add(), ls.add(), ls.add()
	now = now.Add(time.Second)
	busy.sending()
	live.sending()
	gone.sending()
	local.sending()
	now = now.Add(3 * time.Second)
	calls, waiting, machines, xfer := ls.counts(now, nil, observe)
	rings := []time.Duration{}
	for _, c := range calls {
		rings = append(rings, c.Ringing)
	}
	slices.Sort(rings)
	if want := []time.Duration{0, 3 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second}; !slices.Equal(rings, want) ||
		waiting != 0 || machines != 0 || xfer != 0 || len(got) != 0 {
		t.Fatalf("ringing %v, waiting %d, machines %d, xfer %d, events %v", rings, waiting, machines, xfer, got)
	}
	blocked.done()
	local.notSent()
	local.done()
	busy.done()
	live.answered()
	gone.machine()
	_, waiting, machines, _ = ls.counts(now, nil, observe)
	want := []pacing.Event{{Kind: pacing.NotAnswered, At: now, Duration: 3 * time.Second},
		{Kind: pacing.AnsweredLive, At: now, Duration: 3 * time.Second}, {Kind: pacing.AnsweredMachine, At: now, Duration: 3 * time.Second}}
	if !slices.Equal(got, want) || waiting != 1 || machines != 1 {
		t.Fatalf("events %v, waiting %d, machines %d", got, waiting, machines)
	}
	// The blocked contact and the local error placed no call: the pacer
	// gets their calls per second back, once.
	if n, again := ls.unplaced(), ls.unplaced(); n != 2 || again != 0 {
		t.Fatalf("unplaced %d then %d, want 2 then 0", n, again)
	}
	// The answered call is connected, talks 20 s and wraps up 5 s; its
	// attempt settles with them.
	got = nil
	live.done()
	live.done() // twice: counted once
	now = now.Add(30 * time.Second)
	lc := &liveCall{connected: now.Add(-25 * time.Second), wrapEnd: now}
	live.settled(&analytics.Attempt{TalkMS: 20000, WrapMS: 5000}, &agentCall{lc: lc}, ivr.Result{})
	_, waiting, _, _ = ls.counts(now, nil, observe)
	want = []pacing.Event{{Kind: pacing.TalkEnded, At: now, Duration: 20 * time.Second}, {Kind: pacing.WrapEnded, At: now, Duration: 5 * time.Second},
		{Kind: pacing.Connected, At: now}}
	if !slices.Equal(got, want) || waiting != 0 {
		t.Fatalf("settled: events %v, waiting %d", got, waiting)
	}
	// An abandoned one is learned as such; a call without a line (a one-off
	// call) changes nothing.
	got = nil
	ab := ls.add()
	ab.sending()
	ab.answered()
	ab.done()
	ab.settled(&analytics.Attempt{Abandoned: true}, &agentCall{lc: &liveCall{}}, ivr.Result{})
	var none *line
	none.sending()
	none.answered()
	none.done()
	none.settled(&analytics.Attempt{}, nil, ivr.Result{})
	ls.counts(now, nil, observe)
	if len(got) != 2 || got[0].Kind != pacing.AnsweredLive || got[1].Kind != pacing.Abandoned {
		t.Fatalf("abandoned: %v", got)
	}
}

// The abandon counts are read from Redis at most once a second of the
// runner's clock; the abandons this node learns in between are added at
// once, so a burst of them brakes the pacer at its next tick.
func TestAbandonWindowReadOncePerSecond(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	reads := 0
	stored := agent.Rates{Today: pacing.WindowCounts{Live: 10, Abandoned: 1}, Rolling: pacing.WindowCounts{Live: 100, Abandoned: 2}}
	read := func() (agent.Rates, error) { reads++; return stored, nil }
	var w windowRead
	check := func(now time.Time, daily bool, wantReads int, want pacing.WindowCounts) {
		t.Helper()
		got, err := w.counts(now, daily, read)
		if err != nil || reads != wantReads || got != want {
			t.Fatalf("at %v: counts %+v (err %v) after %d reads, want %+v after %d", now.Sub(t0), got, err, reads, want, wantReads)
		}
	}
	check(t0, false, 1, stored.Rolling)
	check(t0.Add(250*time.Millisecond), true, 1, stored.Today)
	w.learned(pacing.Event{Kind: pacing.Abandoned})
	w.learned(pacing.Event{Kind: pacing.AnsweredLive})
	w.learned(pacing.Event{Kind: pacing.Abandoned})
	check(t0.Add(999*time.Millisecond), false, 1, pacing.WindowCounts{Live: 100, Abandoned: 4})
	// A second on: read again; the abandons are in Redis's counts now.
	stored.Rolling = pacing.WindowCounts{Live: 103, Abandoned: 4}
	check(t0.Add(time.Second), false, 2, stored.Rolling)
	check(t0.Add(1500*time.Millisecond), false, 2, stored.Rolling)
	// A clock set back reads again; a failed read is not kept.
	check(t0, false, 3, stored.Rolling)
	if _, err := w.counts(t0.Add(5*time.Second), false, func() (agent.Rates, error) { return agent.Rates{}, errors.New("down") }); err == nil {
		t.Fatal("a failed read gave counts")
	}
	check(t0.Add(5*time.Second), false, 4, stored.Rolling)
}
