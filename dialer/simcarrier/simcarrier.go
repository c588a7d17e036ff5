// Package simcarrier is a SIP carrier and its subscribers on loopback: it
// answers the dialer's INVITEs like a real network would (humans, answering
// machines, busy lines, no answer, bad numbers, failures), with real G.711
// audio and RFC 4733 key presses. Its people listen: each key waits until
// the dialer has spoken since the last one, and a dialer that says nothing
// is hung up on. The demo, the load benchmark and the tests dial it.
package simcarrier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
)

// Outcome is what happens to a call.
type Outcome string

const (
	Human        Outcome = "human"         // short greeting, presses keys, talks
	Machine      Outcome = "machine"       // long greeting, then a beep
	Busy         Outcome = "busy"          // 486
	NoAnswer     Outcome = "no_answer"     // rings until cancelled
	Invalid      Outcome = "invalid"       // 404
	NetworkError Outcome = "network_error" // 503
)

// Outcomes in the order of the default last-digit table.
var Outcomes = []Outcome{Human, Machine, Busy, NoAnswer, Invalid, NetworkError}

// DefaultByDigit is the deterministic table used when ByLastDigit is on: the
// dialled number's last digit picks the outcome, so a test or demo knows
// what each number will do.
var DefaultByDigit = [10]Outcome{Human, Human, Human, Human, Machine, Machine, Busy, NoAnswer, Invalid, NetworkError}

// Range is a uniform duration distribution.
type Range struct{ Min, Max time.Duration }

func (r Range) draw(rng *rand.Rand) time.Duration {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + time.Duration(rng.Int64N(int64(r.Max-r.Min)))
}

// Options configure the simulator.
type Options struct {
	Listen   string // SIP UDP address, e.g. 127.0.0.1:5090
	RTPPorts media.PortRange
	// Mix weights outcomes when ByLastDigit is off (default: the shares of DefaultByDigit).
	Mix         map[Outcome]float64
	ByLastDigit bool
	Ring        Range // time before answer or rejection; default 1-4 s
	Talk        Range // a human hangs up after this (if the dialer has not); default 20-60 s
	// Digits a human presses, DigitsAfter their greeting (default "1" after
	// 2.5 s). A '/' in Digits waits another DigitsAfter before the rest; an
	// empty part only listens.
	Digits      string
	DigitsAfter time.Duration
	// DigitsFor, if set, picks the keys per called number (a demo's
	// debtors do different things); "" means the human only listens.
	DigitsFor func(number string) string
	// Proof, if set, is what the debtor of a number keys to prove who
	// they are at an outbound script's right-party check (e.g. the last
	// four digits of their national id; "" when calls to the number have
	// no check, e.g. an agent campaign's): people then press 1 and the
	// proof before their Digits. WrongParty and FailsCheck are the shares
	// of people (0-1, drawn by number: PartyFor) who are not the debtor and
	// press 2, or who press 1 and key a wrong proof twice.
	Proof                  func(number string) string
	WrongParty, FailsCheck float64
	// Parties, if set, says who answers each number instead of the shares.
	Parties func(number string) Party
	// Heard is how much speech a human waits to hear from the dialer
	// before each part of their keys, on top of DigitsAfter (default 1 s,
	// a few words); Patience is how long they wait for it before hanging up
	// (default 10 s). Tones, noise and silence are not speech.
	Heard, Patience time.Duration
	// Record keeps a Call for every answered call (Calls), for tests; a
	// long-running simulator leaves it off.
	Record bool
	// KeepAudio (with Record) keeps all a person heard in Call.Audio, for
	// tests that tell which prompts were played.
	KeepAudio bool
	Seed      uint64
	// Continuous makes a human talk without pauses and press no keys, so a
	// load test holds two-way audio on every call.
	Continuous bool
	// Audio, if set, is what people and machines say when they answer
	// (CorpusAudio: recordings of dialer/amd's corpus); otherwise a
	// synthetic greeting and beep.
	Audio *Audio
	// ToneFor, if set, makes a call to a number it gives a frequency (Hz)
	// for a tone line: answered as a human would be, it plays that tone
	// for as long as the call lasts, and reports the first steady tone it
	// hears to OnTone (toneline.go). 0 leaves the number to the Mix.
	ToneFor func(number string) float64
	OnTone  func(number string, freq float64)
	// RTPSockets > 0 carries the calls' RTP on that many shared sockets
	// (dialer.EndpointOptions.RTPSockets); 0, one socket per call.
	RTPSockets int
	// PacerShards is dialer.EndpointOptions.PacerShards for the calls'
	// streams (0: the default).
	PacerShards int
	Logger      *slog.Logger
}

// Stats counts what the simulator did.
type Stats struct {
	Offered, Answered, Rejected, Cancelled, Active int64
	// Unheard counts people who hung up because nobody spoke to them.
	Unheard   int64
	ByOutcome map[Outcome]int64
}

// Carrier is a running simulator.
type Carrier struct {
	opt  Options
	ep   *dialer.Endpoint
	log  *slog.Logger
	mu   sync.Mutex
	rng  *rand.Rand
	by   map[Outcome]int64
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc

	calls []Call // ended calls, when opt.Record

	offered, answered, rejected, cancelled, active, unheard atomic.Int64
	greetHuman, greetMachine, beep, talk                    *media.Prompt
}

// Start runs the simulator until Close.
func Start(opt Options) (*Carrier, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Ring == (Range{}) {
		opt.Ring = Range{time.Second, 4 * time.Second}
	}
	if opt.Talk == (Range{}) {
		opt.Talk = Range{20 * time.Second, 60 * time.Second}
	}
	if opt.Digits == "" {
		opt.Digits = "1"
	}
	if opt.DigitsAfter == 0 {
		opt.DigitsAfter = 2500 * time.Millisecond
	}
	if opt.Heard == 0 {
		opt.Heard = time.Second
	}
	if opt.Patience == 0 {
		opt.Patience = 10 * time.Second
	}
	if opt.Mix == nil {
		opt.Mix = map[Outcome]float64{}
		for _, o := range DefaultByDigit {
			opt.Mix[o]++
		}
	}
	if opt.RTPPorts == (media.PortRange{}) {
		opt.RTPPorts = media.PortRange{Min: 50000, Max: 59999}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Carrier{opt: opt, log: opt.Logger, rng: rand.New(rand.NewPCG(opt.Seed, 0x5ca1ab1e)), by: map[Outcome]int64{},
		ctx: ctx, stop: cancel}
	c.greetHuman = &media.Prompt{Name: "hello", Samples: Voice(800*time.Millisecond, 180, 1)}
	c.greetMachine = &media.Prompt{Name: "voicemail-greeting", Samples: Voice(5500*time.Millisecond, 140, 2)}
	c.beep = &media.Prompt{Name: "beep", Samples: media.Tone(1000, 12000, 8000/2)}
	c.talk = &media.Prompt{Name: "talk", Samples: Voice(3*time.Second, 170, 3)}
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: opt.Listen, RTPPorts: opt.RTPPorts, RTPSockets: opt.RTPSockets, PacerShards: opt.PacerShards,
		RTPAddr: netip.MustParseAddr("127.0.0.1"), UserAgent: "marcador-simcarrier", Logger: opt.Logger,
		// A carrier takes every call the dialer places, as many as it can.
		Inbound: dialer.InboundPolicy{AnySource: true, MaxCalls: math.MaxInt32, ReserveOutbound: -1},
		OnInvite: func(in *dialer.Inbound) {
			c.wg.Add(1)
			defer c.wg.Done()
			c.handle(in)
		}})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("simcarrier: %w", err)
	}
	c.ep = ep
	return c, nil
}

// Addr is the SIP address the simulator listens on.
func (c *Carrier) Addr() string { return c.ep.Addr() }

// Close hangs up every call and stops.
func (c *Carrier) Close() error {
	c.stop()
	err := c.ep.Close()
	c.wg.Wait()
	return err
}

// Stats returns the counters.
func (c *Carrier) Stats() Stats {
	c.mu.Lock()
	by := make(map[Outcome]int64, len(c.by))
	for k, v := range c.by {
		by[k] = v
	}
	c.mu.Unlock()
	return Stats{Offered: c.offered.Load(), Answered: c.answered.Load(), Rejected: c.rejected.Load(),
		Cancelled: c.cancelled.Load(), Active: c.active.Load(), Unheard: c.unheard.Load(), ByOutcome: by}
}

// Calls are the answered calls that have ended, in the order they ended
// (only with Options.Record).
func (c *Carrier) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// Settle waits until no answered call is in progress, so Calls holds them
// all, or fails when ctx ends.
func (c *Carrier) Settle(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.active.Load() > 0 { // a call's record is in before it stops counting as active
		select {
		case <-ctx.Done():
			return fmt.Errorf("simcarrier: %d calls still in progress: %w", c.active.Load(), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// CheckHeard settles (until ctx ends), then checks every recorded human
// call: the error names each one
// whose person pressed their first key (or, with none to press, stopped
// listening) without having heard at least least of speech, as with a
// dialer that sends silence, a tone or noise. humans is how many calls it
// checked, so a test can tell a pass from nothing to check.
func (c *Carrier) CheckHeard(ctx context.Context, least time.Duration) (humans int, err error) {
	if err := c.Settle(ctx); err != nil {
		return 0, err
	}
	var errs []error
	for _, call := range c.Calls() {
		if call.Outcome != Human || c.opt.Continuous {
			continue
		}
		humans++
		switch {
		case call.Unheard:
			errs = append(errs, fmt.Errorf("%s hung up: nobody spoke within %s", call.To, c.opt.Patience))
		case len(call.Turns) == 0 || !call.Turns[0].Heard.IsSpeech(least):
			first := Turn{}
			if len(call.Turns) > 0 {
				first = call.Turns[0]
			}
			errs = append(errs, fmt.Errorf("%s keyed %q (or the call ended) after hearing %s; want %s of speech first", call.To, first.Keys, first.Heard, least))
		}
	}
	return humans, errors.Join(errs...)
}

// OutcomeFor is what the simulator will do with a call to number.
func (c *Carrier) OutcomeFor(number string) Outcome {
	if c.opt.ByLastDigit {
		if d := lastDigit(number); d >= 0 {
			return DefaultByDigit[d]
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0.0
	for _, o := range Outcomes {
		total += c.opt.Mix[o]
	}
	x := c.rng.Float64() * total
	for _, o := range Outcomes {
		if x -= c.opt.Mix[o]; x < 0 {
			return o
		}
	}
	return Human
}

// toneFor is the tone a call to number plays (Options.ToneFor), 0 for none.
func (c *Carrier) toneFor(number string) float64 {
	if c.opt.ToneFor == nil {
		return 0
	}
	return c.opt.ToneFor(number)
}

func lastDigit(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] >= '0' && s[i] <= '9' {
			return int(s[i] - '0')
		}
	}
	return -1
}

func (c *Carrier) draw(r Range) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return r.draw(c.rng)
}

// rejects are the SIP answers of the outcomes that ring and are never
// answered.
var rejects = map[Outcome]struct {
	code   int
	reason string
}{
	Busy: {486, "Busy Here"}, Invalid: {404, "Not Found"}, NetworkError: {503, "Service Unavailable"},
	NoAnswer: {480, "Temporarily Unavailable"},
}

func (c *Carrier) handle(in *dialer.Inbound) {
	c.offered.Add(1)
	o := c.OutcomeFor(in.To())
	if c.toneFor(in.To()) > 0 {
		o = Human
	}
	c.mu.Lock()
	c.by[o]++
	c.mu.Unlock()
	if !c.ring(in, o) {
		return
	}
	if r, ok := rejects[o]; ok {
		c.rejected.Add(1)
		in.Reject(r.code, r.reason)
		return
	}
	c.answer(in, o)
}

// ring rings for the drawn time (a no-answer until the dialer cancels);
// false when the call ended first.
func (c *Carrier) ring(in *dialer.Inbound, o Outcome) bool {
	in.Ringing()
	ring := c.draw(c.opt.Ring)
	if o == NoAnswer {
		ring = 10 * time.Minute // until the dialer cancels
	}
	select {
	case <-in.Cancelled():
		c.cancelled.Add(1)
		return false
	case <-c.ctx.Done():
		in.Reject(503, "Service Unavailable")
		return false
	case <-time.After(ring):
	}
	return true
}

// answer takes the call and plays its outcome for the drawn talk time: a
// person who listens and keys, or a machine's greeting and beep.
func (c *Carrier) answer(in *dialer.Inbound, o Outcome) {
	var e *ear
	var listen func([]int16)
	tone := c.toneFor(in.To())
	if tone > 0 {
		to := in.To()
		listen = (&toneEar{report: func(f float64) {
			if c.opt.OnTone != nil {
				c.opt.OnTone(to, f)
			}
		}}).hear
	} else if o == Human && !c.opt.Continuous || o == Machine {
		e = newEar(c.opt.Heard)
		e.keep = o == Human && c.opt.Record && c.opt.KeepAudio
		listen = e.hear
	}
	leg, err := in.Answer(c.ctx, dialer.AnswerOptions{OnAudio: listen})
	if err != nil {
		c.log.Warn("simcarrier: answer failed", "err", err)
		return
	}
	c.answered.Add(1)
	c.active.Add(1)
	defer c.active.Add(-1)
	ctx, cancel := context.WithTimeout(c.ctx, c.draw(c.opt.Talk))
	defer cancel()
	go func() {
		select {
		case <-leg.Ended():
		case <-ctx.Done():
		}
		cancel()
	}()
	s := leg.Session()
	rec := &Call{To: in.To(), Outcome: o}
	if c.opt.Record { // deferred after active's decrement, so it runs before it
		defer func() {
			c.mu.Lock()
			c.calls = append(c.calls, *rec)
			c.mu.Unlock()
		}()
	}
	switch {
	case tone > 0:
		toneLine(ctx, s, tone)
	case o == Human:
		if c.opt.Continuous {
			for ctx.Err() == nil {
				if _, err := s.Play(ctx, false, c.talk); err != nil {
					break
				}
			}
			break
		}
		var digits string
		rec.Party, digits = c.keysFor(in.To())
		c.person(ctx, s, e, c.humanGreeting(in.To(), rec), digits, rec)
		rec.Audio = e.kept()
	case o == Machine:
		c.machine(ctx, s, e, rec)
	}
	leg.Hangup(context.Background())
}

// Voice synthesises speech-like audio: a glottal-pulse-rich tone at pitch Hz
// shaped into syllables (about 4 a second) with pauses, so energy, pitch and
// rhythm resemble a voice for AMD and for the ear.
func Voice(d time.Duration, pitch float64, seed uint64) []int16 {
	n := int(d.Seconds() * media.SampleRate)
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]int16, n)
	syl := 0.0
	sylLen := 0.25
	phase := 0.0
	for i := range out {
		t := float64(i) / media.SampleRate
		if t-syl > sylLen {
			syl, sylLen = t, 0.15+rng.Float64()*0.2
		}
		x := (t - syl) / sylLen
		env := math.Sin(math.Pi * x)
		if int(syl*7)%5 == 4 { // a pause every few syllables
			env = 0
		}
		f := pitch * (1 + 0.08*math.Sin(2*math.Pi*1.3*t))
		phase += 2 * math.Pi * f / media.SampleRate
		v := 0.0
		for h := 1.0; h <= 8; h++ { // harmonics falling off like a voice
			v += math.Sin(h*phase) / h
		}
		out[i] = int16(6000 * env * v / 2)
	}
	return out
}
