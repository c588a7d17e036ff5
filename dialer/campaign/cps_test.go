package campaign

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// testClock is a runner's clock that the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// An IVR campaign places no more calls per second of its clock than the
// trunk's CPS, and what its pacer decided that the queue could not fill
// costs it none of them: with the clock held still, ticks over an empty
// queue leave the whole second's budget to the accounts loaded after them,
// and the pacer dials that budget and no more until the clock moves on.
// The pacer's ticks are the witness (PacingStatus.Ticks), not the wall
// clock: a tick seen two ticks back has claimed and counted its calls.
func TestIVRCampaignKeepsTheTrunksCPS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	const cps = 3
	line := newSimLine(t, simcarrier.Options{ByLastDigit: true, Ring: simcarrier.Range{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}},
		media.PortRange{Min: 49000, Max: 49099}, cps, 30)
	clock := &testClock{now: gateNow()}
	opt := h.runnerOptions(line, "cps")
	opt.Now = clock.Now
	opt.Tick = 20 * time.Millisecond
	r := New(opt)
	defer r.Close()
	id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) {
		c.MaxConcurrent, c.Retry = 20, queue.RetryPolicy{MaxAttempts: 1}
	})
	status := func() PacingStatus {
		for _, s := range r.Pacing() {
			if s.Campaign == id {
				return s
			}
		}
		return PacingStatus{}
	}
	// after waits for two ticks after now and returns the status then.
	after := func(what string) PacingStatus {
		t.Helper()
		from := status().Ticks
		var s PacingStatus
		if !polltest.Until(time.Minute, func() bool { s = status(); return s.Ticks >= from+2 }) {
			t.Fatalf("%s: the pacer did not tick (%+v)", what, s)
		}
		return s
	}
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Ticks over an empty queue: each decides the full budget, none placed.
	for range 5 {
		if s := after("empty queue"); s.Dials != 0 || s.Decision.Dial != cps || s.Reason != pacing.ReasonCapCPS {
			t.Fatalf("empty queue: %+v, want %d decided (cap_cps), none placed", s, cps)
		}
	}
	// Busy numbers (last digit 6): every call ends at once, so the
	// sessions never hold the pacer back; only the CPS does.
	run := time.Now().UnixNano() % 1e6
	var accts []queue.Account
	for i := range 12 {
		accts = append(accts, queue.Account{ID: fmt.Sprint("CPS-", i), NationalID: fmt.Sprint("cps", run, i), Country: "MX",
			Phones: []queue.Phone{{Number: fmt.Sprintf("+5255%05d%02d6", run%1e5, i)}}, Balance: decimal.NewFromInt(100), Currency: "MXN"})
	}
	h.load(t, ctx, id, accts)
	for sec := 1; sec <= 3; sec++ {
		want := int64(sec * cps)
		var s PacingStatus
		if !polltest.Until(time.Minute, func() bool { s = status(); return s.Dials >= want }) {
			t.Fatalf("second %d of the clock: %d calls placed, want %d (%+v)", sec, s.Dials, want, s)
		}
		for range 3 { // the clock held still: nothing more
			if s = after("clock held"); s.Dials != want || s.Decision.Dial != 0 || s.Reason != pacing.ReasonCapCPS {
				t.Fatalf("second %d of the clock: %+v, want %d placed and the pacer held by the CPS", sec, s, want)
			}
		}
		clock.add(time.Second)
	}
	if !polltest.Until(time.Minute, func() bool { return line.sim.Stats().Offered == 3*cps }) {
		t.Fatalf("the carrier saw %d INVITEs, want %d", line.sim.Stats().Offered, 3*cps)
	}
	if err := r.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.Wait()
}
