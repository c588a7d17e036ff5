package bench

import (
	"testing"
	"time"
)

// Quantiles past 200 ms are measured, not capped: 1 ms buckets up to
// 10.2 s, then the maximum seen.
func TestHistogramBeyond200ms(t *testing.T) {
	var h histogram
	for range 98 {
		h.add(20 * time.Millisecond)
	}
	h.add(350 * time.Millisecond)
	h.add(30 * time.Second)
	if q := h.quantile(0.5); q != 20 {
		t.Fatalf("p50 %v ms", q)
	}
	if q := h.quantile(0.985); q != 350 {
		t.Fatalf("p98.5 %v ms, want 350", q)
	}
	if q := h.quantile(0.999); q != 30000 {
		t.Fatalf("p99.9 %v ms, want the maximum 30000", q)
	}
}
