package media

import "time"

// ticker wakes a pacer shard every FrameDuration: wait returns how many
// ticks have passed since the last wait (more than one when the shard ran
// late), or 0 once close has been called; skip forgets the ticks that have
// passed (the next wait returns at the next tick).
type ticker interface {
	wait() int
	skip()
	close()
}

// newTicker ticks every FrameDuration from offset after now on: on a
// timerfd where the platform has one (ticker_linux.go), else on Go timers.
func newTicker(offset time.Duration) ticker {
	if t, err := newFDTicker(offset); err == nil {
		return t
	}
	return newTimerTicker(offset)
}

// timerTicker ticks on a Go timer, on absolute deadlines so that ticks
// never drift.
type timerTicker struct {
	next  time.Time
	timer *time.Timer
	stop  chan struct{}
}

func newTimerTicker(offset time.Duration) *timerTicker {
	return &timerTicker{next: time.Now().Add(offset + FrameDuration), timer: time.NewTimer(time.Hour), stop: make(chan struct{})}
}

func (t *timerTicker) wait() int {
	for n := 0; ; {
		d := time.Until(t.next)
		switch {
		case d <= 0:
			n++
			t.next = t.next.Add(FrameDuration)
		case n > 0:
			return n
		default:
			t.timer.Reset(d)
			select {
			case <-t.timer.C:
			case <-t.stop:
				return 0
			}
		}
	}
}

func (t *timerTicker) skip() {
	for now := time.Now(); !now.Before(t.next); {
		t.next = t.next.Add(FrameDuration)
	}
}

func (t *timerTicker) close() { t.timer.Stop(); close(t.stop) }
