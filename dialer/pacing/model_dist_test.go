package pacing

import (
	"math"
	"math/rand/v2"
	"testing"
)

func expCDF(mean float64) func(float64) float64 {
	return func(x float64) float64 { return 1 - math.Exp(-x/mean) }
}

func lognormal(r *rand.Rand, mean, cv float64) float64 {
	s2 := math.Log(1 + cv*cv)
	return math.Exp(math.Log(mean) - s2/2 + math.Sqrt(s2)*r.NormFloat64())
}

// A learned distribution matches the one its samples come from, in the body
// and in the conditional (residual) form the pacer uses.
func TestDistLearnsKnownDistributions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		mean float64
		cdf  func(float64) float64
		draw func() float64
	}{
		{"exponential 150s", 150, expCDF(150), func() float64 { return r.ExpFloat64() * 150 }},
		{"lognormal 150s cv1", 150, lognormalCDF(150, 1), func() float64 { return lognormal(r, 150, 1) }},
		{"lognormal 300s cv0.5", 300, lognormalCDF(300, 0.5), func() float64 { return lognormal(r, 300, 0.5) }},
	}
	for _, tc := range cases {
		// A prior far from the truth, forgotten as data arrives.
		d := newDist(handleGrid, 4000, lognormalCDF(60, 0.3), 5)
		for range 20000 {
			d.Add(tc.draw())
		}
		for _, x := range []float64{10, 30, 60, 120, 150, 300, 600, 1200} {
			if got, want := d.Survival(x), 1-tc.cdf(x); math.Abs(got-want) > 0.02 {
				t.Errorf("%s: S(%v) = %.3f, want %.3f", tc.name, x, got, want)
			}
		}
		for _, c := range [][2]float64{{0, 30}, {60, 30}, {150, 10}, {300, 60}, {600, 40}} {
			e, dt := c[0], c[1]
			want := 1 - (1-tc.cdf(e+dt))/(1-tc.cdf(e))
			if got := d.Residual(e, dt); math.Abs(got-want) > 0.03 {
				t.Errorf("%s: P(ends within %vs | lasted %vs) = %.3f, want %.3f", tc.name, dt, e, got, want)
			}
		}
		if m := d.Mean(); math.Abs(m-tc.mean)/tc.mean > 0.04 {
			t.Errorf("%s: mean %.1f", tc.name, m)
		}
	}
}

// A fixed duration (wrap-up) is learned to within its one-second bin, so an
// agent in wrap is known to be free at the right second.
func TestDistFixedDuration(t *testing.T) {
	d := newDist(handleGrid, 500, lognormalCDF(20, 1), 3)
	for range 2000 {
		d.Add(30)
	}
	if p := d.Residual(20, 9); p > 0.01 {
		t.Errorf("P(30 s wrap ends within 9 s after 20 s) = %.3f, want ~0", p)
	}
	if p := d.Residual(20, 11); p < 0.99 {
		t.Errorf("P(30 s wrap ends within 11 s after 20 s) = %.3f, want ~1", p)
	}
}

// Old observations fade: after a change, the last Memory observations carry
// the estimate.
func TestDistForgets(t *testing.T) {
	d := newDist(handleGrid, 300, lognormalCDF(100, 1), 3)
	for range 3000 {
		d.Add(60)
	}
	for range 1500 { // five memories of the new value
		d.Add(240)
	}
	if s := d.Survival(120); s < 0.98 {
		t.Errorf("S(120) = %.3f after the durations moved from 60 s to 240 s, want ~1", s)
	}
	if q := d.Quantile(0.5); q < 240 || q > 245 { // 240 s sits in a 5 s bin
		t.Errorf("median %.1f, want 240-245", q)
	}
}

// Past the grid the tail is memoryless with the observed mean excess.
func TestDistTail(t *testing.T) {
	d := newDist(ringGrid, 1000, lognormalCDF(10, 0.5), 3)
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		d.Add(120 + r.ExpFloat64()*20)
	}
	if got, want := d.Residual(150, 20), 1-math.Exp(-1); math.Abs(got-want) > 0.03 {
		t.Errorf("tail residual %.3f, want %.3f", got, want)
	}
	if m := d.Mean(); math.Abs(m-140) > 2 {
		t.Errorf("mean %.1f, want 140", m)
	}
}
