package amd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Profile names.
const (
	// HumanFirst is the default: when the audio does not clearly say
	// "machine", the call is a person's (a person hung up on as a machine is
	// an abandoned call, and the costly error in collections).
	HumanFirst = "human-first"
	// Reference is the reference energy detector's defaults and behaviour
	// (see README), kept to measure against.
	Reference = "reference"
)

// Profiles lists the profile names Profile accepts.
func Profiles() []string { return []string{HumanFirst, Reference} }

// Params tunes the detector. Durations are audio time from the answer,
// counted in 20 ms frames (a value between two frames rounds up). In YAML a
// campaign's `amd:` block names a profile and overrides some of its fields:
//
//	amd:
//	  profile: human-first
//	  greeting: 2s
type Params struct {
	// Profile the other fields started from (human-first or reference).
	Profile string `yaml:"profile"`

	// InitialSilence: this much silence before the first word decides
	// InitialSilenceResult.
	InitialSilence time.Duration `yaml:"initial_silence"`
	// InitialSilenceResult is machine (the reference: voicemail that starts
	// late) or notsure (human-first: people who answer and wait to hear
	// someone are common).
	InitialSilenceResult Result `yaml:"initial_silence_result"`
	// Greeting: this much voiced audio in the greeting → machine (long_greeting).
	Greeting time.Duration `yaml:"greeting"`
	// AfterGreetingSilence: silence this long after the greeting → human.
	AfterGreetingSilence time.Duration `yaml:"after_greeting_silence"`
	// ShortGreeting and ShortGreetingSilence are the cadence of a person
	// answering: a greeting no longer than ShortGreeting from its first word
	// to its last voice ("¿Aló?", "Hello?") followed by ShortGreetingSilence
	// of silence → human (short_greeting), sooner than
	// AfterGreetingSilence. 0 turns it off.
	ShortGreeting        time.Duration `yaml:"short_greeting"`
	ShortGreetingSilence time.Duration `yaml:"short_greeting_silence"`
	// TotalAnalysisTime: no decision by then → notsure (too_long).
	TotalAnalysisTime time.Duration `yaml:"total_analysis_time"`
	// MinWordLength: a voiced run shorter than this is noise, not a word.
	MinWordLength time.Duration `yaml:"min_word_length"`
	// BetweenWordsSilence: silence this long ends a word.
	BetweenWordsSilence time.Duration `yaml:"between_words_silence"`
	// MaximumNumberOfWords: one word more than this → machine (max_words).
	MaximumNumberOfWords int `yaml:"maximum_number_of_words"`
	// MaximumWordLength: one word longer than this → machine (max_word_length).
	MaximumWordLength time.Duration `yaml:"maximum_word_length"`
	// SilenceThreshold: a frame whose mean absolute amplitude (0–32767) is
	// below this is silence, whatever else is said here.
	SilenceThreshold int `yaml:"silence_threshold"`
	// NoiseMarginDB turns on the adaptive noise floor: a frame is voiced
	// only when its energy is this many dB above the line's noise floor (the
	// quietest recent frames, over NoiseWindow), so steady background noise
	// is silence. 0 turns it off (the reference: a fixed threshold).
	NoiseMarginDB float64       `yaml:"noise_margin_db"`
	NoiseWindow   time.Duration `yaml:"noise_window"`
	// SpeechRangeDB: once a word is heard, a frame this many dB under the
	// loudest word frame so far is background (a television, people in the
	// room), not the speaker, and counts as silence. 0 turns it off (the
	// reference).
	SpeechRangeDB float64 `yaml:"speech_range_db"`
	// ToneDiscrimination keeps pure tones out of the words: a tone frame is
	// neither voice nor silence, and a tone as long as Beep.MinLength before
	// a decision is a machine (beep after a greeting, tone without one). Off
	// in the reference, which counts a beep as voice.
	ToneDiscrimination bool `yaml:"tone_discrimination"`

	// ReviseWithin makes a human or notsure decision provisional: the
	// detector keeps listening this long after it and revises it to
	// machine when the "person" turns out to be a recording: a beep sounds
	// (cause beep), or, within ConfirmSilence, the greeting goes on to a
	// machine rule (greeting, maximum_number_of_words, maximum_word_length).
	// 0 turns revision off: the first decision is final (the reference).
	ReviseWithin time.Duration `yaml:"revise_within"`
	// ConfirmSilence: once the speaker has been quiet this long after their
	// greeting, their later words are theirs (talking to the agent), not a
	// greeting reading on, and only a beep can revise. 0 (human-first):
	// only a beep ever revises, so a person who talks on is never taken
	// for a machine after being treated as a person. A notsure after
	// initial_silence is confirmed from the start.
	ConfirmSilence time.Duration `yaml:"confirm_silence"`

	// Beep is the search for the end of a machine's greeting.
	Beep BeepParams `yaml:"beep"`
}

// BeepParams tunes the beep search that follows a machine decision.
type BeepParams struct {
	// MaxWait after the machine decision before giving up (outcome
	// timeout). 0 turns the search off.
	MaxWait time.Duration `yaml:"max_wait"`
	// MinLength and MaxLength bound a beep: a steady pure tone at least
	// MinLength long; one still going at MaxLength is reported then.
	MinLength time.Duration `yaml:"min_length"`
	MaxLength time.Duration `yaml:"max_length"`
	// MinFreq and MaxFreq (Hz) bound the tone.
	MinFreq float64 `yaml:"min_freq"`
	MaxFreq float64 `yaml:"max_freq"`
	// Purity is the share of a frame's energy that must sit at one
	// frequency for the frame to be tone, 0.5–1 (speech stays well under 0.5).
	Purity float64 `yaml:"purity"`
	// Hangover: a beep is reported this long after its tone stops, so a
	// double beep is one beep and the message starts after the second.
	Hangover time.Duration `yaml:"hangover"`
	// Silence: this long without voice or tone after the machine's greeting
	// means it ended without a beep (outcome silence). 0 waits for a beep
	// or MaxWait.
	Silence time.Duration `yaml:"silence"`
}

func defaultBeep() BeepParams {
	return BeepParams{
		MaxWait: 20 * time.Second, MinLength: 100 * time.Millisecond, MaxLength: 2500 * time.Millisecond,
		MinFreq: 350, MaxFreq: 2600, Purity: 0.9, Hangover: 200 * time.Millisecond, Silence: 3 * time.Second,
	}
}

// Profile returns a profile's parameters; the name "" is human-first.
func Profile(name string) (Params, error) {
	switch name {
	case Reference:
		return Params{
			Profile:              Reference,
			InitialSilence:       2500 * time.Millisecond,
			InitialSilenceResult: Machine,
			Greeting:             1500 * time.Millisecond,
			AfterGreetingSilence: 800 * time.Millisecond,
			TotalAnalysisTime:    5000 * time.Millisecond,
			MinWordLength:        100 * time.Millisecond,
			BetweenWordsSilence:  50 * time.Millisecond,
			MaximumNumberOfWords: 2,
			MaximumWordLength:    5000 * time.Millisecond,
			SilenceThreshold:     256,
			NoiseWindow:          2500 * time.Millisecond,
			Beep:                 defaultBeep(),
		}, nil
	case HumanFirst, "":
		return Params{
			Profile:              HumanFirst,
			InitialSilence:       3000 * time.Millisecond,
			InitialSilenceResult: NotSure,
			Greeting:             3000 * time.Millisecond,
			AfterGreetingSilence: 1200 * time.Millisecond,
			ShortGreeting:        600 * time.Millisecond,
			ShortGreetingSilence: 300 * time.Millisecond,
			TotalAnalysisTime:    7000 * time.Millisecond,
			MinWordLength:        80 * time.Millisecond,
			BetweenWordsSilence:  60 * time.Millisecond,
			MaximumNumberOfWords: 10,
			MaximumWordLength:    3000 * time.Millisecond,
			SilenceThreshold:     100,
			NoiseMarginDB:        5,
			NoiseWindow:          2500 * time.Millisecond,
			SpeechRangeDB:        20,
			ToneDiscrimination:   true,
			ReviseWithin:         8000 * time.Millisecond,
			ConfirmSilence:       0, // a beep only revises: people talking to the agent are never revised
			Beep:                 defaultBeep(),
		}, nil
	}
	return Params{}, fmt.Errorf("amd: profile %q: want one of %s", name, strings.Join(Profiles(), ", "))
}

// Default is the human-first profile.
func Default() Params {
	p, _ := Profile(HumanFirst)
	return p
}

// maxNoiseWindow bounds the noise floor's memory (a ring allocated once per
// detector).
const maxNoiseWindow = 10 * time.Second

// Validate checks every field; the error names the first bad one by its
// YAML key.
func (p Params) Validate() error {
	if !slices.Contains(Profiles(), p.Profile) {
		return fmt.Errorf("amd: profile %q: want one of %s", p.Profile, strings.Join(Profiles(), ", "))
	}
	type dur struct {
		key      string
		v        time.Duration
		min, max time.Duration
	}
	ms := time.Millisecond
	for _, d := range []dur{
		{"initial_silence", p.InitialSilence, 100 * ms, 30 * time.Second},
		{"greeting", p.Greeting, 100 * ms, 30 * time.Second},
		{"after_greeting_silence", p.AfterGreetingSilence, 20 * ms, 10 * time.Second},
		{"short_greeting", p.ShortGreeting, 0, 10 * time.Second},
		{"total_analysis_time", p.TotalAnalysisTime, 500 * ms, 60 * time.Second},
		{"min_word_length", p.MinWordLength, 20 * ms, 5 * time.Second},
		{"between_words_silence", p.BetweenWordsSilence, 20 * ms, 5 * time.Second},
		{"maximum_word_length", p.MaximumWordLength, 100 * ms, 60 * time.Second},
		{"noise_window", p.NoiseWindow, 100 * ms, maxNoiseWindow},
		{"revise_within", p.ReviseWithin, 0, 30 * time.Second},
		{"confirm_silence", p.ConfirmSilence, 0, 10 * time.Second},
		{"beep.max_wait", p.Beep.MaxWait, 0, 5 * time.Minute},
		{"beep.min_length", p.Beep.MinLength, 40 * ms, 5 * time.Second},
		{"beep.max_length", p.Beep.MaxLength, p.Beep.MinLength, 30 * time.Second},
		{"beep.hangover", p.Beep.Hangover, 0, 5 * time.Second},
		{"beep.silence", p.Beep.Silence, 0, 5 * time.Minute},
	} {
		if d.v < d.min || d.v > d.max {
			return fmt.Errorf("amd: %s %v: want %v to %v", d.key, d.v, d.min, d.max)
		}
	}
	if p.ShortGreeting > 0 && (p.ShortGreetingSilence < 20*ms || p.ShortGreetingSilence > 10*time.Second) {
		return fmt.Errorf("amd: short_greeting_silence %v: want 20ms to 10s when short_greeting is set", p.ShortGreetingSilence)
	}
	if p.InitialSilenceResult != Machine && p.InitialSilenceResult != NotSure && p.InitialSilenceResult != Human {
		return fmt.Errorf("amd: initial_silence_result %q: want machine, notsure or human", p.InitialSilenceResult)
	}
	if p.MaximumNumberOfWords < 1 || p.MaximumNumberOfWords > 100 {
		return fmt.Errorf("amd: maximum_number_of_words %d: want 1 to 100", p.MaximumNumberOfWords)
	}
	if p.SilenceThreshold < 0 || p.SilenceThreshold > 32767 {
		return fmt.Errorf("amd: silence_threshold %d: want 0 to 32767", p.SilenceThreshold)
	}
	if p.NoiseMarginDB < 0 || p.NoiseMarginDB > 60 {
		return fmt.Errorf("amd: noise_margin_db %v: want 0 (off) to 60", p.NoiseMarginDB)
	}
	if p.SpeechRangeDB != 0 && (p.SpeechRangeDB < 6 || p.SpeechRangeDB > 60) {
		return fmt.Errorf("amd: speech_range_db %v: want 0 (off) or 6 to 60", p.SpeechRangeDB)
	}
	b := p.Beep
	if b.MinFreq < 100 || b.MinFreq >= b.MaxFreq {
		return fmt.Errorf("amd: beep.min_freq %v: want 100 Hz or more, below beep.max_freq (%v)", b.MinFreq, b.MaxFreq)
	}
	if b.MaxFreq > 3800 {
		return fmt.Errorf("amd: beep.max_freq %v: want at most 3800 Hz (8 kHz audio)", b.MaxFreq)
	}
	if b.Purity < 0.5 || b.Purity > 1 {
		return fmt.Errorf("amd: beep.purity %v: want 0.5 to 1", b.Purity)
	}
	return nil
}

// UnmarshalYAML reads an `amd:` block: the profile it names (human-first
// when absent) with the keys given overriding it. An unknown key is an
// error naming it (campaign files are decoded with known fields only, and a
// misspelt threshold must not silently keep its default).
func (p *Params) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("amd: line %d: want a mapping of parameters", n.Line)
	}
	name := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "profile" {
			name = n.Content[i+1].Value
		}
	}
	base, err := Profile(name)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	v := reflect.ValueOf(&base).Elem()
	if err := decodeFields(n, v, ""); err != nil {
		return err
	}
	*p = base
	return nil
}

// decodeFields decodes a mapping onto the struct v key by key, so an error
// names its key, and refuses keys that name no field.
func decodeFields(n *yaml.Node, v reflect.Value, prefix string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("amd: line %d: %s: want a mapping", n.Line, strings.TrimSuffix(prefix, "."))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, ok := fieldByTag(v.Type(), k.Value)
		if !ok {
			return fmt.Errorf("amd: line %d: unknown key %s%s", k.Line, prefix, k.Value)
		}
		fv := v.FieldByIndex(f.Index)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			if err := decodeFields(val, fv, prefix+k.Value+"."); err != nil {
				return err
			}
			continue
		}
		if err := val.Decode(fv.Addr().Interface()); err != nil {
			return fmt.Errorf("amd: line %d: %s%s: %q is not a valid %s", val.Line, prefix, k.Value, val.Value, f.Type)
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.Split(f.Tag.Get("yaml"), ",")[0] == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// ParseParams reads a YAML parameters file (the body of an `amd:` block)
// and validates it. Empty input is the human-first profile.
func ParseParams(b []byte) (Params, error) {
	p := Default()
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Params{}, err
	}
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}
