package simcarrier

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

// Call is what one simulated subscriber heard and did on an answered call
// (kept when Options.Record is on).
type Call struct {
	To      string
	Outcome Outcome
	Party   Party // who answered a person's phone
	// Audio is everything a person heard (Options.KeepAudio).
	Audio []int16
	// Turns are the parts of the person's keys they got to, in order; the
	// last may be cut short by a hang-up.
	Turns []Turn
	// Unheard: the person hung up because no speech came within their
	// patience (the dialer sent silence, a tone or noise).
	Unheard bool
	// Greeting is what the person or machine said on answering (a corpus
	// file with Options.Audio).
	Greeting string
	// A machine's box: what it heard until the end of its beep (a message
	// started too soon), and after it (the message it recorded).
	BeforeBeep, Message mediatest.Speech
}

// Turn is one part of a person's keys: the speech they heard since the
// previous part (or since answering), then the keys they pressed: "" for a
// part that only listens, or when the call or their patience ended first.
type Turn struct {
	Heard mediatest.Speech
	Keys  string
}

// ear listens to one call: every received frame goes through a speech
// meter, so a person knows whether they have been spoken to without
// keeping the audio (a 1,000-call load costs a few floats per packet).
type ear struct {
	mu    sync.Mutex
	m     mediatest.Meter
	least time.Duration
	said  bool          // the current turn has heard least of speech
	heard chan struct{} // signalled once when said becomes true
	keep  bool          // keep the audio (Options.KeepAudio)
	audio []int16
}

func newEar(least time.Duration) *ear { return &ear{least: least, heard: make(chan struct{}, 1)} }

// hear is the leg's OnAudio (the receive goroutine).
func (e *ear) hear(pcm []int16) {
	e.mu.Lock()
	e.m.Add(pcm)
	if e.keep {
		e.audio = append(e.audio, pcm...)
	}
	if !e.said && e.m.Speech().IsSpeech(e.least) {
		e.said = true
		select { // take drains it, so there is room
		case e.heard <- struct{}{}:
		default:
		}
	}
	e.mu.Unlock()
}

// kept is the audio heard so far (nil unless keep).
func (e *ear) kept() []int16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.audio)
}

// take ends a turn: what it heard, and a fresh start for the next.
func (e *ear) take() mediatest.Speech {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.m.Speech()
	e.m.Reset()
	e.said = false
	select {
	case <-e.heard:
	default:
	}
	return s
}

// await waits until the turn has heard speech and at least after has
// passed. It fails when patience passes without speech or ctx ends.
func (e *ear) await(ctx context.Context, after, patience time.Duration) (mediatest.Speech, bool) {
	minWait, give := time.NewTimer(after), time.NewTimer(patience)
	defer minWait.Stop()
	defer give.Stop()
	waited, heard := false, false
	for !waited || !heard {
		select {
		case <-minWait.C:
			waited = true
		case <-e.heard:
			heard = true
		case <-give.C:
			if !heard {
				return e.take(), false
			}
		case <-ctx.Done():
			return e.take(), false
		}
	}
	return e.take(), true
}

// person is a human who listens: a greeting, then each part of digits
// ('/'-separated) once they have heard the dialer speak since the part
// before, then a few words now and then until someone hangs up. Nothing
// said within their patience and they hang up.
func (c *Carrier) person(ctx context.Context, s *media.Session, e *ear, greeting *media.Prompt, digits string, rec *Call) {
	s.Play(ctx, false, greeting)
	for _, part := range strings.Split(digits, "/") {
		heard, ok := e.await(ctx, c.opt.DigitsAfter, c.opt.Patience)
		if !ok {
			rec.Turns = append(rec.Turns, Turn{Heard: heard})
			if ctx.Err() == nil {
				rec.Unheard = true
				c.unheard.Add(1)
				c.log.Info("simcarrier: hung up, nobody spoke", "to", rec.To, "patience", c.opt.Patience, "heard", heard.String())
			}
			return
		}
		rec.Turns = append(rec.Turns, Turn{Heard: heard, Keys: part})
		if part != "" {
			s.SendDigits(part)
		}
	}
	for ctx.Err() == nil { // talk now and then until someone hangs up
		s.Play(ctx, false, c.talk)
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
		}
	}
}

// humanGreeting is what a person answering number says: a corpus
// recording with Options.Audio, else the synthetic hello.
func (c *Carrier) humanGreeting(number string, rec *Call) *media.Prompt {
	if c.opt.Audio == nil {
		return c.greetHuman
	}
	g := pick(c.opt.Audio.Human, number)
	rec.Greeting = g.Name
	return &media.Prompt{Name: g.Name, Samples: g.Samples}
}

// machine is an answering machine: its greeting and beep, then it records
// until the dialer leaves (or the call's time is up). What it heard before
// the end of the beep and after it are kept apart: a voicemail message
// belongs after it.
func (c *Carrier) machine(ctx context.Context, s *media.Session, e *ear, rec *Call) {
	greeting, rest := []*media.Prompt{c.greetMachine, c.beep}, []*media.Prompt(nil)
	if c.opt.Audio != nil {
		g := pick(c.opt.Audio.Machine, rec.To)
		rec.Greeting = g.Name
		cut := min(len(g.Samples), int(g.BeepEnd.Seconds()*media.SampleRate))
		greeting = []*media.Prompt{{Name: g.Name, Samples: g.Samples[:cut]}}
		rest = []*media.Prompt{{Name: g.Name + " (after the beep)", Samples: g.Samples[cut:]}}
	}
	s.Play(ctx, false, greeting...)
	rec.BeforeBeep = e.take()
	if rest != nil {
		s.Play(ctx, false, rest...) // the room the box records
	}
	<-ctx.Done()
	rec.Message = e.take()
}
