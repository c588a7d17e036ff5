// Package mediatest holds audio assertions for tests: what the far side of
// a call heard, measured on the audio itself rather than on packet counts.
// Measure and Meter tell speech from silence, tones and noise; ToneAt finds
// a tone at a frequency; Detector finds which recorded prompts arrived.
package mediatest

import (
	"fmt"
	"math"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// Levels of 8 kHz 16-bit audio in 20 ms frames.
const (
	frame = media.FrameSamples
	// voicedRMS is the level a frame needs to count as sound (about -44
	// dBFS; G.711 silence and line noise stay well below).
	voicedRMS = 200
)

// Speech is the voice activity in 8 kHz audio, measured over 20 ms frames.
type Speech struct {
	// Voiced is how long the audio is above the level of silence.
	Voiced time.Duration
	// Syllables counts level peaks that rise well above the dip before them.
	Syllables int
	// Variation is the coefficient of variation of the voiced frames'
	// levels: speech rises and falls with every syllable, while tones and
	// noise hold steady (a tone switched on and off is steady while on).
	Variation float64
	// ZCR is the voiced frames' mean zero-crossing rate per sample: voiced
	// speech sits around 0.1-0.3, white noise near 0.5.
	ZCR float64
}

// Measure analyses samples (8 kHz mono); a last partial frame is left out.
func Measure(samples []int16) Speech {
	var m Meter
	m.Add(samples)
	return m.Speech()
}

// Meter measures speech as it arrives, in any pieces, in constant memory
// and without allocating: a simulated debtor listens to a whole call this
// way without keeping its audio. The zero value is ready. It is not safe
// for concurrent use.
type Meter struct {
	part  [frame]int16 // the start of a frame still to complete
	nPart int

	voiced        int // frames above the level of silence
	sum, sq, zsum float64
	syllables     int
	started, high bool
	trough, peak  float64
}

// Add measures pcm, which follows what was added before.
func (m *Meter) Add(pcm []int16) {
	if m.nPart > 0 {
		k := copy(m.part[m.nPart:], pcm)
		if m.nPart += k; m.nPart < frame {
			return
		}
		m.frame(m.part[:])
		m.nPart, pcm = 0, pcm[k:]
	}
	for len(pcm) >= frame {
		m.frame(pcm[:frame])
		pcm = pcm[frame:]
	}
	m.nPart = copy(m.part[:], pcm)
}

// Reset forgets everything added.
func (m *Meter) Reset() { *m = Meter{} }

func (m *Meter) frame(f []int16) {
	if !m.started {
		m.started, m.trough = true, math.Inf(1)
	}
	var e float64
	z := 0
	for j, v := range f {
		e += float64(v) * float64(v)
		if j > 0 && (f[j-1] < 0) != (v < 0) {
			z++
		}
	}
	rms := math.Sqrt(e / frame)
	if rms > voicedRMS {
		m.voiced++
		m.sum, m.sq, m.zsum = m.sum+rms, m.sq+rms*rms, m.zsum+float64(z)/frame
	}
	// A syllable: the level climbs to more than twice the last dip, and
	// counts again only after falling below half its peak.
	if !m.high {
		m.trough = min(m.trough, rms)
		if rms > voicedRMS && rms > 2*m.trough+100 {
			m.high, m.peak = true, rms
			m.syllables++
		}
	} else {
		m.peak = max(m.peak, rms)
		if rms < m.peak/2 {
			m.high, m.trough = false, rms
		}
	}
}

// Speech is the measure of everything added so far.
func (m *Meter) Speech() Speech {
	s := Speech{Syllables: m.syllables}
	if m.voiced == 0 {
		return s
	}
	n := float64(m.voiced)
	mean := m.sum / n
	s.Voiced = time.Duration(m.voiced) * media.FrameDuration
	s.Variation = math.Sqrt(max(0, m.sq/n-mean*mean)) / mean
	s.ZCR = m.zsum / n
	return s
}

// IsSpeech says whether the audio holds at least least of speech: sound
// whose level varies like syllables (2 to 9 a second of sound) with the
// zero-crossing rate of a voice. Silence, tones, tone cadences, DTMF and
// noise do not pass.
func (s Speech) IsSpeech(least time.Duration) bool {
	if s.Voiced < least || s.Voiced == 0 {
		return false
	}
	rate := float64(s.Syllables) / s.Voiced.Seconds()
	return s.Variation >= 0.4 && rate >= 2 && rate <= 9 && s.ZCR >= 0.05 && s.ZCR <= 0.35
}

// Silent says whether no 20 ms frame rose above the level of silence (G.711
// silence and faint line noise are silent; a tone or a word is not).
func (s Speech) Silent() bool { return s.Voiced == 0 }

func (s Speech) String() string {
	rate := 0.0
	if s.Voiced > 0 {
		rate = float64(s.Syllables) / s.Voiced.Seconds()
	}
	return fmt.Sprintf("voiced %s, %d syllables (%.1f/s), level variation %.2f, zero crossings %.2f",
		s.Voiced.Round(10*time.Millisecond), s.Syllables, rate, s.Variation, s.ZCR)
}
