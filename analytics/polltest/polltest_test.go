package polltest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	n := 0
	if !Until(time.Minute, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("Until returned before the third ask (%d)", n)
	}
	start := time.Now()
	if Until(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds held")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("gave up after %s, before the timeout", d)
	}
}

// fatalT records Fatalf instead of stopping the goroutine.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper()                        {}
func (f *fatalT) Fatalf(format string, a ...any) { f.msg = fmt.Sprintf(format, a...) }

func TestEventuallyFailsWithWhat(t *testing.T) {
	f := &fatalT{TB: t}
	Eventually(f, 20*time.Millisecond, func() bool { return false }, "nothing")
	if !strings.Contains(f.msg, "waiting for nothing") {
		t.Fatalf("failure %q for a condition that never held", f.msg)
	}
	f.msg = ""
	Eventually(f, time.Minute, func() bool { return true }, "something")
	if f.msg != "" {
		t.Fatalf("failed a condition that held: %s", f.msg)
	}
}
