package campaign

import (
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/pacing"
)

// windowEvery is how often a campaign loop reads its abandon counts from
// Redis (today's hash every node counts into; the window's other days,
// which have ended, every few minutes: agent.Pool.RatesWith): they change
// slowly, and the pacer ticks four times a second.
const windowEvery = time.Second

// windowRead is the campaign's abandon counts as the predictive pacer's
// loop last read them, with the read's time on the runner's clock, and the
// abandons this node learned since. Those are added to what was read, so a
// burst of abandons brakes the pacer at its next tick, not a second later;
// the live answers since are not (an abandon counted twice for under a
// second errs on the side of the limit, a live answer counted twice would
// not).
type windowRead struct {
	at       time.Time
	rates    agent.Rates
	ok       bool
	abandons int64
}

// learned counts an abandon the pacer learns.
func (w *windowRead) learned(ev pacing.Event) {
	if ev.Kind == pacing.Abandoned {
		w.abandons++
	}
}

// counts are the window's counts at now: read (read) when the last read is
// a second old or more, or in the future of now (a clock set back); the
// day's counts when daily, else the rolling 30 days'.
func (w *windowRead) counts(now time.Time, daily bool, read func() (agent.Rates, error)) (pacing.WindowCounts, error) {
	if !w.ok || now.Before(w.at) || now.Sub(w.at) >= windowEvery {
		rates, err := read()
		if err != nil {
			w.ok = false
			return pacing.WindowCounts{}, err
		}
		// Abandons learned before the read are in it (counted in Redis when
		// the call was abandoned, learned when it settled).
		*w = windowRead{at: now, rates: rates, ok: true}
	}
	c := w.rates.Rolling
	if daily {
		c = w.rates.Today
	}
	c.Abandoned += w.abandons
	return c, nil
}
