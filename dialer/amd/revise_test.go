package amd

import (
	"slices"
	"testing"
	"time"
)

// feedAll feeds x in 20 ms frames and collects the events.
func feedAll(d *Detector, x []int16) (evs Event, revisedAt time.Duration) {
	for i := 0; i < len(x); i += FrameSamples {
		ev := d.Feed(x[i:min(i+FrameSamples, len(x))])
		if ev&Revised != 0 {
			revisedAt = d.Elapsed()
		}
		evs |= ev
	}
	return evs, revisedAt
}

func TestGreetingReadingOnRevisesHuman(t *testing.T) {
	// "Hola." (a personal greeting's first word), a pause a person would
	// also make, then the greeting reads on with pauses under
	// confirm_silence, then a beep.
	x := cat(silence(300), word(400, 180), silence(600), speech(5000, 21), silence(300), tone(1000, 400), silence(4000))
	// human-first (confirm_silence 0): human at once, then machine by the
	// beep; the greeting reading on is not evidence (a person talking on
	// sounds the same).
	for _, c := range []struct {
		confirm  time.Duration
		causes   []Cause
		revision time.Duration // at most
	}{
		{0, []Cause{CauseBeep}, 6700 * time.Millisecond},
		{time.Second, []Cause{CauseLongGreeting, CauseMaxWords}, 5000 * time.Millisecond},
	} {
		p := Default()
		p.ConfirmSilence = c.confirm
		d, _ := New(p)
		var first Decision
		var revisedAt time.Duration
		for i := 0; i < len(x) && !d.Done(); i += FrameSamples {
			ev := d.Feed(x[i : i+FrameSamples])
			if ev&Decided != 0 {
				first, _ = d.Decision()
			}
			if ev&Revised != 0 {
				revisedAt = d.Elapsed()
			}
		}
		if first.Result != Human || first.Cause != CauseShortGreeting || !first.Provisional {
			t.Fatalf("confirm_silence %v: first decision %+v, want a provisional human short_greeting", c.confirm, first)
		}
		within(t, "first decision", first.At, 1000*time.Millisecond, 60*time.Millisecond)
		dec, _ := d.Decision()
		if dec.Result != Machine || !dec.Revised || dec.From != Human || dec.FirstAt != first.At || dec.Provisional {
			t.Fatalf("confirm_silence %v: final decision %+v, want machine revised from human at %v", c.confirm, dec, first.At)
		}
		if !slices.Contains(c.causes, dec.Cause) || revisedAt == 0 || revisedAt > c.revision {
			t.Errorf("confirm_silence %v: revised by %s at %v, want %v by %v", c.confirm, dec.Cause, revisedAt, c.causes, c.revision)
		}
		// The beep search starts at the revision and finds the beep.
		b, ok := d.Beep()
		if !ok || b.Outcome != BeepFound {
			t.Fatalf("beep %+v", b)
		}
		within(t, "beep start", b.Start, 6600*time.Millisecond, 20*time.Millisecond)
	}

	// With revise_within 0 the first decision is final, as before.
	p := Default()
	p.ReviseWithin = 0
	o := classify(t, p, x)
	if o.Decision.Result != Human || o.Decision.Revised || o.Decision.Provisional {
		t.Errorf("revise_within 0: %+v, want a final human", o.Decision)
	}
}

func TestPersonTalkingToTheAgentStaysHuman(t *testing.T) {
	// "¿Aló?", then the agent speaks and the person listens, then answers
	// at length: all theirs, not a greeting.
	x := cat(silence(300), word(400, 180), silence(1500), speech(6000, 22), silence(1000), speech(3000, 23), silence(2000))
	// Talking on at once, over the agent.
	y := cat(silence(300), word(400, 180), silence(400), speech(6000, 22), silence(5000))
	long := Default()
	long.ConfirmSilence = time.Second
	for _, c := range []struct {
		name string
		p    Params
		x    []int16
		want Result
	}{
		{"waits, then talks", Default(), x, Human},
		{"waits, then talks; confirm_silence 1s", long, x, Human},
		{"talks on at once", Default(), y, Human},
		// The cost of a confirm_silence: within it, talking on is a greeting.
		{"talks on at once; confirm_silence 1s", long, y, Machine},
	} {
		d, _ := New(c.p)
		evs, _ := feedAll(d, c.x)
		dec, _ := d.Decision()
		if dec.Result != c.want || (c.want == Human && (evs&Revised != 0 || dec.Cause != CauseShortGreeting)) {
			t.Errorf("%s: %+v (events %b), want %s", c.name, dec, evs, c.want)
		}
		// Settled once revise_within has passed since the decision.
		if !d.Done() || dec.Provisional {
			t.Errorf("%s: done %v, decision %+v: want settled", c.name, d.Done(), dec)
		}
	}
	// Until then the detector wants audio.
	d, _ := New(Default())
	feedAll(d, x[:8*(1000+7000)])
	if got, _ := d.Decision(); d.Done() || !got.Provisional {
		t.Errorf("7 s after the decision: done %v, %+v; want still provisional", d.Done(), got)
	}
}

func TestLateBeepRevisesHuman(t *testing.T) {
	// "Hi. You know what to do." with a pause a person makes, the greeting
	// over, then a beep 1.5 s later: human, then machine by the beep.
	x := cat(silence(300), word(300, 160), silence(1300), word(900, 150), silence(1500), tone(1400, 500), silence(4000))
	d, _ := New(Default())
	evs, at := feedAll(d, x)
	dec, _ := d.Decision()
	if evs&Revised == 0 || dec.Result != Machine || dec.Cause != CauseBeep || dec.From != Human {
		t.Fatalf("%+v (events %b), want machine by beep, revised from human", dec, evs)
	}
	within(t, "revision", at, 4300*time.Millisecond+100*time.Millisecond, 40*time.Millisecond)
	b, _ := d.Beep()
	if b.Outcome != BeepFound {
		t.Fatalf("beep %+v", b)
	}
	within(t, "beep start", b.Start, 4300*time.Millisecond, 20*time.Millisecond)
	within(t, "beep end", b.End, 4800*time.Millisecond, 20*time.Millisecond)

	// A beep after the window: the human decision stands.
	p := Default()
	p.ReviseWithin = 2 * time.Second
	if o := classify(t, p, x); o.Decision.Result != Human || o.Decision.Revised {
		t.Errorf("beep after revise_within: %+v, want human", o.Decision)
	}
}

func TestQuietToneDoesNotRevise(t *testing.T) {
	// "¿Aló?", then a tone 30 dB under the word (our own prompt's beep
	// echoed back): not the far end's machine.
	echo := tone(1000, 500)
	for i := range echo {
		echo[i] /= 40
	}
	x := cat(silence(300), word(400, 180), silence(1500), echo, silence(8000))
	o := classify(t, Default(), x)
	if o.Decision.Result != Human || o.Decision.Revised {
		t.Errorf("a quiet tone after a person: %+v, want human", o.Decision)
	}
	p := Default()
	p.SpeechRangeDB = 0
	if o := classify(t, p, x); o.Decision.Result != Machine {
		t.Errorf("without speech_range_db: %+v; the test no longer shows what the range is for", o.Decision)
	}
	// The same tone at the far end's level revises.
	x = cat(silence(300), word(400, 180), silence(1500), tone(1000, 500), silence(8000))
	if o := classify(t, Default(), x); o.Decision.Result != Machine || !o.Decision.Revised {
		t.Errorf("a beep after a person's word: %+v, want machine, revised", o.Decision)
	}
}

func TestNotSureThenBeep(t *testing.T) {
	// A box that starts late: notsure after initial_silence, then its
	// greeting (not counted: the person may be talking to the agent now),
	// then a beep: machine.
	x := cat(silence(3300), speech(3000, 24), silence(400), tone(850, 400), silence(4000))
	o := classify(t, Default(), x)
	if o.Decision.Result != Machine || o.Decision.Cause != CauseBeep || o.Decision.From != NotSure {
		t.Fatalf("%+v, want machine beep, revised from notsure", o.Decision)
	}
	within(t, "first decision", o.Decision.FirstAt, 3*time.Second, 20*time.Millisecond)
	// Without the beep it stays notsure.
	x = cat(silence(3300), speech(4000, 25), silence(8000))
	if o := classify(t, Default(), x); o.Decision.Result != NotSure || o.Decision.Revised {
		t.Errorf("late speech, no beep: %+v, want notsure", o.Decision)
	}
}

func TestHangupWhileProvisional(t *testing.T) {
	d, _ := New(Default())
	feedAll(d, cat(silence(300), word(400, 180), silence(1000)))
	dec, _ := d.Decision()
	if !dec.Provisional || d.Done() {
		t.Fatalf("%+v done %v, want provisional", dec, d.Done())
	}
	if ev := d.Hangup(); ev != 0 {
		t.Errorf("Hangup: event %b, want none (the decision stands)", ev)
	}
	dec, _ = d.Decision()
	if dec.Result != Human || dec.Provisional || !d.Done() {
		t.Errorf("after Hangup: %+v done %v, want a settled human", dec, d.Done())
	}
}

func TestRoomVoicesDoNotHoldOffConfirmation(t *testing.T) {
	// "¿Aló?" (human), then a television comes on 26 dB under the speaker,
	// the agent speaks, and 1.5 s after the word the person talks on: with
	// a confirm_silence of 1 s, the speaker's silence confirms them.
	tv := speech(12000, 26)
	for i := range tv {
		tv[i] /= 20
	}
	x := mix(cat(silence(300), word(400, 180), silence(1500), speech(5000, 27), silence(5000)), cat(silence(1200), tv))
	p := Default()
	p.ConfirmSilence = time.Second
	if o := classify(t, p, x); o.Decision.Result != Human || o.Decision.Cause != CauseShortGreeting {
		t.Errorf("%+v, want human, not revised", o.Decision)
	}
}
