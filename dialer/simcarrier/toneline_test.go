package simcarrier

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

// A tone line plays its tone, ignores speech, and reports the first
// steady tone it hears, once.
func TestToneLineHearsAndPlaysTones(t *testing.T) {
	type report struct {
		number string
		freq   float64
	}
	reports := make(chan report, 4)
	_, e, tr := start(t, Options{ByLastDigit: true, Ring: Range{50 * time.Millisecond, 50 * time.Millisecond},
		Talk:    Range{time.Minute, time.Minute},
		ToneFor: func(n string) float64 { return map[string]float64{"+15550000709": 700}[n] }, // 9 alone would be a network error
		OnTone:  func(n string, f float64) { reports <- report{n, f} }})
	var heard recorder
	leg, err := e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: "+15550000709", OnAudio: heard.add})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup(context.Background())
	if !polltest.Until(30*time.Second, func() bool { return mediatest.ToneAt(heard.get(), 700) > 0 }) {
		t.Fatal("the line's 700 Hz tone was not heard")
	}
	s := leg.Session()
	if _, err := s.Play(ctx(t), false, speech(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reports:
		t.Fatalf("speech reported as a tone: %+v", r)
	default:
	}
	go s.Play(ctx(t), false, &media.Prompt{Samples: media.Tone(1300, 8000, 2*media.SampleRate)}, &media.Prompt{Samples: media.Tone(1700, 8000, 2*media.SampleRate)})
	select {
	case r := <-reports:
		if r.number != "+15550000709" || math.Abs(r.freq-1300) > 5 {
			t.Fatalf("reported %+v, want 1300 Hz on +15550000709", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the dialer's 1300 Hz tone was not reported")
	}
	if _, err := s.Play(ctx(t), false, &media.Prompt{Samples: media.Tone(900, 8000, media.SampleRate)}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reports:
		t.Fatalf("a second report: %+v", r)
	default:
	}
}

func TestToneNumbers(t *testing.T) {
	n := ToneNumber("+1778", 650, 3)
	if n != "+177806500003" || ToneOfNumber("+1778", n) != 650 {
		t.Fatalf("%s: tone %v", n, ToneOfNumber("+1778", n))
	}
	for _, other := range []string{"+1777065000003", "+1778", "+1778065", "+1778x6500003", "+177800050003", "+177839000003"} {
		if f := ToneOfNumber("+1778", other); f != 0 {
			t.Errorf("%s: tone %v, want none", other, f)
		}
	}
}
