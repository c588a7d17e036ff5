package sparselog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A flood logs its burst, and the next line written says how many were
// left out.
func TestBurstThenCount(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	s := New()
	for range 100 {
		s.Warn(log, "stranger")
	}
	if n := strings.Count(buf.String(), "stranger"); n < 5 || n > 7 {
		t.Fatalf("%d lines for a flood of 100, want the burst of 5 (and at most a refill or two)", n)
	}
	s.lim.SetBurst(1) // a slot, as a second later
	s.lim.SetLimit(1e9)
	s.Warn(log, "after")
	if !strings.Contains(buf.String(), "not_logged_since_last=") {
		t.Fatalf("the line after the flood does not count what was left out:\n%s", buf.String())
	}
}
