package dialer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
)

// Calls between two endpoints that both carry RTP on shared sockets (the
// dialer on two, the far side on one: every far-side call comes from one
// address and port) each keep their own audio both ways: the far side
// plays a tone picked by the called number and hears one picked by the
// caller, and each call's ends hear exactly their own. The SDP advertises
// the shared ports.
func TestSharedSocketsKeepEachCallsAudio(t *testing.T) {
	t.Parallel()
	freqs := []float64{500, 700, 900, 1100, 1300, 1500}
	var mu sync.Mutex
	farHeard := map[string]*toneRec{}
	far, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 37600, Max: 37699}, RTPSockets: 1,
		Inbound: dialer.InboundPolicy{AnySource: true, MaxCalls: 100, ReserveOutbound: -1},
		OnInvite: func(in *dialer.Inbound) {
			rec := &toneRec{}
			mu.Lock()
			farHeard[in.To()] = rec
			mu.Unlock()
			leg, err := in.Answer(context.Background(), dialer.AnswerOptions{OnAudio: rec.add})
			if err != nil {
				t.Error(err)
				return
			}
			var n int
			fmt.Sscanf(in.To()[len(in.To())-1:], "%d", &n)
			tone := &media.Prompt{Samples: media.Tone(freqs[n], 8000, 8000)}
			for {
				if _, err := leg.Session().Play(context.Background(), false, tone); err != nil {
					return // the call ended
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	ours, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 37700, Max: 37799}, RTPSockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "far", URI: "sip:" + far.Addr(), CallerID: "+525550000100", CPS: 100, MaxChannels: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range freqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := &toneRec{}
			leg, err := ours.Dial(ctx, dialer.DialRequest{Trunk: trunk, To: fmt.Sprintf("+1555000000%d", i), RingTimeout: 15 * time.Second, OnAudio: rec.add})
			if err != nil {
				t.Error(err)
				return
			}
			defer leg.Hangup(context.Background())
			s := leg.Session()
			if r := leg.Result(); r.Answered.IsZero() {
				t.Errorf("call %d not answered: %+v", i, r)
				return
			}
			go func() {
				tone := &media.Prompt{Samples: media.Tone(freqs[len(freqs)-1-i], 8000, 8000)}
				for {
					if _, err := s.Play(ctx, false, tone); err != nil {
						return
					}
				}
			}()
			polltest.Eventually(t, 30*time.Second, func() bool { return rec.len() >= 8000 }, fmt.Sprintf("a second of audio on call %d", i))
			if f := rec.dominant(freqs); f != freqs[i] {
				t.Errorf("call %d hears %v Hz, want %v", i, f, freqs[i])
			}
			mu.Lock()
			fr := farHeard[fmt.Sprintf("+1555000000%d", i)]
			mu.Unlock()
			polltest.Eventually(t, 30*time.Second, func() bool { return fr.len() >= 8000 }, fmt.Sprintf("a second of audio at the far end of call %d", i))
			if f := fr.dominant(freqs); f != freqs[len(freqs)-1-i] {
				t.Errorf("the far end of call %d hears %v Hz, want %v", i, f, freqs[len(freqs)-1-i])
			}
		}()
	}
	wg.Wait()
}

type toneRec struct {
	mu  sync.Mutex
	pcm []int16
}

func (r *toneRec) add(pcm []int16) { r.mu.Lock(); r.pcm = append(r.pcm, pcm...); r.mu.Unlock() }
func (r *toneRec) len() int        { r.mu.Lock(); defer r.mu.Unlock(); return len(r.pcm) }

// dominant is the loudest of freqs over the last half second.
func (r *toneRec) dominant(freqs []float64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return media.DominantFrequency(r.pcm[len(r.pcm)-4000:], freqs)
}
