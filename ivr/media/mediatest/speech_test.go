package mediatest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

func TestSpeechIsToldFromTonesAndNoise(t *testing.T) {
	// The shipped prompts (espeak-ng) are speech, one by one and together,
	// and still after a trip through G.711.
	files, _ := filepath.Glob("../../prompts/es/p/*.wav")
	if len(files) < 5 {
		t.Fatalf("prompts: %v", files)
	}
	var all []int16
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := media.DecodeWAV(f, b)
		if err != nil {
			t.Fatal(err)
		}
		if s := Measure(p.Samples); !s.IsSpeech(300 * time.Millisecond) {
			t.Errorf("%s is not speech: %s", filepath.Base(f), s)
		}
		all = append(all, p.Samples...)
	}
	ulaw := media.PCMU.Decode(nil, media.PCMU.Encode(nil, all))
	if s := Measure(ulaw); !s.IsSpeech(10 * time.Second) {
		t.Errorf("the prompts through PCMU: %s", s)
	}
	// Not speech.
	var ring, beeps []int16
	for range 3 { // ringback: 440+480 Hz, 2 s on, 4 s off
		a, b := media.Tone(440, 4000, 16000), media.Tone(480, 4000, 16000)
		for i := range a {
			a[i] += b[i]
		}
		ring = append(append(ring, a...), make([]int16, 32000)...)
	}
	for range 20 { // DTMF-like beeps, 100 ms on, 100 ms off
		beeps = append(append(beeps, media.Tone(941, 6000, 800)...), make([]int16, 800)...)
	}
	noise := make([]int16, 80000)
	for i := range noise {
		noise[i] = int16(rand.NormFloat64() * 2000)
	}
	hiss := make([]int16, 80000)
	for i := range hiss {
		hiss[i] = int16(rand.NormFloat64() * 50)
	}
	for name, s := range map[string][]int16{"silence": make([]int16, 80000), "tone": media.Tone(440, 8000, 80000),
		"ringback": ring, "beeps": beeps, "noise": noise, "hiss": hiss} {
		if m := Measure(s); m.IsSpeech(500 * time.Millisecond) {
			t.Errorf("%s passes as speech: %s", name, m)
		}
	}
	// Too little speech is not enough.
	b, _ := os.ReadFile(files[0])
	p, _ := media.DecodeWAV(files[0], b)
	if Measure(p.Samples).IsSpeech(time.Minute) {
		t.Error("one prompt passes as a minute of speech")
	}
}
