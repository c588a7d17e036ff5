package simcarrier

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/marcador/marcador/ivr/media"
)

// A tone line answers and plays one steady tone for as long as the call
// lasts, and listens for one: the first tone it hears held for
// toneHeldFrames goes to Options.OnTone. A load test bridges two tone
// lines with different frequencies and checks that each heard the
// other's, which proves audio crossed the bridge both ways (and not from
// another bridge) without keeping any audio.

const (
	toneHeldFrames = 10   // 200 ms of one tone
	toneMinShare   = 0.9  // of a frame's energy at the tone (media.PureTone)
	toneDriftHz    = 15.0 // how far a frame's estimate may wander from the first
)

// toneEar finds the first steady tone in what a tone line hears.
type toneEar struct {
	mu     sync.Mutex
	run    int     // frames in a row of one tone
	first  float64 // that tone's first estimate
	sum    float64 // of the run's estimates
	done   bool
	report func(freq float64)
}

// hear is the leg's OnAudio (the receive goroutine).
func (e *toneEar) hear(pcm []int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return
	}
	f, share := media.PureTone(pcm)
	switch {
	case share < toneMinShare:
		e.run = 0
		return
	case e.run == 0 || math.Abs(f-e.first) > toneDriftHz:
		e.run, e.first, e.sum = 0, f, 0
	}
	e.run++
	e.sum += f
	if e.run == toneHeldFrames {
		e.done = true
		e.report(e.sum / toneHeldFrames)
	}
}

// toneLine plays freq until ctx ends or the call does.
func toneLine(ctx context.Context, s *media.Session, freq float64) {
	// One second holds a whole number of periods of an integral frequency,
	// so the prompt loops without a click.
	p := &media.Prompt{Name: "tone", Samples: media.Tone(math.Round(freq), 8000, media.SampleRate)}
	for ctx.Err() == nil {
		if _, err := s.Play(ctx, false, p); err != nil {
			return
		}
	}
}

// ToneNumber is the n-th number under prefix whose line plays hz (10 to
// 3800): the four digits after prefix are the tone, so a simulator run as
// a separate process (`marcador simcarrier -tone-prefix`) needs no table.
func ToneNumber(prefix string, hz, n int) string {
	return fmt.Sprintf("%s%04d%04d", prefix, hz, n)
}

// ToneOfNumber is the tone of a number made by ToneNumber with prefix, 0
// when number is not one.
func ToneOfNumber(prefix, number string) float64 {
	rest, ok := strings.CutPrefix(number, prefix)
	if !ok || len(rest) < 4 {
		return 0
	}
	hz, err := strconv.Atoi(rest[:4])
	if err != nil || hz < 10 || hz > 3800 {
		return 0
	}
	return float64(hz)
}
