package campaign

import (
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
)

// The retry policy, case by case: when an account is due again after an
// attempt, and when it is done.
func TestNextDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)
	d := func(v time.Duration) queue.Duration { return queue.Duration(v) }
	plain := queue.RetryPolicy{MaxAttempts: 3} // no delays: an hour, a minute for local errors
	tuned := queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{
		"default": d(2 * time.Hour), analytics.Busy: d(30 * time.Minute), analytics.NetworkError: d(10 * time.Minute),
		analytics.LocalError: d(5 * time.Minute), analytics.InvalidNumber: d(time.Minute)}}
	callsBack := queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{analytics.Answered: d(24 * time.Hour)}}
	const done = time.Duration(-1)
	for _, tc := range []struct {
		name   string
		policy queue.RetryPolicy
		o      outcome
		after  time.Duration // done: the account is done
		undo   bool
	}{
		{"busy, first attempt: the busy delay", tuned, outcome{Disposition: analytics.Busy, Attempt: 1}, 30 * time.Minute, false},
		{"busy, no delays: an hour", plain, outcome{Disposition: analytics.Busy, Attempt: 1}, time.Hour, false},
		{"no answer: the default delay", tuned, outcome{Disposition: analytics.NoAnswer, Attempt: 2}, 2 * time.Hour, false},
		{"busy, last attempt: done", tuned, outcome{Disposition: analytics.Busy, Attempt: 3}, done, false},
		{"past the last attempt: done", tuned, outcome{Disposition: analytics.Busy, Attempt: 4}, done, false},
		{"answered: done", tuned, outcome{Disposition: analytics.Answered, Attempt: 1}, done, false},
		{"answered, the campaign calls back: its delay", callsBack, outcome{Disposition: analytics.Answered, Attempt: 1}, 24 * time.Hour, false},
		{"answered, calls back, last attempt: done", callsBack, outcome{Disposition: analytics.Answered, Attempt: 3}, done, false},
		{"a script error is retried like a busy line", tuned, outcome{Disposition: analytics.IVRError, Attempt: 1}, 2 * time.Hour, false},
		{"a promise: done", tuned, outcome{Disposition: analytics.Answered, Attempt: 1, Settled: true}, done, false},
		{"a promise, the campaign calls back: done", callsBack, outcome{Disposition: analytics.Answered, Attempt: 1, Settled: true}, done, false},
		{"a script error after a promise: done", tuned, outcome{Disposition: analytics.IVRError, Attempt: 1, Settled: true}, done, false},
		{"invalid only phone: done", tuned, outcome{Disposition: analytics.InvalidNumber, Attempt: 1}, done, false},
		{"invalid, other phones: the next one after the delay", tuned,
			outcome{Disposition: analytics.InvalidNumber, Attempt: 1, OtherPhones: true}, time.Minute, false},
		{"local error: taken back, its delay", tuned, outcome{Disposition: analytics.LocalError, Attempt: 3}, 5 * time.Minute, true},
		{"local error, no delays: taken back, a minute", plain, outcome{Disposition: analytics.LocalError, Attempt: 1}, time.Minute, true},
		{"interrupted: the network error delay", tuned, outcome{Disposition: analytics.Interrupted}, 10 * time.Minute, false},
		{"interrupted, no delays: an hour", plain, outcome{Disposition: analytics.Interrupted, Attempt: 9}, time.Hour, false},
		{"abandoned: its delay", queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{analytics.Abandoned: d(20 * time.Minute)}},
			outcome{Disposition: analytics.Abandoned, Attempt: 1}, 20 * time.Minute, false},
		{"agent code, final: done", tuned, outcome{Disposition: analytics.Answered, Attempt: 1, Code: "paid", Settled: true}, done, false},
		{"agent code refused: the code's delay in retry.delays", queue.RetryPolicy{MaxAttempts: 3,
			Delays: map[string]queue.Duration{"refused": d(48 * time.Hour), "default": d(time.Hour)}},
			outcome{Disposition: analytics.Answered, Attempt: 1, Code: "refused"}, 48 * time.Hour, false},
		{"agent code, not final: retried though answered", tuned, outcome{Disposition: analytics.Answered, Attempt: 1, Code: "third_party"},
			2 * time.Hour, false},
		{"custom code's own delay", tuned, outcome{Disposition: analytics.Answered, Attempt: 1, Code: "hardship", CodeRetry: 72 * time.Hour},
			72 * time.Hour, false},
		{"agent code, last attempt: done", tuned, outcome{Disposition: analytics.Answered, Attempt: 3, Code: "refused"}, done, false},
		{"call back: at its time, even past the last attempt", tuned,
			outcome{Disposition: analytics.Answered, Attempt: 3, Code: "callback", CallbackAt: now.Add(26 * time.Hour)}, 26 * time.Hour, false},
		{"interrupted, default only: the default", queue.RetryPolicy{MaxAttempts: 1, Delays: map[string]queue.Duration{"default": d(3 * time.Hour)}},
			outcome{Disposition: analytics.Interrupted}, 3 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nextDue(tc.policy, tc.o, now)
			want := retryDecision{Undo: tc.undo}
			if tc.after != done {
				want.Next = now.Add(tc.after)
			}
			if got != want {
				t.Fatalf("nextDue(%+v, %+v) = %+v, want %+v", tc.policy, tc.o, got, want)
			}
		})
	}
}
