package amd

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// Crafted audio: 8 kHz samples built from pieces.

func silence(ms int) []int16 { return make([]int16, ms*8) }

// noise is white noise at rms dBFS.
func noise(ms int, rmsDB float64, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]int16, ms*8)
	sd := 32768 * math.Pow(10, rmsDB/20)
	for i := range out {
		out[i] = int16(max(-32768, min(32767, rng.NormFloat64()*sd)))
	}
	return out
}

// word is a voiced sound like a spoken word: a gliding pitch with ten
// falling harmonics under a syllable envelope (one syllable per 200 ms).
func word(ms int, pitch float64) []int16 {
	n := ms * 8
	out := make([]int16, n)
	phase := 0.0
	syl := max(1, ms/200)
	for i := range out {
		t := float64(i) / 8000
		x := float64(i) / float64(n) * float64(syl)
		env := 0.3 + 0.7*math.Sin(math.Pi*(x-math.Floor(x)))
		f := pitch * (1 + 0.1*math.Sin(2*math.Pi*2.5*t))
		phase += 2 * math.Pi * f / 8000
		v := 0.0
		for h := 1.0; h <= 10; h++ {
			v += math.Sin(h*phase) / h
		}
		out[i] = int16(5000 * env * v)
	}
	return out
}

// speech is continuous talk: words of 300-600 ms with 60-250 ms pauses,
// as a voicemail greeting speaks.
func speech(ms int, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 2))
	var out []int16
	for len(out) < ms*8 {
		out = append(out, word(300+rng.IntN(300), 110+rng.Float64()*60)...)
		out = append(out, silence(60+rng.IntN(190))...)
	}
	return out[:ms*8]
}

func tone(freq float64, ms int) []int16 { return media.Tone(freq, 8000, ms*8) }

func cat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// mix adds b onto a (same length or shorter).
func mix(a, b []int16) []int16 {
	out := append([]int16(nil), a...)
	for i := range min(len(a), len(b)) {
		out[i] = int16(max(-32768, min(32767, int(a[i])+int(b[i]))))
	}
	return out
}

func profile(t *testing.T, name string) Params {
	t.Helper()
	p, err := Profile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func classify(t *testing.T, p Params, x []int16) Outcome {
	t.Helper()
	o, err := Classify(p, x)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func within(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if got < want-tol || got > want+tol {
		t.Errorf("%s = %v, want %v ± %v", what, got, want, tol)
	}
}

func TestPureSilence(t *testing.T) {
	x := cat(silence(8000))
	line := noise(8000, -70, 1) // a quiet line, not digital zero
	for _, tc := range []struct {
		profile string
		audio   []int16
		want    Result
		at      time.Duration
	}{
		{HumanFirst, x, NotSure, 3 * time.Second},
		{HumanFirst, line, NotSure, 3 * time.Second},
		{Reference, x, Machine, 2500 * time.Millisecond},
		{Reference, line, Machine, 2500 * time.Millisecond},
	} {
		o := classify(t, profile(t, tc.profile), tc.audio)
		if o.Decision.Result != tc.want || o.Decision.Cause != CauseInitialSilence {
			t.Errorf("%s, silence: %+v, want %s initial_silence", tc.profile, o.Decision, tc.want)
		}
		within(t, tc.profile+" decision time", o.Decision.At, tc.at, 20*time.Millisecond)
	}
	// The call ends before the initial silence runs out: hangup.
	o := classify(t, Default(), silence(1500))
	if o.Decision.Result != Hangup || o.Decision.Cause != CauseHangup || o.Decision.At != 1500*time.Millisecond {
		t.Errorf("1.5 s of silence, then the end: %+v, want hangup at 1.5s", o.Decision)
	}
}

func TestShortWordThenSilenceIsHuman(t *testing.T) {
	// "¿Aló?" 300 ms after the answer, then waiting for us.
	x := cat(silence(300), word(400, 180), silence(5000))
	o := classify(t, Default(), x)
	if o.Decision.Result != Human || o.Decision.Cause != CauseShortGreeting {
		t.Fatalf("human-first: %+v, want human short_greeting", o.Decision)
	}
	// The word ends at 700 ms; short_greeting_silence (300 ms) later, give
	// or take the frame the envelope's tail falls under the floor.
	within(t, "human-first decision", o.Decision.At, 1000*time.Millisecond, 60*time.Millisecond)

	o = classify(t, profile(t, Reference), x)
	if o.Decision.Result != Human || o.Decision.Cause != CauseAfterGreetingSilence {
		t.Fatalf("reference: %+v, want human after_greeting_silence", o.Decision)
	}
	within(t, "reference decision", o.Decision.At, 1500*time.Millisecond, 60*time.Millisecond)

	// A longer answer ("Hola, buenas tardes, ¿quién habla?"): human after
	// after_greeting_silence, not the short cadence.
	x = cat(silence(300), word(500, 200), silence(150), word(700, 190), silence(5000))
	o = classify(t, Default(), x)
	if o.Decision.Result != Human || o.Decision.Cause != CauseAfterGreetingSilence {
		t.Fatalf("human-first, a longer answer: %+v, want human after_greeting_silence", o.Decision)
	}
	within(t, "decision", o.Decision.At, 1650*time.Millisecond+1200*time.Millisecond, 60*time.Millisecond)
}

func TestContinuousSpeechIsMachine(t *testing.T) {
	x := cat(silence(500), speech(6000, 3), silence(3000))
	for _, name := range Profiles() {
		o := classify(t, profile(t, name), x)
		if o.Decision.Result != Machine {
			t.Errorf("%s: %+v, want machine", name, o.Decision)
			continue
		}
		switch o.Decision.Cause {
		case CauseLongGreeting, CauseMaxWords, CauseMaxWordLength:
		default:
			t.Errorf("%s: cause %s, want a greeting rule", name, o.Decision.Cause)
		}
		// Greeting (voice only) cannot be reached sooner than its length
		// after the speech starts.
		p := profile(t, name)
		if o.Decision.At > 500*time.Millisecond+p.Greeting+3*time.Second {
			t.Errorf("%s: decided at %v", name, o.Decision.At)
		}
	}
}

func TestToneIsNotHumanSpeech(t *testing.T) {
	for _, f := range []float64{440, 1000, 1400, 2000} {
		x := cat(silence(400), tone(f, 3000), silence(3000))
		o := classify(t, Default(), x)
		if o.Decision.Result != Machine || o.Decision.Cause != CauseTone {
			t.Errorf("human-first, %v Hz tone: %+v, want machine tone", f, o.Decision)
		}
		// Without tone discrimination (the reference) a tone is voice, still
		// never a person's short greeting.
		if o := classify(t, profile(t, Reference), x); o.Decision.Result == Human {
			t.Errorf("reference, %v Hz tone: %+v, want not human", f, o.Decision)
		}
	}
	// A tone under speech level noise is still a tone, and noise alone is not.
	x := mix(cat(silence(400), tone(1000, 2000), silence(4000)), noise(6400, -45, 2))
	if o := classify(t, Default(), x); o.Decision.Result != Machine || o.Decision.Cause != CauseTone {
		t.Errorf("tone in noise: %+v, want machine tone", o.Decision)
	}
}

func TestBeepAfterSpeech(t *testing.T) {
	// Greeting 0.5–4.5 s, beep of 850 Hz at 5.0 s for 400 ms, then the box records.
	x := cat(silence(500), speech(4000, 4), silence(500), tone(850, 400), silence(3000))
	for _, name := range Profiles() {
		o := classify(t, profile(t, name), x)
		if o.Decision.Result != Machine {
			t.Fatalf("%s: %+v, want machine", name, o.Decision)
		}
		b := o.Beep
		if b.Outcome != BeepFound {
			t.Fatalf("%s: beep search %+v, want a beep", name, b)
		}
		within(t, name+" beep start", b.Start, 5000*time.Millisecond, 20*time.Millisecond)
		within(t, name+" beep end", b.End, 5400*time.Millisecond, 20*time.Millisecond)
		if math.Abs(b.Freq-850) > 25 {
			t.Errorf("%s: beep at %.0f Hz, want 850", name, b.Freq)
		}
		// The message may start once the tone has stopped for the hangover.
		within(t, name+" beep search end", b.At, 5400*time.Millisecond+200*time.Millisecond, 40*time.Millisecond)
		if r := o.Report("x.wav"); r.BeepMS == nil || *r.BeepMS < 4980 || *r.BeepMS > 5020 || r.Beep != BeepFound {
			t.Errorf("%s: report %+v", name, r)
		}
	}

	// A short greeting the beep follows at once: the beep decides (human-first).
	x = cat(silence(300), word(500, 150), silence(200), tone(1000, 300), silence(3000))
	o := classify(t, Default(), x)
	if o.Decision.Result != Machine || o.Decision.Cause != CauseBeep {
		t.Fatalf("word, beep: %+v, want machine beep", o.Decision)
	}
	within(t, "beep start", o.Beep.Start, 1000*time.Millisecond, 20*time.Millisecond)

	// A double beep is one beep: the message starts after the second.
	x = cat(silence(500), speech(4000, 5), silence(400), tone(1400, 150), silence(100), tone(1400, 150), silence(3000))
	o = classify(t, Default(), x)
	if o.Beep.Outcome != BeepFound {
		t.Fatalf("double beep: %+v", o.Beep)
	}
	within(t, "double beep start", o.Beep.Start, 4900*time.Millisecond, 20*time.Millisecond)
	within(t, "double beep end", o.Beep.End, 5300*time.Millisecond, 20*time.Millisecond)
}

func TestBeepSearchEnds(t *testing.T) {
	// No beep: the greeting ends and the box records silence.
	x := cat(silence(500), speech(4500, 6), silence(5000))
	o := classify(t, Default(), x)
	if o.Decision.Result != Machine || o.Beep.Outcome != BeepSilence {
		t.Fatalf("no beep: %+v %+v, want machine, then silence", o.Decision, o.Beep)
	}
	within(t, "greeting over", o.Beep.At, 5000*time.Millisecond+3*time.Second, 260*time.Millisecond)

	// A greeting that goes on: the search times out beep.max_wait after the decision.
	p := Default()
	p.Beep.MaxWait = 2 * time.Second
	o = classify(t, p, speech(15000, 7))
	if o.Decision.Result != Machine || o.Beep.Outcome != BeepTimeout {
		t.Fatalf("endless greeting: %+v %+v, want machine, then timeout", o.Decision, o.Beep)
	}
	if o.Beep.At != o.Decision.At+2*time.Second-20*time.Millisecond && o.Beep.At != o.Decision.At+2*time.Second {
		t.Errorf("timeout at %v, decision at %v", o.Beep.At, o.Decision.At)
	}

	// The call ends during the search.
	o = classify(t, Default(), cat(silence(500), speech(5000, 8)))
	if o.Decision.Result != Machine || o.Beep.Outcome != BeepHangup || o.Beep.At != 5500*time.Millisecond {
		t.Fatalf("hangup in the greeting: %+v %+v", o.Decision, o.Beep)
	}

	// Search off: the detector is done at the decision.
	p = Default()
	p.Beep.MaxWait = 0
	d, _ := New(p)
	ev := d.Feed(cat(silence(500), speech(6000, 9)))
	if ev != Decided || !d.Done() {
		t.Fatalf("search off: event %b, done %v", ev, d.Done())
	}
	if _, ok := d.Beep(); ok {
		t.Error("search off, yet a beep outcome")
	}
}

func TestNoiseIsNotSpeech(t *testing.T) {
	// A loud steady line (street, fan): the adaptive floor makes it silence;
	// the reference's fixed threshold hears one endless word.
	x := noise(7000, -38, 3)
	if o := classify(t, Default(), x); o.Decision.Result != NotSure {
		t.Errorf("human-first, noise: %+v, want notsure", o.Decision)
	}
	if o := classify(t, profile(t, Reference), x); o.Decision.Result != Machine {
		t.Errorf("reference, noise: %+v, want machine (its known weakness)", o.Decision)
	}
	// A person answering over the same noise.
	y := mix(cat(silence(300), word(400, 200), silence(6000)), x)
	if o := classify(t, Default(), y); o.Decision.Result != Human {
		t.Errorf("human-first, a word in noise: %+v, want human", o.Decision)
	}
}

func TestBackgroundVoicesAreNotTheGreeting(t *testing.T) {
	// "¿Aló?", then waiting with a television on 26 dB under the speaker.
	tv := speech(7000, 13)
	for i := range tv {
		tv[i] /= 20
	}
	x := mix(cat(silence(300), word(400, 180), silence(7000)), cat(silence(900), tv))
	if o := classify(t, Default(), x); o.Decision.Result == Machine {
		t.Errorf("human-first: %+v, want a person", o.Decision)
	}
	p := Default()
	p.SpeechRangeDB = 0
	if o := classify(t, p, x); o.Decision.Result != Machine {
		t.Errorf("without speech_range_db: %+v; the test no longer shows what the range is for", o.Decision)
	}
}

func TestFeedChunking(t *testing.T) {
	// RTP may carry 10, 20 or 30 ms: the result does not depend on it.
	x := cat(silence(500), speech(4000, 10), silence(600), tone(1000, 300), silence(2000))
	want := classify(t, Default(), x)
	for _, n := range []int{80, 240, 7, 1000} {
		d, _ := New(Default())
		var decided, beep bool
		for i := 0; i < len(x); i += n {
			ev := d.Feed(x[i:min(i+n, len(x))])
			decided = decided || ev&Decided != 0
			beep = beep || ev&BeepDone != 0
		}
		got := Outcome{}
		got.Decision, _ = d.Decision()
		got.Beep, _ = d.Beep()
		if !decided || !beep || got != want {
			t.Errorf("chunks of %d: %+v (events %v %v), want %+v", n, got, decided, beep, want)
		}
	}
	// Reset gives a fresh call.
	d, _ := New(Default())
	d.Feed(x)
	d.Reset()
	if _, ok := d.Decision(); ok || d.Elapsed() != 0 {
		t.Error("Reset kept the last call")
	}
	if got := d.Run(x); got != want {
		t.Errorf("after Reset: %+v, want %+v", got, want)
	}
}

func TestHangupDuringAnalysis(t *testing.T) {
	d, _ := New(Default())
	d.Feed(cat(silence(300), word(300, 150)))
	if ev := d.Hangup(); ev != Decided {
		t.Fatalf("Hangup: event %b", ev)
	}
	dec, _ := d.Decision()
	if dec.Result != Hangup || dec.At != 600*time.Millisecond {
		t.Errorf("%+v, want hangup at 600ms", dec)
	}
	if ev := d.Hangup(); ev != 0 {
		t.Errorf("second Hangup: event %b", ev)
	}
}

func TestZeroAllocsPerFrame(t *testing.T) {
	x := cat(silence(300), speech(3000, 11), silence(300), tone(1000, 400), noise(1000, -40, 4))
	for _, name := range Profiles() {
		d, _ := New(profile(t, name))
		i := 0
		allocs := testing.AllocsPerRun(len(x)/FrameSamples-1, func() {
			if d.Done() {
				d.Reset()
			}
			d.Feed(x[i : i+FrameSamples])
			i = (i + FrameSamples) % (len(x) - FrameSamples)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per 20 ms frame", name, allocs)
		}
	}
}

func BenchmarkFeedFrame(b *testing.B) {
	x := cat(silence(300), speech(3000, 12), tone(1000, 400))
	d, _ := New(Default())
	i := 0
	for b.Loop() {
		if d.Done() {
			d.Reset()
		}
		d.Feed(x[i : i+FrameSamples])
		i = (i + FrameSamples) % (len(x) - FrameSamples)
	}
}
