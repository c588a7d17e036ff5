package media

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPureTone(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(x []int16, amp float64) []int16 {
		out := make([]int16, len(x))
		for i, v := range x {
			out[i] = int16(float64(v) + rng.NormFloat64()*amp)
		}
		return out
	}
	for _, f := range []float64{400, 440, 850, 1000, 1400, 1777, 2000, 2500} {
		for _, snr := range []float64{0, 20, 15} { // 0: no noise
			x := Tone(f, 8000, 160)
			if snr > 0 {
				x = noise(x, 8000/math.Sqrt2/math.Pow(10, snr/20))
			}
			got, share := PureTone(x)
			minShare := 0.9
			if snr > 0 {
				minShare = 0.75
			}
			if math.Abs(got-f) > 25 || share < minShare {
				t.Errorf("%v Hz tone (SNR %v dB): PureTone = %.0f Hz, share %.2f", f, snr, got, share)
			}
		}
	}
	// Two tones at once (a DTMF digit) and white noise are not a pure tone.
	two := Tone(770, 6000, 160)
	for i, v := range Tone(1336, 6000, 160) {
		two[i] += v
	}
	if _, share := PureTone(two); share > 0.6 {
		t.Errorf("DTMF 5: share %.2f, want < 0.6", share)
	}
	if _, share := PureTone(noise(make([]int16, 160), 3000)); share > 0.3 {
		t.Errorf("white noise: share %.2f, want < 0.3", share)
	}
	if f, share := PureTone(make([]int16, 160)); f != 0 || share != 0 {
		t.Errorf("silence: %v Hz share %v, want 0, 0", f, share)
	}
	x := Tone(1000, 8000, 160)
	if n := testing.AllocsPerRun(100, func() { PureTone(x) }); n != 0 {
		t.Fatalf("PureTone allocates %v times per call", n)
	}
}

func BenchmarkPureTone(b *testing.B) {
	x := Tone(1000, 8000, 160)
	for b.Loop() {
		PureTone(x)
	}
}
