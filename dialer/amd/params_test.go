package amd

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestReferenceProfileIsTheReferenceDefaults(t *testing.T) {
	p := profile(t, Reference)
	ms := time.Millisecond
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"initial_silence", p.InitialSilence, 2500 * ms},
		{"greeting", p.Greeting, 1500 * ms},
		{"after_greeting_silence", p.AfterGreetingSilence, 800 * ms},
		{"total_analysis_time", p.TotalAnalysisTime, 5000 * ms},
		{"min_word_length", p.MinWordLength, 100 * ms},
		{"between_words_silence", p.BetweenWordsSilence, 50 * ms},
		{"maximum_word_length", p.MaximumWordLength, 5000 * ms},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if p.MaximumNumberOfWords != 2 || p.SilenceThreshold != 256 || p.InitialSilenceResult != Machine {
		t.Errorf("words %d, threshold %d, initial silence → %s", p.MaximumNumberOfWords, p.SilenceThreshold, p.InitialSilenceResult)
	}
	// None of the improvements.
	if p.NoiseMarginDB != 0 || p.ToneDiscrimination || p.ShortGreeting != 0 || p.SpeechRangeDB != 0 || p.ReviseWithin != 0 {
		t.Errorf("reference has improvements on: %+v", p)
	}
	for _, name := range Profiles() {
		if err := profile(t, name).Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Profile("aggressive"); err == nil || !strings.Contains(err.Error(), "human-first, reference") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, c := range []struct {
		key string
		set func(*Params)
	}{
		{"profile", func(p *Params) { p.Profile = "fast" }},
		{"initial_silence", func(p *Params) { p.InitialSilence = 0 }},
		{"initial_silence_result", func(p *Params) { p.InitialSilenceResult = Hangup }},
		{"greeting", func(p *Params) { p.Greeting = time.Minute }},
		{"after_greeting_silence", func(p *Params) { p.AfterGreetingSilence = -time.Second }},
		{"short_greeting", func(p *Params) { p.ShortGreeting = -time.Second }},
		{"short_greeting_silence", func(p *Params) { p.ShortGreetingSilence = 0 }},
		{"total_analysis_time", func(p *Params) { p.TotalAnalysisTime = 100 * time.Millisecond }},
		{"min_word_length", func(p *Params) { p.MinWordLength = 0 }},
		{"between_words_silence", func(p *Params) { p.BetweenWordsSilence = 0 }},
		{"maximum_number_of_words", func(p *Params) { p.MaximumNumberOfWords = 0 }},
		{"maximum_word_length", func(p *Params) { p.MaximumWordLength = 0 }},
		{"silence_threshold", func(p *Params) { p.SilenceThreshold = 40000 }},
		{"noise_margin_db", func(p *Params) { p.NoiseMarginDB = -1 }},
		{"noise_window", func(p *Params) { p.NoiseWindow = time.Minute }},
		{"speech_range_db", func(p *Params) { p.SpeechRangeDB = 3 }},
		{"revise_within", func(p *Params) { p.ReviseWithin = time.Minute }},
		{"confirm_silence", func(p *Params) { p.ConfirmSilence = -time.Second }},
		{"beep.max_wait", func(p *Params) { p.Beep.MaxWait = time.Hour }},
		{"beep.min_length", func(p *Params) { p.Beep.MinLength = 0 }},
		{"beep.max_length", func(p *Params) { p.Beep.MaxLength = 50 * time.Millisecond }},
		{"beep.min_freq", func(p *Params) { p.Beep.MinFreq = 3000 }},
		{"beep.max_freq", func(p *Params) { p.Beep.MaxFreq = 4000 }},
		{"beep.purity", func(p *Params) { p.Beep.Purity = 0.2 }},
		{"beep.hangover", func(p *Params) { p.Beep.Hangover = -1 }},
		{"beep.silence", func(p *Params) { p.Beep.Silence = time.Hour }},
	} {
		p := Default()
		c.set(&p)
		err := p.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "amd: "+c.key+" ") {
			t.Errorf("%s: %v, want an error naming it", c.key, err)
		}
		if _, nerr := New(p); nerr == nil {
			t.Errorf("%s: New accepted invalid params", c.key)
		}
	}
}

func TestParseParams(t *testing.T) {
	p, err := ParseParams(nil)
	if err != nil || p != Default() {
		t.Fatalf("empty: %+v %v, want the human-first profile", p, err)
	}
	p, err = ParseParams([]byte("profile: reference\ngreeting: 2s\nbeep:\n  max_wait: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := profile(t, Reference)
	want.Greeting, want.Beep.MaxWait = 2*time.Second, 30*time.Second
	if p != want {
		t.Errorf("reference with overrides:\n got %+v\nwant %+v", p, want)
	}
	// Revision keys; revise_within 0 turns it off and needs no confirm_silence.
	p, err = ParseParams([]byte("revise_within: 5s\nconfirm_silence: 800ms\n"))
	if err != nil || p.ReviseWithin != 5*time.Second || p.ConfirmSilence != 800*time.Millisecond {
		t.Errorf("revision keys: %+v %v", p, err)
	}
	if p, err = ParseParams([]byte("revise_within: 0s\nconfirm_silence: 0s\n")); err != nil || p.ReviseWithin != 0 {
		t.Errorf("revision off: %+v %v", p, err)
	}
	// The profile key may come after the overrides.
	p, err = ParseParams([]byte("after_greeting_silence: 900ms\nprofile: human-first\n"))
	if err != nil || p.AfterGreetingSilence != 900*time.Millisecond || p.ShortGreeting != Default().ShortGreeting {
		t.Errorf("override before profile: %+v %v", p, err)
	}
	for _, c := range []struct{ in, want string }{
		{"greting: 2s\n", "unknown key greting"},
		{"beep:\n  maxwait: 2s\n", "unknown key beep.maxwait"},
		{"profile: loud\n", `profile "loud"`},
		{"greeting: 50ms\n", "amd: greeting 50ms"},
		{"greeting: soon\n", "greeting"},
		{"- 1\n", "want a mapping"},
	} {
		if _, err := ParseParams([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.in, err, c.want)
		}
	}
}

func TestParamsInsideACampaign(t *testing.T) {
	// How a campaign file will carry them: an amd: block decoded with the
	// rest, unknown keys refused by the campaign's decoder and by ours.
	var c struct {
		Name string `yaml:"name"`
		AMD  Params `yaml:"amd"`
	}
	d := yaml.NewDecoder(bytes.NewReader([]byte("name: late\namd:\n  profile: reference\n  silence_threshold: 300\n")))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.AMD.Profile != Reference || c.AMD.SilenceThreshold != 300 || c.AMD.Greeting != 1500*time.Millisecond {
		t.Errorf("%+v", c.AMD)
	}
	if err := yaml.Unmarshal([]byte("amd:\n  treshold: 3\n"), &c); err == nil || !strings.Contains(err.Error(), "treshold") {
		t.Errorf("misspelt key inside amd: %v", err)
	}
}
