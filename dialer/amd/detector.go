// Package amd is answering-machine detection: it listens to the first
// seconds of an answered call, frame by frame as RTP delivers them, and
// says whether a person or a machine answered; for a machine it then finds
// the end of the greeting and the beep, so a voicemail message starts after
// it.
//
// The analysis works on 20 ms frames of 8 kHz 16-bit audio. Each frame is
// silence, voice or tone: silence when its mean absolute amplitude is under
// SilenceThreshold or (with the adaptive noise floor) its energy is within
// NoiseMarginDB of the line's noise; tone when one frequency holds
// Beep.Purity of its energy (media.PureTone); voice otherwise. Runs of voice
// are words; the greeting's length, its number of words and the silences
// around it decide, with the rules and causes documented on Params and in
// the README. Time is audio time (frames fed), not the wall clock, so a
// recording classifies the same offline as live.
package amd

import (
	"math"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// Result of the analysis (the attempt row's amd column).
type Result string

const (
	Human   Result = "human"
	Machine Result = "machine"
	// NotSure: no rule decided; campaigns treat it as a person.
	NotSure Result = "notsure"
	// Hangup: the call ended before a decision.
	Hangup Result = "hangup"
)

// Cause is the rule that decided (the attempt row's amd_cause column).
type Cause string

const (
	CauseAfterGreetingSilence Cause = "after_greeting_silence" // human: a greeting, then silence waiting for us
	CauseShortGreeting        Cause = "short_greeting"         // human: a short greeting, then a shorter silence
	CauseInitialSilence       Cause = "initial_silence"        // machine or notsure, per InitialSilenceResult
	CauseLongGreeting         Cause = "long_greeting"          // machine
	CauseMaxWords             Cause = "max_words"              // machine
	CauseMaxWordLength        Cause = "max_word_length"        // machine
	CauseBeep                 Cause = "beep"                   // machine: a beep after the greeting
	CauseTone                 Cause = "tone"                   // machine: a tone and no voice (beep-only box, fax)
	CauseTooLong              Cause = "too_long"               // notsure: total_analysis_time passed
	CauseHangup               Cause = "hangup"                 // hangup
)

// Decision is the classification and when it was made.
type Decision struct {
	Result Result
	Cause  Cause
	// At is the audio time from the answer to the end of the frame that
	// decided (amd_ms).
	At time.Duration
	// Provisional: a human or notsure decision the detector may still
	// revise to machine (revise_within): act on it (bridge the agent,
	// start the prompt) and keep feeding audio until Done.
	Provisional bool
	// Revised: this machine decision replaced a provisional one, which was
	// From (human or notsure) made at FirstAt; the call was treated as a
	// person's from FirstAt to At.
	Revised bool
	From    Result
	FirstAt time.Duration
}

// BeepOutcome is how the beep search after a machine decision ended.
type BeepOutcome string

const (
	BeepFound   BeepOutcome = "beep"    // a beep; the message may start at Beep.At
	BeepSilence BeepOutcome = "silence" // the greeting ended without a beep
	BeepTimeout BeepOutcome = "timeout" // beep.max_wait passed
	BeepHangup  BeepOutcome = "hangup"  // the call ended first
)

// Beep is the end of a machine's greeting.
type Beep struct {
	Outcome BeepOutcome
	// At is when the search ended: after the beep (and its hangover), or
	// when silence or the timeout said so.
	At time.Duration
	// Start, End and Freq describe the beep when Outcome is BeepFound.
	Start, End time.Duration
	Freq       float64
}

// Event says what a Feed or Hangup call decided; both bits can be set.
type Event uint8

const (
	// Decided: Decision() is final.
	Decided Event = 1 << iota
	// BeepDone: Beep() is final (only after a machine decision with
	// beep.max_wait > 0).
	BeepDone
	// Revised: a provisional human or notsure decision became machine
	// (Decision().Revised); the beep search starts now.
	Revised
)

// FrameSamples is one analysis frame: 20 ms at 8 kHz.
const FrameSamples = 160

const frameDur = 20 * time.Millisecond

// frames converts a duration to whole frames, rounding up.
func frames(d time.Duration) int { return int((d + frameDur - 1) / frameDur) }

// toneDrift is how far (Hz) a tone's frequency may wander between frames and
// still be the same tone; further is a new tone (tri-tones, speech).
const toneDrift = 50

// Detector classifies one call. It is not safe for concurrent use: feed it
// from the goroutine that receives the audio. It allocates only in New.
type Detector struct {
	p Params
	// durations in frames
	nInitialSilence, nGreeting, nAfterGreeting, nShortGreeting, nShortSilence int
	nTotal, nMinWord, nBetween, nMaxWordLen                                   int
	nBeepMin, nBeepMax, nBeepHang, nBeepSilence, nBeepWait                    int
	nRevise, nConfirm                                                         int

	levels []float64 // recent frame energies (dB), for the noise floor
	trace  func(Frame)

	st state
}

// Frame is what the detector made of one 20 ms frame (for tracing).
type Frame struct {
	Index          int
	LevelDB        float64 // energy, dB over one LSB²
	FloorDB        float64 // the noise floor then
	MeanAbs        int
	Voice, Tone    bool // neither: silence
	Freq, Purity   float64
	Words, VoiceMS int // words and voice so far
}

// Trace calls f with every frame analysed from now on (nil stops it):
// `marcador amd -trace` shows why a recording was classified as it was.
func (d *Detector) Trace(f func(Frame)) { d.trace = f }

// state is everything a call changes; Reset zeroes it.
type state struct {
	buf   [FrameSamples]int16
	nbuf  int
	frame int // frames analysed
	li    int // next slot in levels
	nlev  int // levels filled

	greeting  bool // a word was heard
	greetAt   int  // frame the first word started
	lastVoice int  // last voice frame
	inWord    bool
	voiceRun  int // voice frames in the current word
	silence   int // consecutive silence frames
	voiced    int // voice frames in all
	words     int
	peak      float64 // loudest frame of a counted word so far (dB)
	runPeak   float64 // loudest frame of the current voice run (dB)
	runVoiced int     // frames of the current run counted in voiced
	decided   bool
	dec       Decision
	decFrame  int
	// while a provisional decision may be revised: the frame its window
	// ends, the last frame of the speaker's voice (not the room's), whether
	// their silence confirmed the greeting over (only a beep revises then),
	// and whether voice was heard since the decision
	reviseEnd   int
	lastSpeaker int
	confirmed   bool
	heardVoice  bool
	lastSound   int // last frame that was voice or tone, -1 none

	// the tone now sounding
	toneRun, toneGap, toneStart int
	toneFreq                    float64
	// the last beep-long tone, and voice heard after it
	cand               bool
	candStart, candEnd int // frames; candEnd exclusive
	candFreq           float64
	voiceAfterCand     int
	beepDone           bool
	beep               Beep
}

// New returns a detector for one call with p, which must be valid.
func New(p Params) (*Detector, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	d := &Detector{
		p:               p,
		nInitialSilence: frames(p.InitialSilence), nGreeting: frames(p.Greeting), nAfterGreeting: frames(p.AfterGreetingSilence),
		nShortGreeting: frames(p.ShortGreeting), nShortSilence: frames(p.ShortGreetingSilence),
		nTotal: frames(p.TotalAnalysisTime), nMinWord: frames(p.MinWordLength), nBetween: frames(p.BetweenWordsSilence),
		nMaxWordLen: frames(p.MaximumWordLength),
		nBeepMin:    frames(p.Beep.MinLength), nBeepMax: frames(p.Beep.MaxLength), nBeepHang: frames(p.Beep.Hangover),
		nBeepSilence: frames(p.Beep.Silence), nBeepWait: frames(p.Beep.MaxWait),
		nRevise: frames(p.ReviseWithin), nConfirm: frames(p.ConfirmSilence),
		levels: make([]float64, max(1, frames(p.NoiseWindow))),
	}
	d.Reset()
	return d, nil
}

// Reset readies the detector for another call with the same parameters.
func (d *Detector) Reset() {
	d.st = state{lastSound: -1}
}

// Params returns the detector's parameters.
func (d *Detector) Params() Params { return d.p }

// Decision is the classification once Decided has been reported; a
// provisional one may change (Revised) until Done.
func (d *Detector) Decision() (Decision, bool) { return d.st.dec, d.st.decided }

// Beep is the beep search's outcome once BeepDone has been reported.
func (d *Detector) Beep() (Beep, bool) { return d.st.beep, d.st.beepDone }

// Done says the detector needs no more audio: decided and no longer
// provisional, and for a machine the beep search is over (or off).
func (d *Detector) Done() bool {
	s := &d.st
	return s.decided && !s.dec.Provisional && (s.beepDone || s.dec.Result != Machine || d.nBeepWait == 0)
}

// Elapsed is the audio time fed so far.
func (d *Detector) Elapsed() time.Duration {
	return time.Duration(d.st.frame)*frameDur + time.Duration(d.st.nbuf)*time.Second/media.SampleRate
}

// Feed analyses decoded 8 kHz audio, any number of samples (a 20 ms RTP
// payload is one frame). It reports what these samples decided. After
// Done it ignores its input. Lost packets should be fed as silence so time
// stays right.
func (d *Detector) Feed(pcm []int16) Event {
	var ev Event
	for len(pcm) > 0 && !d.Done() {
		n := copy(d.st.buf[d.st.nbuf:], pcm)
		d.st.nbuf += n
		pcm = pcm[n:]
		if d.st.nbuf == FrameSamples {
			ev |= d.frame(d.st.buf[:])
			d.st.nbuf = 0
		}
	}
	return ev
}

// Hangup tells the detector the call ended: an undecided call is hangup,
// a provisional decision stands, and a beep search still running ends with
// BeepHangup.
func (d *Detector) Hangup() Event {
	at := d.Elapsed()
	d.st.dec.Provisional = false
	if !d.st.decided {
		d.st.decided = true
		d.st.dec = Decision{Result: Hangup, Cause: CauseHangup, At: at}
		return Decided
	}
	if d.st.dec.Result == Machine && d.nBeepWait > 0 && !d.st.beepDone {
		d.st.beepDone = true
		d.st.beep = Beep{Outcome: BeepHangup, At: at}
		return BeepDone
	}
	return 0
}

// frame analyses one 20 ms frame.
func (d *Detector) frame(x []int16) Event {
	p, s := &d.p, &d.st
	var sumAbs int
	var sumSq float64
	for _, v := range x {
		f := float64(v)
		sumSq += f * f
		if v < 0 {
			sumAbs -= int(v)
		} else {
			sumAbs += int(v)
		}
	}
	level := 10 * math.Log10(sumSq/float64(len(x))+1)
	floor := 0.0
	if p.NoiseMarginDB > 0 {
		floor = d.noiseFloor(level)
	}
	active := sumAbs/len(x) >= p.SilenceThreshold && (p.NoiseMarginDB == 0 || level >= floor+p.NoiseMarginDB)
	tone, freq, share := false, 0.0, 0.0
	if active && (p.ToneDiscrimination || d.nBeepWait > 0) {
		freq, share = media.PureTone(x)
		tone = share >= p.Beep.Purity && freq >= p.Beep.MinFreq && freq <= p.Beep.MaxFreq
	}
	voice := active && !(tone && p.ToneDiscrimination)
	if active {
		s.lastSound = s.frame
	}
	d.trackTone(tone, freq, active && !tone)

	var ev Event
	switch {
	case !s.decided:
		if r, c := d.applyRules(voice, tone && p.ToneDiscrimination, level); r != "" {
			d.decide(r, c)
			ev |= Decided
		}
	case s.dec.Provisional:
		if r, c := d.reviseRules(voice, tone && p.ToneDiscrimination, level); r != "" {
			d.revise(r, c)
			ev |= Revised
		} else if s.frame+1 >= s.reviseEnd {
			s.dec.Provisional = false
		}
	}
	if d.trace != nil {
		d.trace(Frame{Index: s.frame, LevelDB: level, FloorDB: floor, MeanAbs: sumAbs / len(x), Voice: voice, Tone: tone,
			Freq: freq, Purity: share, Words: s.words, VoiceMS: s.voiced * 20})
	}
	s.frame++
	if !s.decided && s.frame >= d.nTotal {
		d.decide(NotSure, CauseTooLong)
		ev |= Decided
	}
	if s.decided && s.dec.Result == Machine && d.nBeepWait > 0 && !s.beepDone && d.beepSearch() {
		ev |= BeepDone
	}
	return ev
}

// noiseFloor records level and returns the lowest level over the noise
// window: steady noise sets it, speech (which always pauses) does not.
func (d *Detector) noiseFloor(level float64) float64 {
	s := &d.st
	d.levels[s.li] = level
	s.li = (s.li + 1) % len(d.levels)
	s.nlev = min(s.nlev+1, len(d.levels))
	floor := level
	for _, l := range d.levels[:s.nlev] {
		floor = min(floor, l)
	}
	return floor
}

// decide makes the first decision, at the end of frame s.frame; one that
// treats the call as a person's is provisional while revise_within lasts.
func (d *Detector) decide(r Result, c Cause) {
	s := &d.st
	s.decided = true
	s.decFrame = s.frame
	s.dec = Decision{Result: r, Cause: c, At: time.Duration(s.frame+1) * frameDur}
	if d.nRevise > 0 && (r == Human || r == NotSure) {
		s.dec.Provisional = true
		s.reviseEnd = s.frame + 1 + d.nRevise
		// Silence with no greeting (notsure after initial_silence) confirms
		// at once: a person who waited to hear us then talks to the agent.
		s.confirmed = !s.greeting || s.frame-s.lastSpeaker >= d.nConfirm
	}
}

// revise turns a provisional decision into a machine one; the beep search
// starts from here.
func (d *Detector) revise(r Result, c Cause) {
	s := &d.st
	first := s.dec
	s.decFrame = s.frame
	s.dec = Decision{Result: r, Cause: c, At: time.Duration(s.frame+1) * frameDur, Revised: true, From: first.Result, FirstAt: first.At}
}

// trackTone follows the tone sounding now and remembers the last one long
// enough to be a beep, with whether voice followed it (then it was not the
// end of the greeting).
func (d *Detector) trackTone(tone bool, freq float64, voice bool) {
	s := &d.st
	if tone && s.toneRun > 0 && math.Abs(freq-s.toneFreq) > toneDrift {
		d.endTone()
	}
	switch {
	case tone:
		if s.toneRun == 0 {
			s.toneStart, s.toneFreq = s.frame, freq
		}
		s.toneRun++
		s.toneGap = 0
		s.toneFreq += (freq - s.toneFreq) / float64(s.toneRun)
	case s.toneRun > 0:
		// One frame's dropout (noise, a codec) does not end a tone.
		s.toneGap++
		if s.toneGap > 1 {
			d.endTone()
		}
	}
	if voice && s.cand {
		s.voiceAfterCand++
	}
}

// endTone closes the current tone; a beep-long one becomes the candidate,
// or extends it when it follows within the hangover (a double beep).
func (d *Detector) endTone() {
	s := &d.st
	run, start := s.toneRun, s.toneStart
	s.toneRun, s.toneGap = 0, 0
	if run < d.nBeepMin && !(s.cand && start-s.candEnd <= d.nBeepHang) {
		return
	}
	end := start + run
	if s.cand && s.voiceAfterCand < d.nMinWord && start-s.candEnd <= d.nBeepHang {
		s.candEnd = end
		return
	}
	if run < d.nBeepMin {
		return
	}
	s.cand, s.candStart, s.candEnd, s.candFreq, s.voiceAfterCand = true, start, end, s.toneFreq, 0
}

// beepSearch runs after a machine decision, once per frame; true when it
// has an outcome.
func (d *Detector) beepSearch() bool {
	s := &d.st
	now := s.frame // frames analysed, i.e. the end of this frame
	ms := func(f int) time.Duration { return time.Duration(f) * frameDur }
	finish := func(b Beep) bool {
		b.At = ms(now)
		s.beep, s.beepDone = b, true
		return true
	}
	if s.toneRun >= d.nBeepMax {
		start := s.toneStart
		if s.cand && s.voiceAfterCand < d.nMinWord && start-s.candEnd <= d.nBeepHang {
			start = s.candStart
		}
		return finish(Beep{Outcome: BeepFound, Start: ms(start), End: ms(now), Freq: s.toneFreq})
	}
	if s.cand && s.voiceAfterCand < d.nMinWord && s.toneRun == 0 && now-s.candEnd >= d.nBeepHang {
		return finish(Beep{Outcome: BeepFound, Start: ms(s.candStart), End: ms(s.candEnd), Freq: s.candFreq})
	}
	if d.nBeepSilence > 0 && s.toneRun == 0 && now-(s.lastSound+1) >= d.nBeepSilence {
		return finish(Beep{Outcome: BeepSilence})
	}
	if now-s.decFrame >= d.nBeepWait {
		return finish(Beep{Outcome: BeepTimeout})
	}
	return false
}
