// Package polltest waits, in tests, for a fact that can only be polled: a
// state in Redis, a row in ClickHouse, a counter, a log line, audio a
// recorder has collected. Where the code under test offers a channel or a
// callback (Leg.Ended, Bridge.Done, an event stream), wait on that instead.
//
// It imports nothing of Marcador, so every test can use it without an
// import cycle, ivr/media's own (package media) tests included; it lives
// under analytics, the package every other one may import, as proctest does.
package polltest

import (
	"testing"
	"time"
)

// Interval is how often a condition is asked: a wait ends within about this
// much of the fact, and asking (often a Redis, ClickHouse or HTTP round
// trip) stays a small load on a busy machine.
const Interval = 10 * time.Millisecond

// Until asks cond, every Interval, until it holds or timeout has passed, and
// says whether it held. cond runs on the caller's goroutine. Until fails no
// test: use it off the test's goroutine, or where the test reports the
// timeout itself with what it saw.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(Interval)
	}
	return true
}

// Eventually fails the test unless cond holds within timeout; what names
// the fact waited for ("the call to end"). Call it on the test's goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}
