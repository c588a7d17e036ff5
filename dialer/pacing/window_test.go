package pacing

import (
	"testing"
	"time"
)

func TestAbandonWindowRolling(t *testing.T) {
	w := NewAbandonWindow(WindowUS)
	day := 24 * time.Hour
	for d := range 40 { // 100 live answers a day, 3 abandoned
		for i := range 100 {
			w.Add(t0.Add(time.Duration(d)*day+time.Duration(i)*time.Minute), i < 3)
		}
	}
	now := t0.Add(39*day + 3*time.Hour)
	if live, ab := w.Counts(now); live != 3000 || ab != 90 {
		t.Errorf("30-day window: %d live, %d abandoned, want 3000, 90", live, ab)
	}
	if live, _ := w.Counts(now.Add(day)); live != 2900 {
		t.Errorf("30-day window a day later: %d live, want 2900", live)
	}
	now = t0.Add(39*day + 100*time.Minute)
	if r, live := w.Rate(now, time.Hour); live != 60 || r != 0 {
		t.Errorf("last hour: rate %v over %d, want 0 over 60", r, live)
	}
	if r, live := w.Rate(now, 23*time.Hour); live != 100 || r != 0.03 {
		t.Errorf("last day: rate %v over %d, want 0.03 over 100", r, live)
	}
}

func TestAbandonWindowDaily(t *testing.T) {
	loc := time.FixedZone("UK", 0)
	w := NewAbandonWindow(WindowUK(loc))
	w.Add(t0, true)
	w.Add(t0.Add(time.Hour), false)
	if live, ab := w.Counts(t0.Add(2 * time.Hour)); live != 2 || ab != 1 {
		t.Errorf("same day: %d/%d", live, ab)
	}
	next := time.Date(t0.Year(), t0.Month(), t0.Day()+1, 0, 1, 0, 0, loc)
	if live, ab := w.Counts(next); live != 0 || ab != 0 {
		t.Errorf("next day: %d/%d, want a fresh window", live, ab)
	}
	w.Add(next, false)
	if live, _ := w.Counts(next.Add(time.Minute)); live != 1 {
		t.Errorf("next day after one answer: %d live", live)
	}
}
