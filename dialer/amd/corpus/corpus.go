// Package corpus generates the labelled audio the answering-machine detector
// is measured on: people answering (short and longer greetings in Spanish and
// English, some saying "¿aló?" again), voicemail greetings (carrier and
// personal, then beeps of various frequencies and lengths, or none),
// silence, noise and hang-ups. Speech is rendered with espeak-ng (several
// voices, variants, speeds and pitches), assembled here with leading pauses,
// background noise and answer clicks, then put through a telephone channel
// with sox (band-pass, G.711 μ-law or A-law encoding) and decoded with
// ivr/media's G.711, as a call's audio would be. Labels go to manifest.json
// beside the WAV files. The same options give the same bytes.
//
// Two sets use disjoint voices: "tune" to adjust the detector on and "test"
// to report on.
package corpus

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/marcador/marcador/ivr/media"
)

// Classes of recordings.
const (
	Human   = "human"
	Machine = "machine"
	Silence = "silence" // dead air for the whole analysis
	Noise   = "noise"   // background noise and nothing else
	Hangup  = "hangup"  // the line drops before anything can be decided
)

// Classes lists them in report order.
func Classes() []string { return []string{Human, Machine, Silence, Noise, Hangup} }

// Expect is the right answer for a class: a person, a machine, notsure for
// dead air and noise (no evidence either way), hangup when the call ends.
func Expect(class string) string {
	switch class {
	case Silence, Noise:
		return "notsure"
	}
	return class
}

// Entry labels one recording.
type Entry struct {
	File  string `json:"file"` // relative to the manifest
	Class string `json:"class"`
	// Expect is the right answer: human, machine, notsure or hangup.
	Expect string `json:"expect"`
	// BeepMS and BeepEndMS bound the beep (the first note's start, the last
	// note's end); null without a beep.
	BeepMS    *int    `json:"beep_ms"`
	BeepEndMS *int    `json:"beep_end_ms"`
	BeepHz    float64 `json:"beep_hz,omitempty"`
	BeepKind  string  `json:"beep_kind,omitempty"` // single, double, tritone
	// SpeechMS is where the first speech starts, GreetingEndMS where the
	// first utterance (a person) or the whole greeting (a machine) ends;
	// -1 without speech.
	SpeechMS      int    `json:"speech_ms"`
	GreetingEndMS int    `json:"greeting_end_ms"`
	DurationMS    int    `json:"duration_ms"`
	Kind          string `json:"kind"` // word, phrase, long, +again (a person); carrier, personal, prank (a machine)
	Lang          string `json:"lang,omitempty"`
	Voice         string `json:"voice,omitempty"` // espeak-ng voice+variant
	Speed         int    `json:"speed,omitempty"` // words per minute
	Pitch         int    `json:"pitch,omitempty"` // espeak-ng 0-99
	Text          string `json:"text,omitempty"`
	SpeechDB      int    `json:"speech_db,omitempty"` // speech peak, dBFS
	Noise         string `json:"noise"`               // white, pink, brown, babble
	NoiseDB       int    `json:"noise_db"`            // noise RMS, dBFS
	Codec         string `json:"codec"`               // pcm (band-pass only), ulaw, alaw
	Click         bool   `json:"click,omitempty"`     // an answer click at the start
}

// Manifest is manifest.json.
type Manifest struct {
	Set     string   `json:"set"`
	Seed    uint64   `json:"seed"`
	Voices  []string `json:"voices"`
	Entries []Entry  `json:"entries"`
}

// Options say what to generate.
type Options struct {
	Dir     string // output directory (created); files go to Dir/wav
	Set     string // tune or test (which voices)
	Seed    uint64
	N       int // recordings
	Workers int // parallel renders; default the CPU count
}

// Sets are the corpus sets, with disjoint voices.
func Sets() []string { return []string{"tune", "test"} }

type voice struct{ lang, name string }

func voices(set string) ([]voice, error) {
	switch set {
	case "tune":
		return []voice{{"es", "es+m1"}, {"es", "es-419+f2"}, {"es", "es+f1"}, {"es", "es-419+m3"},
			{"en", "en-us+m2"}, {"en", "en-us+f1"}, {"en", "en-gb+m5"}, {"en", "en-gb+f4"}}, nil
	case "test":
		return []voice{{"es", "es-419+m4"}, {"es", "es+f3"}, {"es", "es-419+f5"}, {"es", "es+m7"},
			{"en", "en-us+f2"}, {"en", "en-us+m6"}, {"en", "en-gb-x-rp+m3"}, {"en", "en-gb-scotland+f3"}}, nil
	}
	return nil, fmt.Errorf("corpus: set %q: want tune or test", set)
}

// Available says whether espeak-ng and sox are installed.
func Available() error {
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("corpus: needs %s (apt-get install espeak-ng sox)", tool)
		}
	}
	return nil
}

// Load reads dir/manifest.json.
func Load(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return m, fmt.Errorf("corpus: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("corpus: %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	return m, nil
}

// Generate renders the corpus into opt.Dir and writes its manifest.
func Generate(ctx context.Context, opt Options) (Manifest, error) {
	vs, err := voices(opt.Set)
	if err != nil {
		return Manifest{}, err
	}
	if opt.N < 1 {
		return Manifest{}, fmt.Errorf("corpus: %d recordings: want at least 1", opt.N)
	}
	if err := Available(); err != nil {
		return Manifest{}, err
	}
	if opt.Workers < 1 {
		opt.Workers = runtime.NumCPU()
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, "wav"), 0o755); err != nil {
		return Manifest{}, fmt.Errorf("corpus: %w", err)
	}
	// Every random choice is made here, in order, so the plan (and so the
	// files) depend only on the options, not on how the work is scheduled.
	rng := rand.New(rand.NewPCG(opt.Seed, 0x616d64))
	plans := make([]plan, opt.N)
	for i, class := range classMix(rng, opt.N) {
		plans[i] = newPlan(rng, i, class, vs)
	}
	g := &gen{renders: map[string]*render{}}
	m := Manifest{Set: opt.Set, Seed: opt.Seed, Entries: make([]Entry, opt.N)}
	for _, v := range vs {
		m.Voices = append(m.Voices, v.name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan int)
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				e, err := g.build(ctx, opt.Dir, plans[i])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				m.Entries[i] = e
			}
		}()
	}
	for i := range plans {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return Manifest{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := os.WriteFile(filepath.Join(opt.Dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return Manifest{}, fmt.Errorf("corpus: %w", err)
	}
	return m, nil
}

// classMix is n classes in a seeded order: 44% people, 40% machines, 6%
// silence, 5% noise, 5% hang-ups (at least one of each when n allows).
func classMix(rng *rand.Rand, n int) []string {
	counts := map[string]int{Silence: n * 6 / 100, Noise: n * 5 / 100, Hangup: n * 5 / 100}
	if n >= 20 {
		for _, c := range []string{Silence, Noise, Hangup} {
			counts[c] = max(1, counts[c])
		}
	}
	rest := n - counts[Silence] - counts[Noise] - counts[Hangup]
	counts[Machine] = rest * 40 / 84
	counts[Human] = rest - counts[Machine]
	var out []string
	for _, c := range Classes() {
		for range counts[c] {
			out = append(out, c)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// minCallMS is the shortest recording of a person or a machine: the
// detector's longest analysis (total_analysis_time) fits in it, so only
// the hang-up class ends before a decision.
const minCallMS = 9000

// ms converts milliseconds to samples.
func ms(n int) int { return n * media.SampleRate / 1000 }

// plan is every choice for one recording.
type plan struct {
	idx   int
	class string
	kind  string
	v     voice
	speed int
	pitch int
	// speech: sentences of the first utterance or greeting, the pauses
	// between them (ms), and for a person a second utterance after again ms
	sentences []string
	pauses    []int
	again     string
	againMS   int
	leadMS    int
	speechDB  float64
	tailMS    int // after the greeting (or the beep)
	// beep
	beepKind   string
	beepGapMS  int
	beepNotes  []float64
	beepLenMS  []int
	beepGapsMS []int
	beepDB     float64
	// silence, noise, hang-up
	totalMS int
	// channel
	noise      string
	noiseDB    float64
	babble     []string
	babbleV    voice
	babbleRel  float64
	codec      string
	click      bool
	clickMS    int
	noiseSeed  uint64
	hangupWord bool
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// between is a uniform integer in [lo, hi].
func between(rng *rand.Rand, lo, hi int) int { return lo + rng.IntN(hi-lo+1) }

func newPlan(rng *rand.Rand, idx int, class string, vs []voice) plan {
	p := plan{idx: idx, class: class, v: pick(rng, vs), speed: between(rng, 135, 195), pitch: between(rng, 25, 75)}
	lang := p.v.lang
	// Answer-to-first-word delay of a person: mostly a few hundred ms.
	personLead := min(1500, 120+int(rng.ExpFloat64()*280))
	switch class {
	case Human:
		p.speechDB = -3 - rng.Float64()*21
		p.leadMS = personLead
		// Most people answer with one word; some with a few; a few say more.
		switch r := rng.Float64(); {
		case r < 0.62:
			p.kind = "word"
			p.sentences = []string{pick(rng, humanWord[lang])}
		case r < 0.87:
			p.kind = "phrase"
			p.sentences = []string{pick(rng, humanPhrase[lang])}
		default:
			p.kind = "long"
			p.sentences = []string{pick(rng, humanLong[lang])}
		}
		if rng.Float64() < 0.4 {
			p.kind += "+again"
			p.again = pick(rng, humanAgain[lang])
			p.againMS = between(rng, 1000, 3000)
		}
		p.tailMS = between(rng, 4500, 6000)
	case Machine:
		p.speechDB = -3 - rng.Float64()*15
		r := rng.Float64()
		switch {
		case r < 0.03:
			p.kind = "prank"
			p.sentences = slices.Clone(pick(rng, prank[lang]))
			p.leadMS = personLead
		case r < 0.5:
			p.kind = "carrier"
			p.sentences = slices.Clone(pick(rng, carrier[lang]))
			p.leadMS = between(rng, 300, 1500)
			if rng.Float64() < 0.05 {
				p.leadMS = between(rng, 2500, 3500) // a slow network box
			}
		default:
			p.kind = "personal"
			p.sentences = slices.Clone(pick(rng, personal[lang]))
			p.leadMS = between(rng, 150, 900)
		}
		for i := 1; i < len(p.sentences); i++ {
			switch p.kind {
			case "carrier":
				p.pauses = append(p.pauses, between(rng, 150, 500))
			case "prank":
				p.pauses = append(p.pauses, between(rng, 1200, 2200))
			default:
				p.pauses = append(p.pauses, between(rng, 150, 800))
			}
		}
		p.beepGapMS = between(rng, 150, 1500)
		p.beepDB = -6 - rng.Float64()*14
		r = rng.Float64()
		switch {
		case r < 0.15:
			p.beepKind = "" // no beep
			p.tailMS = between(rng, 3500, 5000)
		case r < 0.25:
			p.beepKind = "double"
			f := beepFreq(rng)
			p.beepNotes = []float64{f, f}
			p.beepLenMS = []int{between(rng, 120, 220), between(rng, 120, 220)}
			p.beepGapsMS = []int{between(rng, 80, 150)}
		case r < 0.30:
			p.beepKind = "tritone"
			t := pick(rng, triTones)
			p.beepNotes = t[:]
			p.beepLenMS = []int{between(rng, 150, 280), between(rng, 150, 280), between(rng, 150, 280)}
			p.beepGapsMS = []int{0, 0}
		default:
			p.beepKind = "single"
			p.beepNotes = []float64{beepFreq(rng)}
			p.beepLenMS = []int{between(rng, 120, 1000)}
		}
		if p.beepKind != "" {
			p.tailMS = between(rng, 1500, 3000)
		}
	case Silence:
		p.totalMS = between(rng, 6000, 8000)
	case Noise:
		p.totalMS = between(rng, 6000, 8000)
	case Hangup:
		if rng.Float64() < 0.4 {
			p.hangupWord = true
			p.speechDB = -3 - rng.Float64()*15
			p.leadMS = personLead
			p.sentences = []string{pick(rng, humanWord[lang])}
			p.tailMS = between(rng, 60, 250)
		} else {
			p.totalMS = between(rng, 400, 2000)
		}
	}
	// The line: background noise (louder for the noise class), codec,
	// sometimes an answer click.
	p.noise = pick(rng, []string{"white", "pink", "brown"})
	switch r := rng.Float64(); {
	case class == Noise:
		p.noiseDB = -50 + rng.Float64()*18
	case r < 0.55:
		p.noiseDB = -72 + rng.Float64()*14
	case r < 0.85:
		p.noiseDB = -55 + rng.Float64()*10
	default:
		p.noiseDB = -44 + rng.Float64()*8
	}
	if p.speechDB != 0 {
		p.noiseDB = min(p.noiseDB, p.speechDB-25)
	}
	if (class == Human || class == Machine) && rng.Float64() < 0.1 {
		// Voices in the room (television, other people) under the speaker.
		other := map[string]string{"es": "en", "en": "es"}[lang]
		p.babble = []string{strings.Join(pick(rng, carrier[other]), " "), strings.Join(pick(rng, personal[lang]), " ")}
		p.babbleV = pick(rng, vs)
		p.babbleRel = -30 + rng.Float64()*10
	}
	switch r := rng.Float64(); {
	case r < 0.2:
		p.codec = "pcm"
	case r < 0.65:
		p.codec = "ulaw"
	default:
		p.codec = "alaw"
	}
	p.click = rng.Float64() < 0.25
	p.clickMS = between(rng, 0, 60)
	p.noiseSeed = rng.Uint64()
	return p
}

func beepFreq(rng *rand.Rand) float64 {
	if rng.Float64() < 0.5 {
		return pick(rng, beepFreqs)
	}
	return float64(between(rng, 400, 2000))
}

// gen renders speech once per distinct text and voice.
type gen struct {
	mu      sync.Mutex
	renders map[string]*render
}

type render struct {
	once sync.Once
	pcm  []int16
	err  error
}

// speak renders sentences (joined by SSML pauses) with espeak-ng and
// converts them with sox to 8 kHz, leading and trailing silence trimmed,
// peak at -1 dBFS.
func (g *gen) speak(ctx context.Context, v voice, speed, pitch int, sentences []string, pauses []int) ([]int16, error) {
	var ssml strings.Builder
	ssml.WriteString("<speak>")
	for i, s := range sentences {
		if i > 0 {
			fmt.Fprintf(&ssml, `<break time="%dms"/>`, pauses[i-1])
		}
		ssml.WriteString(s)
	}
	ssml.WriteString("</speak>")
	key := fmt.Sprintf("%s|%d|%d|%s", v.name, speed, pitch, ssml.String())
	g.mu.Lock()
	r := g.renders[key]
	if r == nil {
		r = &render{}
		g.renders[key] = r
	}
	g.mu.Unlock()
	r.once.Do(func() {
		espeak := exec.CommandContext(ctx, "espeak-ng", "-m", "-v", v.name, "-s", fmt.Sprint(speed), "-p", fmt.Sprint(pitch), "--stdout", ssml.String())
		sox := exec.CommandContext(ctx, "sox", "-D", "-R", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-",
			"silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse", "norm", "-1")
		pipe, err := espeak.StdoutPipe()
		if err != nil {
			r.err = err
			return
		}
		sox.Stdin = pipe
		var out, errb, espeakErr bytes.Buffer // one stderr each: they write at once
		sox.Stdout, sox.Stderr = &out, &errb
		espeak.Stderr = &espeakErr
		if err := espeak.Start(); err != nil {
			r.err = fmt.Errorf("corpus: espeak-ng: %w", err)
			return
		}
		err = sox.Run()
		if werr := espeak.Wait(); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			r.err = fmt.Errorf("corpus: render %q with %s: %w: %s%s", key, v.name, err, espeakErr.String(), errb.String())
			return
		}
		r.pcm = pcm16(out.Bytes())
		if len(r.pcm) == 0 {
			r.err = fmt.Errorf("corpus: render %q with %s: no audio", key, v.name)
		}
	})
	return r.pcm, r.err
}

func pcm16(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// gain is a dB value as an amplitude factor.
func gain(db float64) float64 { return math.Pow(10, db/20) }

// build renders, assembles and writes one recording.
func (g *gen) build(ctx context.Context, dir string, p plan) (Entry, error) {
	e := Entry{Class: p.class, Expect: Expect(p.class), Kind: p.kind, SpeechMS: -1, GreetingEndMS: -1,
		Noise: p.noise, NoiseDB: int(math.Round(p.noiseDB)), Codec: p.codec, Click: p.click}
	var track []float64 // the mix, in float samples
	put := func(at int, x []int16, g float64) {
		if need := at + len(x); need > len(track) {
			track = append(track, make([]float64, need-len(track))...)
		}
		for i, v := range x {
			track[at+i] += float64(v) * g
		}
	}
	pad := func(n int) { track = append(track, make([]float64, n)...) }
	speak := func(sentences []string, pauses []int) ([]int16, error) {
		return g.speak(ctx, p.v, p.speed, p.pitch, sentences, pauses)
	}
	if len(p.sentences) > 0 {
		e.Lang, e.Voice, e.Speed, e.Pitch, e.SpeechDB = p.v.lang, p.v.name, p.speed, p.pitch, int(math.Round(p.speechDB))
		e.Text = strings.Join(p.sentences, " ")
		s, err := speak(p.sentences, p.pauses)
		if err != nil {
			return e, err
		}
		pad(ms(p.leadMS))
		e.SpeechMS = p.leadMS
		put(len(track), s, gain(p.speechDB+1))
		e.GreetingEndMS = len(track) * 1000 / media.SampleRate
		if p.again != "" {
			a, err := speak([]string{p.again}, nil)
			if err != nil {
				return e, err
			}
			pad(ms(p.againMS))
			put(len(track), a, gain(p.speechDB+1))
			e.Text += " … " + p.again
		}
		if len(p.beepNotes) > 0 {
			pad(ms(p.beepGapMS))
			start := len(track) * 1000 / media.SampleRate
			e.BeepMS, e.BeepKind, e.BeepHz = &start, p.beepKind, p.beepNotes[0]
			for i, f := range p.beepNotes {
				if i > 0 {
					pad(ms(p.beepGapsMS[i-1]))
				}
				put(len(track), beep(f, p.beepLenMS[i], p.beepDB), 1)
			}
			end := len(track) * 1000 / media.SampleRate
			e.BeepEndMS = &end
		}
		pad(ms(p.tailMS))
		if p.class == Human || p.class == Machine {
			// Long enough for any analysis (the recording ending is a hang-up).
			pad(max(0, ms(minCallMS)-len(track)))
		}
	} else {
		pad(ms(p.totalMS))
	}
	rng := rand.New(rand.NewPCG(p.noiseSeed, uint64(p.idx)))
	addNoise(track, p.noise, p.noiseDB, rng)
	if len(p.babble) > 0 {
		var b []float64
		for len(b) < len(track) {
			for _, t := range p.babble {
				s, err := g.speak(ctx, p.babbleV, 170, 50, []string{t}, nil)
				if err != nil {
					return e, err
				}
				for _, v := range s {
					b = append(b, float64(v))
				}
			}
		}
		// A person's room is heard all through the call; a machine's only in
		// its recorded greeting (the box that beeps and records is a server).
		end := len(track)
		if p.class == Machine {
			end = min(end, ms(e.GreetingEndMS))
		}
		k := gain(p.speechDB + p.babbleRel)
		for i := range end {
			track[i] += b[i] * k
		}
		e.Noise = "babble+" + e.Noise
	}
	if p.click {
		at := ms(p.clickMS)
		for i := 0; i < ms(15) && at+i < len(track); i++ {
			track[at+i] += rng.NormFloat64() * 3000 * math.Exp(-float64(i)/30)
		}
	}
	pcm := make([]int16, len(track))
	for i, v := range track {
		pcm[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	out, err := channel(ctx, pcm, p.codec)
	if err != nil {
		return e, err
	}
	e.DurationMS = len(out) * 1000 / media.SampleRate
	e.File = filepath.Join("wav", fmt.Sprintf("%04d-%s.wav", p.idx, p.class))
	if err := os.WriteFile(filepath.Join(dir, e.File), media.EncodeWAV(out), 0o644); err != nil {
		return e, fmt.Errorf("corpus: %w", err)
	}
	return e, nil
}

// beep is a tone of freq Hz, lenMS long, peak at db dBFS, with 5 ms ramps.
func beep(freq float64, lenMS int, db float64) []int16 {
	n := ms(lenMS)
	out := make([]int16, n)
	amp := 32767 * gain(db)
	ramp := float64(ms(5))
	for i := range out {
		env := min(1, float64(i)/ramp, float64(n-1-i)/ramp)
		out[i] = int16(amp * env * math.Sin(2*math.Pi*freq*float64(i)/media.SampleRate))
	}
	return out
}

// addNoise mixes seeded noise of a colour at rms dBFS into x.
func addNoise(x []float64, colour string, rmsDB float64, rng *rand.Rand) {
	n := make([]float64, len(x))
	var b0, b1, b2, brown float64
	for i := range n {
		w := rng.NormFloat64()
		switch colour {
		case "pink": // Paul Kellet's economy filter
			b0 = 0.99765*b0 + w*0.0990460
			b1 = 0.96300*b1 + w*0.2965164
			b2 = 0.57000*b2 + w*1.0526913
			n[i] = b0 + b1 + b2 + w*0.1848
		case "brown":
			brown = 0.995*brown + w
			n[i] = brown
		default:
			n[i] = w
		}
	}
	var sum float64
	for _, v := range n {
		sum += v * v
	}
	if sum == 0 {
		return
	}
	k := 32768 * gain(rmsDB) / math.Sqrt(sum/float64(len(n)))
	for i := range x {
		x[i] += n[i] * k
	}
}

// channel is the telephone line: sox band-limits to 300-3400 Hz and encodes
// G.711 (μ-law or A-law), which ivr/media decodes as the call path does;
// pcm is the band limit alone.
func channel(ctx context.Context, pcm []int16, codec string) ([]int16, error) {
	in := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(in[2*i:], uint16(v))
	}
	enc := map[string][]string{"pcm": {"-e", "signed", "-b", "16"}, "ulaw": {"-e", "u-law"}, "alaw": {"-e", "a-law"}}[codec]
	if enc == nil {
		return nil, fmt.Errorf("corpus: codec %q", codec)
	}
	args := []string{"-D", "-R", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-", "-t", "raw"}
	args = append(args, enc...)
	args = append(args, "-", "highpass", "300", "lowpass", "3400")
	cmd := exec.CommandContext(ctx, "sox", args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("corpus: sox channel (%s): %w: %s", codec, err, errb.String())
	}
	b := out.Bytes()
	switch codec {
	case "ulaw":
		return media.PCMU.Decode(nil, b), nil
	case "alaw":
		return media.PCMA.Decode(nil, b), nil
	}
	return pcm16(b), nil
}

// DefaultSeed is the seed a set is generated with unless told otherwise:
// 1 for tune, 4 for test (test draws 2 and 3 were looked at while the
// detector was developed, so its figures are reported on a fresh draw).
func DefaultSeed(set string) uint64 {
	if set == "tune" {
		return 1
	}
	return 4
}
