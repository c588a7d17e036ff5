package corpus

import (
	"math/rand/v2"
	"slices"
	"strings"
)

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

// newPlan draws every choice of one recording from rng. The draws' order
// is part of the corpus: a change to it changes every file after it.
func newPlan(rng *rand.Rand, idx int, class string, vs []voice) plan {
	p := plan{idx: idx, class: class, v: pick(rng, vs), speed: between(rng, 135, 195), pitch: between(rng, 25, 75)}
	// Answer-to-first-word delay of a person: mostly a few hundred ms.
	personLead := min(1500, 120+int(rng.ExpFloat64()*280))
	switch class {
	case Human:
		p.planHuman(rng, personLead)
	case Machine:
		p.planGreeting(rng, personLead)
		p.planBeep(rng)
	case Silence:
		p.totalMS = between(rng, 6000, 8000)
	case Noise:
		p.totalMS = between(rng, 6000, 8000)
	case Hangup:
		if rng.Float64() < 0.4 {
			p.hangupWord = true
			p.speechDB = -3 - rng.Float64()*15
			p.leadMS = personLead
			p.sentences = []string{pick(rng, humanWord[p.v.lang])}
			p.tailMS = between(rng, 60, 250)
		} else {
			p.totalMS = between(rng, 400, 2000)
		}
	}
	p.planLine(rng, vs)
	return p
}

// planHuman: a person answering.
func (p *plan) planHuman(rng *rand.Rand, personLead int) {
	lang := p.v.lang
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
}

// planGreeting: a machine's greeting (a prank, a carrier's or a personal
// one) and the pauses between its sentences.
func (p *plan) planGreeting(rng *rand.Rand, personLead int) {
	lang := p.v.lang
	p.speechDB = -3 - rng.Float64()*15
	switch r := rng.Float64(); {
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
}

// planBeep: the beep after a machine's greeting (single, double, a tritone,
// or none) and the silence after it.
func (p *plan) planBeep(rng *rand.Rand) {
	p.beepGapMS = between(rng, 150, 1500)
	p.beepDB = -6 - rng.Float64()*14
	switch r := rng.Float64(); {
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
}

// planLine: the line's background noise (louder for the noise class),
// voices in the room, codec, sometimes an answer click.
func (p *plan) planLine(rng *rand.Rand, vs []voice) {
	p.noise = pick(rng, []string{"white", "pink", "brown"})
	switch r := rng.Float64(); {
	case p.class == Noise:
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
	if (p.class == Human || p.class == Machine) && rng.Float64() < 0.1 {
		// Voices in the room (television, other people) under the speaker.
		lang := p.v.lang
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
}

func beepFreq(rng *rand.Rand) float64 {
	if rng.Float64() < 0.5 {
		return pick(rng, beepFreqs)
	}
	return float64(between(rng, 400, 2000))
}
