package pacing

import "time"

// WindowRule says which live answers and abandons count against the
// abandon limit.
type WindowRule struct {
	// Rolling is the length of a rolling window (US Reg F / TCPA: 30 days
	// per campaign).
	Rolling time.Duration
	// Daily counts the calendar day in Location instead (UK Ofcom: per
	// campaign per day).
	Daily    bool
	Location *time.Location
}

// WindowUS is the US rule: abandons ≤ 3% of live answers per campaign over
// 30 days.
var WindowUS = WindowRule{Rolling: 30 * 24 * time.Hour}

// WindowUK is the UK rule: abandons ≤ 3% of live calls per campaign per day.
func WindowUK(loc *time.Location) WindowRule { return WindowRule{Daily: true, Location: loc} }

const (
	windowBucket = 5 * time.Minute
	windowSlots  = int64(30*24*time.Hour/windowBucket) + 1
)

type windowSlot struct {
	idx             int64 // bucket number (Unix time / bucket), or -1 when empty
	live, abandoned int64
}

// AbandonWindow counts live answers and abandons in five-minute buckets over
// the last 30 days, and keeps running totals for the compliance window of
// its rule. Adding and reading the window are O(1) per bucket boundary
// crossed; nothing is allocated after it is made.
type AbandonWindow struct {
	rule            WindowRule
	slots           []windowSlot
	from            int64 // first bucket inside the window
	live, abandoned int64 // totals over buckets ≥ from
}

// NewAbandonWindow returns an empty window for rule (the US rule when rule
// is zero).
func NewAbandonWindow(rule WindowRule) *AbandonWindow {
	if rule.Rolling <= 0 && !rule.Daily {
		rule = WindowUS
	}
	if rule.Rolling > 30*24*time.Hour {
		rule.Rolling = 30 * 24 * time.Hour
	}
	if rule.Daily && rule.Location == nil {
		rule.Location = time.UTC
	}
	w := &AbandonWindow{rule: rule, slots: make([]windowSlot, windowSlots)}
	for i := range w.slots {
		w.slots[i].idx = -1
	}
	return w
}

func bucketOf(t time.Time) int64 { return t.Unix() / int64(windowBucket/time.Second) }

// Add counts one live answer at t, abandoned or not.
func (w *AbandonWindow) Add(t time.Time, abandoned bool) {
	i := bucketOf(t)
	s := &w.slots[i%windowSlots]
	if s.idx != i {
		if s.idx >= w.from {
			w.live -= s.live
			w.abandoned -= s.abandoned
		}
		*s = windowSlot{idx: i}
	}
	s.live++
	if abandoned {
		s.abandoned++
	}
	if i >= w.from {
		w.live++
		if abandoned {
			w.abandoned++
		}
	}
}

// Counts are the live answers and abandons in the compliance window at now.
func (w *AbandonWindow) Counts(now time.Time) (live, abandoned int64) {
	var start int64
	if w.rule.Daily {
		l := now.In(w.rule.Location)
		start = bucketOf(time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, w.rule.Location))
	} else {
		start = bucketOf(now.Add(-w.rule.Rolling))
	}
	if start > w.from {
		if start-w.from >= windowSlots { // a long jump: look at every slot once
			for i := range w.slots {
				if s := &w.slots[i]; s.idx >= w.from && s.idx < start {
					w.live -= s.live
					w.abandoned -= s.abandoned
				}
			}
		} else {
			for i := w.from; i < start; i++ {
				if s := &w.slots[i%windowSlots]; s.idx == i {
					w.live -= s.live
					w.abandoned -= s.abandoned
				}
			}
		}
		w.from = start
	}
	return w.live, w.abandoned
}

// Rate is abandoned ÷ live answers over the last d (at most 30 days) before
// now, and the number of live answers it is taken over; 0 with none.
func (w *AbandonWindow) Rate(now time.Time, d time.Duration) (rate float64, live int64) {
	end := bucketOf(now)
	start := bucketOf(now.Add(-d))
	var ab int64
	for i := max(start, end-windowSlots+1); i <= end; i++ {
		s := &w.slots[i%windowSlots]
		if s.idx == i {
			live += s.live
			ab += s.abandoned
		}
	}
	if live == 0 {
		return 0, 0
	}
	return float64(ab) / float64(live), live
}
