package mediatest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

func TestToneAtFindsTheToneAndNothingElse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	half := 4000 // 500 ms
	beep := append(append(make([]int16, 8000), media.Tone(1000, 9000, half)...), make([]int16, 8000)...)
	dtmf5 := Mix(media.Tone(770, 6000, half), media.Tone(1336, 6000, half))
	prompt := testPrompt(t)
	for _, c := range []struct {
		name    string
		samples []int16
		freq    float64
		least   time.Duration
		most    time.Duration
	}{
		{"a 1 kHz beep between silences", beep, 1000, 480 * time.Millisecond, 500 * time.Millisecond},
		{"the beep through PCMA", media.PCMA.Decode(nil, media.PCMA.Encode(nil, beep)), 1000, 480 * time.Millisecond, 500 * time.Millisecond},
		{"the beep under noise (20 dB SNR)", Noisy(rng, beep, 9000/1.414/10), 1000, 480 * time.Millisecond, 500 * time.Millisecond},
		{"a 440 Hz tone", media.Tone(440, 8000, half), 440, 480 * time.Millisecond, 500 * time.Millisecond},
		{"the beep, asked at 1040 Hz", beep, 1040, 0, 0},
		{"the beep, asked at 440 Hz", beep, 440, 0, 0},
		{"DTMF 5, asked at 770 Hz", dtmf5, 770, 0, 0},
		{"a faint 1 kHz tone (below the level of sound)", media.Tone(1000, 150, half), 1000, 0, 0},
		{"white noise", Noisy(rng, make([]int16, half), 3000), 1000, 0, 0},
		{"silence", make([]int16, half), 1000, 0, 0},
	} {
		if got := ToneAt(c.samples, c.freq); got < c.least || got > c.most {
			t.Errorf("%s: %s of a %v Hz tone, want %s-%s", c.name, got, c.freq, c.least, c.most)
		}
	}
	// A voice's energy moves from harmonic to harmonic: no frequency holds
	// most of it for long.
	for _, f := range []float64{100, 120, 150, 180, 200, 250, 300, 400, 500, 700, 1000} {
		if got := ToneAt(prompt, f); got > 100*time.Millisecond {
			t.Errorf("a spoken prompt holds %s of a %v Hz tone", got, f)
		}
	}
}

func TestSilent(t *testing.T) {
	hiss := make([]int16, 8000)
	for i := range hiss {
		hiss[i] = int16(rand.NormFloat64() * 50)
	}
	for name, s := range map[string][]int16{
		"digital silence": make([]int16, 8000),
		"PCMU silence":    media.PCMU.Decode(nil, media.PCMU.Encode(nil, make([]int16, 8000))),
		"line hiss":       hiss,
	} {
		if m := Measure(s); !m.Silent() {
			t.Errorf("%s is not silent: %s", name, m)
		}
	}
	click := make([]int16, 8000)
	copy(click[4000:], media.Tone(1000, 8000, 160)) // one frame of sound
	for name, s := range map[string][]int16{"a 20 ms click": click, "a tone": media.Tone(1000, 8000, 8000), "a prompt": testPrompt(t)} {
		if m := Measure(s); m.Silent() {
			t.Errorf("%s is silent: %s", name, m)
		}
	}
}
