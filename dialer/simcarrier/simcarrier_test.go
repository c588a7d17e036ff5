package simcarrier

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/queue"
)

func start(t *testing.T, opt Options) (*Carrier, *dialer.Endpoint, *dialer.Trunk) {
	t.Helper()
	opt.Listen, opt.RTPPorts, opt.Record = "127.0.0.1:0", media.PortRange{Min: 47000, Max: 48999}, true
	c, err := Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 49000, Max: 49999}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	tr, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + c.Addr(), CallerID: "+573000000000", CPS: 100, MaxChannels: 50})
	if err != nil {
		t.Fatal(err)
	}
	return c, e, tr
}

// speech is a shipped prompt (espeak-ng): what a dialer says.
func speech(t *testing.T) *media.Prompt {
	t.Helper()
	p, err := prompts.NewLibrary("").Get("es/p/inbound-welcome")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ctx gives a check a generous deadline.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ended waits for the leg to end, or fails the test after a generous minute.
func ended(t *testing.T, leg *dialer.Leg) dialer.Result {
	t.Helper()
	select {
	case <-leg.Ended():
	case <-time.After(time.Minute):
		t.Fatalf("the call did not end: %+v", leg.Result())
	}
	return leg.Result()
}

// recorder collects what a leg hears.
type recorder struct {
	mu    sync.Mutex
	heard []int16
}

func (r *recorder) add(p []int16) { r.mu.Lock(); r.heard = append(r.heard, p...); r.mu.Unlock() }
func (r *recorder) get() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.heard...)
}

// beepAt is where a 1 kHz beep of at least 300 ms starts in pcm, or -1.
func beepAt(pcm []int16) int {
	run := 0
	for i := 0; i+media.FrameSamples <= len(pcm); i += media.FrameSamples {
		if mediatest.ToneAt(pcm[i:i+media.FrameSamples], 1000) > 0 {
			if run++; run*media.FrameSamples >= 2400 {
				return i - (run-1)*media.FrameSamples
			}
		} else {
			run = 0
		}
	}
	return -1
}

func TestEveryOutcome(t *testing.T) {
	c, e, tr := start(t, Options{ByLastDigit: true, Ring: Range{100 * time.Millisecond, 300 * time.Millisecond},
		Talk: Range{30 * time.Second, 30 * time.Second}, Digits: "1/2", DigitsAfter: 600 * time.Millisecond})
	say := speech(t)
	cases := []struct {
		number, disposition string
		code                int
	}{
		{"+573001112220", analytics.Answered, 200}, {"+573001112224", analytics.Answered, 200},
		{"+573001112226", analytics.Busy, 486}, {"+573001112227", analytics.NoAnswer, 487},
		{"+573001112228", analytics.InvalidNumber, 404}, {"+573001112229", analytics.NetworkError, 503},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var heard recorder
			leg, err := e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: tc.number, RingTimeout: queue.MinRingTimeout,
				OnAudio: heard.add})
			if err != nil {
				t.Error(err)
				return
			}
			if tc.disposition == analytics.Answered {
				switch c.OutcomeFor(tc.number) {
				case Human:
					// Spoken to, the person keys 1, and 2 once spoken to again.
					// No barge-in: the key is CollectDigits' alone to read.
					for _, want := range []string{"1", "2"} {
						go leg.Session().Play(context.Background(), false, say)
						d, _ := leg.Session().CollectDigits(context.Background(), 1, 0, 30*time.Second, 0)
						if d != want {
							t.Errorf("%s: human pressed %q, want %q", tc.number, d, want)
						}
					}
				case Machine:
					// The greeting, then the beep.
					polltest.Until(30*time.Second, func() bool { return beepAt(heard.get()) >= 0 })
					pcm := heard.get()
					if at := beepAt(pcm); at < 0 || mediatest.Measure(pcm[:at]).Voiced < 4*time.Second {
						t.Errorf("%s: machine beep at sample %d after %s", tc.number, at, mediatest.Measure(pcm[:max(at, 0)]))
					}
				}
				leg.Hangup(context.Background())
			}
			r := ended(t, leg)
			if r.Disposition != tc.disposition || r.SIPCode != tc.code {
				t.Errorf("%s: %s/%d, want %s/%d (%s)", tc.number, r.Disposition, r.SIPCode, tc.disposition, tc.code, r.Reason)
			}
		}()
	}
	wg.Wait()
	// sipgo answers the CANCEL with 487 itself: the dialer may see the call
	// end before the carrier's handler wakes to count the cancel.
	var st Stats
	polltest.Until(30*time.Second, func() bool { st = c.Stats(); return st.Cancelled != 0 })
	if st.Offered != 6 || st.Answered != 2 || st.Cancelled != 1 || st.Unheard != 0 {
		t.Errorf("carrier stats %+v", st)
	}
	if n, err := c.CheckHeard(ctx(t), 500*time.Millisecond); n != 1 || err != nil {
		t.Errorf("%d people checked: %v", n, err)
	}
	for _, call := range c.Calls() {
		if call.Outcome == Human && (len(call.Turns) != 2 || call.Turns[0].Keys != "1" || call.Turns[1].Keys != "2" ||
			!call.Turns[1].Heard.IsSpeech(400*time.Millisecond)) {
			t.Errorf("the person's record: %+v", call)
		}
	}
}

// A dialer that sends silence, or only a tone, is not speaking: the person
// presses nothing and hangs up once their patience runs out, and the
// simulator's record says so.
func TestNobodySpeaksNobodyKeys(t *testing.T) {
	c, e, tr := start(t, Options{ByLastDigit: true, Ring: Range{50 * time.Millisecond, 50 * time.Millisecond},
		Talk: Range{time.Minute, time.Minute}, Digits: "1", DigitsAfter: 300 * time.Millisecond, Patience: 2 * time.Second})
	for _, tc := range []struct {
		number string
		play   *media.Prompt
	}{
		{"+573001112230", nil},
		{"+573001112231", &media.Prompt{Name: "1k", Samples: media.Tone(1000, 8000, 8000*30)}},
	} {
		leg, err := e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: tc.number})
		if err != nil {
			t.Fatal(err)
		}
		if tc.play != nil {
			go leg.Session().Play(context.Background(), false, tc.play)
		}
		start := time.Now()
		r := ended(t, leg)
		if r.Reason != "remote hangup" || time.Since(start) < 2*time.Second {
			t.Errorf("%s: %+v after %s, want the person to hang up after their 2 s of patience", tc.number, r, time.Since(start))
		}
		select {
		case d := <-leg.Session().Digits():
			t.Errorf("%s: the person pressed %q without being spoken to", tc.number, d)
		default:
		}
	}
	n, err := c.CheckHeard(ctx(t), 500*time.Millisecond)
	if n != 2 || err == nil || strings.Count(err.Error(), "nobody spoke") != 2 {
		t.Fatalf("CheckHeard: %d people, %v", n, err)
	}
	if st := c.Stats(); st.Unheard != 2 || st.Answered != 2 {
		t.Fatalf("stats %+v, want 2 answered and 2 unheard", st)
	}
	// What they heard: nothing, then a tone that is sound but not speech.
	calls := c.Calls()
	if len(calls) != 2 || !calls[0].Unheard || !calls[1].Unheard || len(calls[0].Turns) != 1 || len(calls[1].Turns) != 1 ||
		!calls[0].Turns[0].Heard.Silent() || calls[1].Turns[0].Heard.Voiced < time.Second || calls[0].Turns[0].Keys+calls[1].Turns[0].Keys != "" {
		t.Fatalf("calls %+v", calls)
	}
}

func TestHumanHangsUpAfterTalkTime(t *testing.T) {
	_, e, tr := start(t, Options{Mix: map[Outcome]float64{Human: 1}, Ring: Range{50 * time.Millisecond, 50 * time.Millisecond},
		Talk: Range{1500 * time.Millisecond, 1500 * time.Millisecond}})
	leg, err := e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: "+525512345678"})
	if err != nil {
		t.Fatal(err)
	}
	if r := ended(t, leg); r.Reason != "remote hangup" || r.TalkMS() < 1400 {
		t.Fatalf("result %+v", r)
	}
}

func TestVoiceLooksLikeSpeech(t *testing.T) {
	v := Voice(2*time.Second, 150, 1)
	if len(v) != 16000 {
		t.Fatalf("%d samples", len(v))
	}
	if media.GoertzelPower(v, 150) < 10*media.GoertzelPower(v, 1000) {
		t.Fatal("voice energy is not at its pitch")
	}
}

// Listening costs no allocation per packet.
func TestEarDoesNotAllocate(t *testing.T) {
	e := newEar(400 * time.Millisecond)
	frame := speech(t).Samples[8000 : 8000+media.FrameSamples]
	if n := testing.AllocsPerRun(1000, func() { e.hear(frame) }); n != 0 {
		t.Fatalf("hear allocates %v times a packet", n)
	}
}
