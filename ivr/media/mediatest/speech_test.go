package mediatest

import (
	"math/rand/v2"
	"os"
	"os/exec"
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
		p := readWAV(t, f)
		if s := Measure(p); !s.IsSpeech(300 * time.Millisecond) {
			t.Errorf("%s is not speech: %s", filepath.Base(f), s)
		}
		all = append(all, p...)
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
	if Measure(readWAV(t, files[0])).IsSpeech(time.Minute) {
		t.Error("one prompt passes as a minute of speech")
	}
}

// testPrompt is a shipped prompt (espeak-ng, 8 kHz).
func testPrompt(t *testing.T) []int16 { return readWAV(t, "../../prompts/es/p/inbound-welcome.wav") }

// readWAV is the samples of a WAV file, at 8 kHz.
func readWAV(t *testing.T, f string) []int16 {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	p, err := media.DecodeWAV(f, b)
	if err != nil {
		t.Fatal(err)
	}
	return p.Samples
}

// A phrase espeak-ng renders now (at its own 22,050 Hz, resampled at load)
// is speech, and its first half second is not yet a second of it.
func TestSpeechFromEspeak(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("skipping: no espeak-ng")
	}
	wav := filepath.Join(t.TempDir(), "phrase.wav")
	if out, err := exec.Command("espeak-ng", "-v", "es", "-w", wav, "Buenos días, le llamamos de Financiera Sol por su saldo pendiente.").CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v %s", err, out)
	}
	p := readWAV(t, wav)
	if s := Measure(p); !s.IsSpeech(time.Second) {
		t.Fatalf("the phrase is not a second of speech: %s", s)
	}
	if s := Measure(p[:4000]); s.IsSpeech(time.Second) {
		t.Fatalf("half a second passes as a second: %s", s)
	}
}

// A Meter fed in pieces of any size measures what Measure does on the
// whole, and listening allocates nothing.
func TestMeterInPieces(t *testing.T) {
	p := testPrompt(t)
	p = append(append(p, make([]int16, 1234)...), media.Tone(700, 5000, 3000)...)
	want := Measure(p)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		var m Meter
		for rest := p; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(500))
			m.Add(rest[:k])
			rest = rest[k:]
		}
		if got := m.Speech(); got != want {
			t.Fatalf("in pieces: %s\n   whole: %s", got, want)
		}
	}
	var m Meter
	m.Add(p)
	if m.Reset(); m.Speech() != (Speech{}) {
		t.Fatalf("after Reset: %s", m.Speech())
	}
	pkt := p[:media.FrameSamples]
	if n := testing.AllocsPerRun(100, func() { m.Add(pkt); m.Speech() }); n != 0 {
		t.Fatalf("Add and Speech allocate %v times a packet", n)
	}
}
