package media_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

func TestPureTone(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range []float64{400, 440, 850, 1000, 1400, 1777, 2000, 2500} {
		for _, snr := range []float64{0, 20, 15} { // 0: no noise
			x := media.Tone(f, 8000, 160)
			if snr > 0 {
				x = mediatest.Noisy(rng, x, 8000/math.Sqrt2/math.Pow(10, snr/20))
			}
			got, share := media.PureTone(x)
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
	two := mediatest.Mix(media.Tone(770, 6000, 160), media.Tone(1336, 6000, 160))
	if _, share := media.PureTone(two); share > 0.6 {
		t.Errorf("DTMF 5: share %.2f, want < 0.6", share)
	}
	if _, share := media.PureTone(mediatest.Noisy(rng, make([]int16, 160), 3000)); share > 0.3 {
		t.Errorf("white noise: share %.2f, want < 0.3", share)
	}
	if f, share := media.PureTone(make([]int16, 160)); f != 0 || share != 0 {
		t.Errorf("silence: %v Hz share %v, want 0, 0", f, share)
	}
	x := media.Tone(1000, 8000, 160)
	if n := testing.AllocsPerRun(100, func() { media.PureTone(x) }); n != 0 {
		t.Fatalf("PureTone allocates %v times per call", n)
	}
}

func BenchmarkPureTone(b *testing.B) {
	x := media.Tone(1000, 8000, 160)
	for b.Loop() {
		media.PureTone(x)
	}
}
