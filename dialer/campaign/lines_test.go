package campaign

import (
	"slices"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/ivr"
)

// A loop's lines give the pacer its calls in flight with their ring time
// on the runner's clock, the answered calls still holding a line, and the
// outcomes to learn, each once: a contact the gate blocked or a call that
// never left teaches nothing.
func TestLinesFeedThePacer(t *testing.T) {
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
