package simcarrier

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

func setup(t *testing.T) (*Carrier, *dialer.Endpoint, *dialer.Trunk) {
	t.Helper()
	c, err := Start(Options{Listen: "127.0.0.1:0", ByLastDigit: true, Ring: Range{100 * time.Millisecond, 300 * time.Millisecond},
		Talk: Range{8 * time.Second, 8 * time.Second}, Digits: "1/2", DigitsAfter: 600 * time.Millisecond,
		RTPPorts: media.PortRange{Min: 47000, Max: 48999}})
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

func TestEveryOutcome(t *testing.T) {
	c, e, tr := setup(t)
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
			var mu sync.Mutex
			var heard []int16
			leg, err := e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: tc.number, RingTimeout: queue.MinRingTimeout,
				OnAudio: func(p []int16) { mu.Lock(); heard = append(heard, p...); mu.Unlock() }})
			if err != nil {
				t.Error(err)
				return
			}
			if tc.disposition == analytics.Answered {
				switch c.OutcomeFor(tc.number) {
				case Human:
					d, _ := leg.Session().CollectDigits(context.Background(), 2, 0, 5*time.Second, 3*time.Second)
					if d != "12" {
						t.Errorf("%s: human pressed %q, want \"12\"", tc.number, d)
					}
				case Machine:
					time.Sleep(6500 * time.Millisecond) // greeting, then the beep
					mu.Lock()
					tail := heard[max(0, len(heard)-8000):]
					beep := media.GoertzelPower(tail, 1000) > 10*media.GoertzelPower(tail, 180)
					greeting := len(heard) > 5*8000
					mu.Unlock()
					if !greeting || !beep {
						t.Errorf("%s: machine greeting=%v beep=%v", tc.number, greeting, beep)
					}
				}
				leg.Hangup(context.Background())
			}
			<-leg.Ended()
			r := leg.Result()
			if r.Disposition != tc.disposition || r.SIPCode != tc.code {
				t.Errorf("%s: %s/%d, want %s/%d (%s)", tc.number, r.Disposition, r.SIPCode, tc.disposition, tc.code, r.Reason)
			}
		}()
	}
	wg.Wait()
	st := c.Stats()
	if st.Offered != 6 || st.Answered != 2 || st.Cancelled != 1 {
		t.Errorf("carrier stats %+v", st)
	}
}

func TestHumanHangsUpAfterTalkTime(t *testing.T) {
	c, err := Start(Options{Listen: "127.0.0.1:0", Mix: map[Outcome]float64{Human: 1}, Ring: Range{50 * time.Millisecond, 50 * time.Millisecond},
		Talk: Range{1500 * time.Millisecond, 1500 * time.Millisecond}, RTPPorts: media.PortRange{Min: 47000, Max: 48999}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e, _ := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 49000, Max: 49999}})
	defer e.Close()
	tr, _ := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + c.Addr(), CallerID: "+573000000000"})
	leg, err := e.Dial(context.Background(), dialer.DialRequest{Trunk: tr, To: "+525512345678"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-leg.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("the simulated human never hung up")
	}
	if r := leg.Result(); r.Reason != "remote hangup" || r.TalkMS() < 1400 {
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
