package media

import (
	"testing"
	"time"
)

// Both tickers: a tick never comes early, a late waiter is told how many
// ticks it missed, and close ends a wait in progress.
func TestTickers(t *testing.T) {
	for name, mk := range map[string]func(time.Duration) ticker{
		"timerfd": func(o time.Duration) ticker {
			tk, err := newFDTicker(o)
			if err != nil {
				t.Skip(err)
			}
			return tk
		},
		"go timer": func(o time.Duration) ticker { return newTimerTicker(o) },
	} {
		t.Run(name, func(t *testing.T) {
			const offset = 5 * time.Millisecond
			start := time.Now()
			tk := mk(offset)
			ticks := 0
			for range 5 {
				ticks += tk.wait()
				if due := start.Add(offset + time.Duration(ticks)*FrameDuration); time.Now().Before(due) {
					t.Fatalf("tick %d came %s early", ticks, time.Until(due))
				}
			}
			time.Sleep(3*FrameDuration + FrameDuration/2) // not synchronisation: the ticker falls behind
			if n := tk.wait(); n < 3 {
				t.Fatalf("a wait after missing three ticks counted %d", n)
			}
			done := make(chan int)
			go func() { done <- tk.wait() + tk.wait() + tk.wait() }()
			tk.close()
			select {
			case n := <-done:
				if n > 2 {
					t.Fatalf("waits after close counted %d ticks", n)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("close did not end the wait")
			}
		})
	}
}

// A wait on the timerfd ticker allocates nothing (800 of them a second at
// the default 16 shards).
func TestFDTickerWaitDoesNotAllocate(t *testing.T) {
	tk, err := newFDTicker(0)
	if err != nil {
		t.Skip(err)
	}
	defer tk.close()
	if allocs := testing.AllocsPerRun(5, func() { tk.wait() }); allocs != 0 {
		t.Fatalf("%.1f allocations per wait", allocs)
	}
}
