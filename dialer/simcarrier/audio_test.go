package simcarrier

import (
	"context"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

func TestPickByTheDigitsBeforeTheLast(t *testing.T) {
	gs := []Greeting{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	for number, want := range map[string]string{"+525577700004": "a", "+525577700014": "b", "+525577700020": "c", "+525577700030": "a",
		"+525577700054": "c", "+525577701024": "a"} { // 102 % 3
		if got := pick(gs, number).Name; got != want {
			t.Errorf("%s: %s, want %s", number, got, want)
		}
	}
}

// With Audio, a person says the recording its number picks, and a machine
// plays its greeting and beep, then keeps apart what it heard before the
// beep's end and after it (the message a dialer leaves).
func TestAudioGreetingsAndWhatTheBoxHeard(t *testing.T) {
	tone := media.Tone(1000, 8000, 4000) // 500 ms
	box := append(append(Voice(2*time.Second, 140, 5), tone...), make([]int16, 4000)...)
	audio := &Audio{Human: []Greeting{{Name: "p0", Samples: Voice(600*time.Millisecond, 180, 1)}, {Name: "p1", Samples: Voice(700*time.Millisecond, 200, 2)}},
		Machine: []Greeting{{Name: "m0", Samples: box, BeepEnd: 2500 * time.Millisecond}}}
	c, e, tr := start(t, Options{ByLastDigit: true, Audio: audio, Ring: Range{50 * time.Millisecond, 50 * time.Millisecond},
		Talk: Range{time.Minute, time.Minute}, Digits: "", Patience: time.Second})
	say := speech(t)
	// The machine: speak only once its beep is over (the tone heard).
	var heard recorder
	leg, err := e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: "+525577700004", OnAudio: heard.add})
	if err != nil {
		t.Fatal(err)
	}
	if !polltest.Until(30*time.Second, func() bool { return mediatest.ToneAt(heard.get(), 1000) > 0 }) {
		t.Fatal("no beep")
	}
	polltest.Until(30*time.Second, func() bool { return len(heard.get()) >= 2600*8 })
	leg.Session().Play(context.Background(), false, say)
	leg.Hangup(context.Background())
	// The person: p1, heard by the dialer.
	var person recorder
	leg, err = e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: "+525577700010", OnAudio: person.add})
	if err != nil {
		t.Fatal(err)
	}
	ended(t, leg) // nobody spoke: the person hangs up after their patience
	if err := c.Settle(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, call := range c.Calls() {
		switch call.Outcome {
		case Machine:
			if call.Greeting != "m0" || !call.BeforeBeep.Silent() || !call.Message.IsSpeech(time.Second) {
				t.Errorf("machine: %s, before the beep %s, after %s", call.Greeting, call.BeforeBeep, call.Message)
			}
		case Human:
			if call.Greeting != "p1" || !call.Unheard {
				t.Errorf("person: %+v", call)
			}
		}
	}
	if s := mediatest.Measure(person.get()); s.Voiced < 500*time.Millisecond {
		t.Errorf("the person's greeting did not arrive: %s", s)
	}
}
