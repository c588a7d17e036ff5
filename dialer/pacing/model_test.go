package pacing

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// An agent talking for e seconds under exponential talk times frees with the
// memoryless probability shifted by the (fixed) wrap-up; under lognormal
// talk times with the conditional probability; an agent in wrap-up at the
// right second.
func TestHandleModelPredictsFreeAgents(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name string
		cdf  func(float64) float64
		draw func() float64
	}{
		{"exponential", expCDF(150), func() float64 { return r.ExpFloat64() * 150 }},
		{"lognormal", lognormalCDF(150, 1), func() float64 { return lognormal(r, 150, 1) }},
	} {
		m := newHandleModel(1e6)
		for range 20000 {
			m.observe(Event{Kind: TalkEnded, Duration: secs(tc.draw())})
			m.observe(Event{Kind: WrapEnded, Duration: 10 * time.Second})
		}
		const bins = 41
		m.prepare(bins, 1)
		out := make([]float64, bins)
		for _, e := range []float64{0, 30, 150, 400} {
			m.freeBy(Agent{State: Talking, InState: secs(e)}, out)
			for _, k := range []int{10, 20, 40} {
				// Wrap-up is 10 s (learned in [10,11)): free by k when the
				// talk ends within about k-10.5 s.
				t2 := float64(k) - 10.5
				want := 1 - (1-tc.cdf(e+t2))/(1-tc.cdf(e))
				if math.Abs(out[k]-want) > 0.03 {
					t.Errorf("%s: talking %vs, P(free within %ds) = %.3f, want %.3f", tc.name, e, k, out[k], want)
				}
			}
		}
		m.freeBy(Agent{State: Wrap, InState: 4 * time.Second}, out)
		if out[5] > 0.01 || out[8] < 0.99 {
			t.Errorf("%s: 4 s into a 10 s wrap-up: P(free in 5 s) %.3f, in 8 s %.3f", tc.name, out[5], out[8])
		}
		m.freeBy(Agent{State: Ready}, out)
		if out[0] != 1 {
			t.Errorf("ready agent: %v", out[0])
		}
	}
}

// A call in flight: the chance a person answers it, and when, is the prior
// share conditioned on its having rung a seconds without an answer (the
// survival of each outcome's ring time), here checked against the exact
// Bayes figure for known distributions.
func TestAnswerModelRingSurvival(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m := newAnswerModel()
	const pl, pm = 0.10, 0.25
	liveCDF, machCDF := lognormalCDF(10, 0.5), lognormalCDF(18, 0.3)
	for range 30000 {
		u := r.Float64()
		switch {
		case u < pl:
			m.observe(Event{Kind: AnsweredLive, Duration: secs(lognormal(r, 10, 0.5))})
		case u < pl+pm:
			m.observe(Event{Kind: AnsweredMachine, Duration: secs(lognormal(r, 18, 0.3))})
		default:
			m.observe(Event{Kind: NotAnswered, Duration: 30 * time.Second})
		}
	}
	if got := m.share(outLive); math.Abs(got-pl) > 0.02 {
		t.Errorf("live share %.3f, want %.2f", got, pl)
	}
	out := make([]float64, 40)
	for _, a := range []float64{0, 5, 10, 15, 20, 25} {
		sl, sm := 1-liveCDF(a), 1-machCDF(a)
		z := pl*sl + pm*sm + (1 - pl - pm)
		want := pl * sl / z
		got := m.liveBins(a, 1, out)
		if math.Abs(got-want) > 0.015 {
			t.Errorf("rang %vs: P(live) = %.3f, want %.3f", a, got, want)
		}
		// and when: the first 5 s of the rest of its ring
		want5 := pl * (sl - (1 - liveCDF(a+5))) / z
		var got5 float64
		for _, p := range out[:5] {
			got5 += p
		}
		if math.Abs(got5-want5) > 0.015 {
			t.Errorf("rang %vs: P(live within 5 s) = %.3f, want %.3f", a, got5, want5)
		}
	}
	// Past every answer seen, a call is one nobody answers.
	if p := m.liveBins(29, 1, out); p > 0.002 {
		t.Errorf("rang 29 s: P(live) = %.4f, want ~0", p)
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
