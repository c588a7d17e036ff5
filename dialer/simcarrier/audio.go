package simcarrier

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/marcador/marcador/dialer/amd"
	"github.com/marcador/marcador/dialer/amd/corpus"
	"github.com/marcador/marcador/ivr/media"
)

// Audio is what the simulator's people and answering machines say when
// they answer: recordings from dialer/amd's labelled corpus (espeak-ng
// voices through a telephone channel), so a campaign's answering-machine
// detection meets realistic audio. Without it they say a synthetic
// greeting (Voice) and a 1 kHz beep.
type Audio struct {
	Human   []Greeting // a person answering, then waiting to hear someone
	Machine []Greeting // a voicemail greeting and its beep, then the box records
}

// Greeting is one recording an answer plays.
type Greeting struct {
	Name    string // the corpus file
	Samples []int16
	// BeepEnd is where a machine's beep ends (its box records from there);
	// 0 for a person.
	BeepEnd time.Duration
}

// pick is the greeting of a call to number: the three digits before the
// last (which picks the outcome) choose it, modulo how many there are, so
// a test knows which one a number gets (+525512340034: machine 3).
func pick(gs []Greeting, number string) *Greeting {
	if len(gs) == 0 {
		return nil
	}
	n, seen := 0, 0
	for i, mul := len(number)-1, 1; i >= 0 && seen < 4; i-- {
		if c := number[i]; c >= '0' && c <= '9' {
			if seen > 0 {
				n += int(c-'0') * mul
				mul *= 10
			}
			seen++
		}
	}
	return &gs[n%len(gs)]
}

// humanTailMS is the room a person's recording keeps after their first
// words.
const humanTailMS = 300

// CorpusAudio loads the people (class human) and the machines with a beep
// of the corpus in dir (corpus.Generate or corpus.Cached wrote it); keep,
// if set, says which entries to use.
func CorpusAudio(dir string, keep func(corpus.Entry) bool) (*Audio, error) {
	m, err := corpus.Load(dir)
	if err != nil {
		return nil, err
	}
	a := &Audio{}
	for _, e := range m.Entries {
		if keep != nil && !keep(e) {
			continue
		}
		var to *[]Greeting
		g := Greeting{Name: e.File}
		switch {
		case e.Class == corpus.Human:
			to = &a.Human
		case e.Class == corpus.Machine && e.BeepEndMS != nil:
			to, g.BeepEnd = &a.Machine, time.Duration(*e.BeepEndMS)*time.Millisecond
		default:
			continue
		}
		if g.Samples, err = amd.LoadWAV(filepath.Join(dir, e.File)); err != nil {
			return nil, err
		}
		if e.Class == corpus.Human && e.GreetingEndMS > 0 {
			// The person's first words: what they say later while
			// waiting would hold up their keys (person plays it whole).
			g.Samples = g.Samples[:min(len(g.Samples), (e.GreetingEndMS+humanTailMS)*media.SampleRate/1000)]
		}
		*to = append(*to, g)
	}
	if len(a.Human) == 0 || len(a.Machine) == 0 {
		return nil, fmt.Errorf("simcarrier: corpus %s: %d people and %d machines with a beep; want some of each", dir, len(a.Human), len(a.Machine))
	}
	return a, nil
}
