// Package mediatest holds audio assertions for tests: what the far side of
// a call heard, measured on the audio itself rather than on packet counts.
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

// Measure analyses samples (8 kHz mono).
func Measure(samples []int16) Speech {
	var s Speech
	var sum, sq, zsum float64
	n := 0
	high, trough, peak := false, math.Inf(1), 0.0
	for i := 0; i+frame <= len(samples); i += frame {
		f := samples[i : i+frame]
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
			n++
			sum, sq, zsum = sum+rms, sq+rms*rms, zsum+float64(z)/frame
		}
		// A syllable: the level climbs to more than twice the last dip,
		// and counts again only after falling below half its peak.
		if !high {
			trough = min(trough, rms)
			if rms > voicedRMS && rms > 2*trough+100 {
				high, peak = true, rms
				s.Syllables++
			}
		} else {
			peak = max(peak, rms)
			if rms < peak/2 {
				high, trough = false, rms
			}
		}
	}
	if n == 0 {
		return s
	}
	mean := sum / float64(n)
	s.Voiced = time.Duration(n) * media.FrameDuration
	s.Variation = math.Sqrt(max(0, sq/float64(n)-mean*mean)) / mean
	s.ZCR = zsum / float64(n)
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

func (s Speech) String() string {
	rate := 0.0
	if s.Voiced > 0 {
		rate = float64(s.Syllables) / s.Voiced.Seconds()
	}
	return fmt.Sprintf("voiced %s, %d syllables (%.1f/s), level variation %.2f, zero crossings %.2f",
		s.Voiced.Round(10*time.Millisecond), s.Syllables, rate, s.Variation, s.ZCR)
}
