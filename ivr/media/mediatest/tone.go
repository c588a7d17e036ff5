package mediatest

import (
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// toneShare is how much of a frame's energy must be at the frequency for
// the frame to hold the tone: most of it, so a tone under speech or one of
// a pair (a DTMF digit, ringback) does not count.
const toneShare = 0.6

// ToneAt is how long samples (8 kHz) hold a tone at freq: the 20 ms frames
// above the level of silence with most of their energy within about ±15 Hz
// of freq, by a Goertzel filter (media.GoertzelPower). A frame is too short
// to tell apart tones closer than about 50 Hz (ringback's 440 and 480 Hz
// read as one tone between them).
func ToneAt(samples []int16, freq float64) time.Duration {
	n := 0
	for i := 0; i+frame <= len(samples); i += frame {
		f := samples[i : i+frame]
		var e float64
		for _, v := range f {
			e += float64(v) * float64(v)
		}
		// GoertzelPower is |X(freq)|²/N; a sine of energy E gives E/2.
		if e > voicedRMS*voicedRMS*frame && 2*media.GoertzelPower(f, freq) >= toneShare*e {
			n++
		}
	}
	return time.Duration(n) * media.FrameDuration
}
