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
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
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

// DefaultSeed is the seed a set is generated with unless told otherwise:
// 1 for tune, 4 for test (test draws 2 and 3 were looked at while the
// detector was developed, so its figures are reported on a fresh draw).
func DefaultSeed(set string) uint64 {
	if set == "tune" {
		return 1
	}
	return 4
}
