package dialer

import (
	"context"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr/media"
)

// legsIn counts the endpoint's legs in state s.
func (e *Endpoint) legsIn(s legState) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, l := range e.legs {
		if l.is(s) {
			n++
		}
	}
	return n
}

// Closing a node while its calls ring cancels them on the wire at once
// (each ends cancelled, with the carrier's 487) instead of waiting out every
// ring timeout.
func TestCloseCancelsRingingCalls(t *testing.T) {
	t.Parallel()
	const calls, ring = 2, 60 * time.Second
	s := startSipp(t, "ring_forever.xml", calls) // rings until it gets a CANCEL
	e, err := NewEndpoint(EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 41000, Max: 45999}})
	if err != nil {
		t.Fatal(err)
	}
	tr := testTrunk(t, s.Port, "", "")
	legs := make(chan *Leg, calls)
	for range calls {
		go func() {
			leg, err := e.Dial(context.Background(), DialRequest{Trunk: tr, To: "+56987654321", RingTimeout: ring})
			if err != nil {
				t.Error(err)
			}
			legs <- leg
		}()
	}
	waitFor(t, "the calls to ring", func() bool { return e.legsIn(legEarly) == calls })
	start := time.Now()
	e.Close()
	// Bounded by our CANCEL's guard, not by the ring timeout.
	if d := time.Since(start); d > ring/3 {
		t.Fatalf("Close took %s with %d calls ringing (ring timeout %s)", d.Round(time.Millisecond), calls, ring)
	}
	for range calls {
		select {
		case leg := <-legs:
			if leg == nil {
				t.Fatal("a dial failed")
			}
			if r := leg.Result(); r.Disposition != analytics.Cancelled || r.SIPCode != 487 {
				t.Errorf("result %+v, want cancelled with the carrier's 487", r)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Dial did not return after Close")
		}
	}
	s.Wait(t) // sipp fails a call that gets no CANCEL, or no ACK to its 487
}
