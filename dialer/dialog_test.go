package dialer

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// We hold sipp (a call we placed) and take it off hold: sipp checks each
// re-INVITE (sendonly, then sendrecv, with its To tag and our next CSeq),
// its ACK, and the BYE's CSeq after them. sipp sends no RTP at all: held,
// the call outlasts its RTP timeout many times; unheld, the silence counts
// again and hangs it up.
func TestSippHold(t *testing.T) {
	t.Parallel()
	const quiet = 3 * time.Second
	s := startSipp(t, "hold.xml", 1)
	e := testEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	leg, err := e.Dial(ctx, DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678", RTPTimeout: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if r := leg.Result(); r.Answered.IsZero() {
		t.Fatalf("not answered: %+v", r)
	}
	if err := leg.Hold(ctx, true); err != nil {
		s.Fail(t)
		t.Fatal(err)
	}
	waitFor(t, "a held silence of three RTP timeouts", func() bool {
		select {
		case <-leg.Ended():
			t.Fatalf("the held call ended: %+v", leg.Result())
		default:
		}
		return time.Since(leg.Session().LastReceived()) > 3*quiet
	})
	if err := leg.Hold(ctx, false); err != nil {
		s.Fail(t)
		t.Fatal(err)
	}
	select {
	case <-leg.Ended():
	case <-time.After(30 * time.Second):
		t.Fatal("the silent call was not hung up after the unhold")
	}
	if r := leg.Result(); r.Reason != "no RTP for 3s" || r.ByeStatus != 200 {
		t.Fatalf("result %+v", r)
	}
	s.Wait(t)
	for _, want := range []string{"HOLD a=sendonly", "ACK  2 ACK", "UNHOLD a=sendrecv", "BYE  4 BYE"} {
		if !strings.Contains(s.Log(), want) {
			t.Errorf("sipp logged no %q:\n%s", want, s.Log())
		}
	}
}

// ear remembers when it last heard something louder than silence.
type ear struct{ loud atomic.Int64 }

func (h *ear) onAudio(pcm []int16) {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	if len(pcm) > 0 && sum/float64(len(pcm)) > 500*500 {
		h.loud.Store(time.Now().UnixNano())
	}
}

func (h *ear) heardSince(t time.Time) bool { return h.loud.Load() > t.UnixNano() }

// quietFor says nothing loud came for d.
func (h *ear) quietFor(d time.Duration) bool { return time.Since(time.Unix(0, h.loud.Load())) > d }

// A call placed and a call answered hold each other through the same dialog
// code: the held side's tone stops reaching the holder, the holder's keeps
// reaching the held side, and the unhold brings the tone back.
func TestHoldEitherDirection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var outEar, inEar ear // what the caller's leg hears, what the line's leg hears
	legs := make(chan *Leg, 1)
	line := lineEndpoint(t, EndpointOptions{Inbound: loopback(), RTPPorts: media.PortRange{Min: 47700, Max: 47749},
		OnInvite: func(in *Inbound) {
			leg, err := in.Answer(ctx, AnswerOptions{OnAudio: inEar.onAudio})
			if err != nil {
				t.Error(err)
				return
			}
			legs <- leg
			<-leg.Ended()
		}})
	caller, tr := handset(t, line, media.PortRange{Min: 47750, Max: 47799}, 1)
	out, err := caller.Dial(ctx, DialRequest{Trunk: tr, To: "8005550100", OnAudio: outEar.onAudio})
	if err != nil || out.Result().Answered.IsZero() {
		t.Fatalf("call: %v %+v", err, out.Result())
	}
	var in *Leg
	select {
	case in = <-legs:
	case <-time.After(30 * time.Second):
		t.Fatal("the line did not answer")
	}
	for _, l := range []*Leg{out, in} {
		go l.Session().Play(ctx, false, &media.Prompt{Samples: media.Tone(440, 8000, 8000*80)})
	}
	for _, c := range []struct {
		who                string
		holder, held       *Leg
		holderEar, heldEar *ear
	}{{"the caller holds", out, in, &outEar, &inEar}, {"the line holds", in, out, &inEar, &outEar}} {
		t.Run(c.who, func(t *testing.T) {
			start := time.Now()
			waitFor(t, "both tones", func() bool { return c.holderEar.heardSince(start) && c.heldEar.heardSince(start) })
			if err := c.holder.Hold(ctx, true); err != nil {
				t.Fatal(err)
			}
			held := time.Now()
			waitFor(t, "the held side's tone to stop", func() bool { return c.holderEar.quietFor(time.Second) })
			if !c.heldEar.heardSince(held) {
				t.Fatal("the held side stopped hearing the holder")
			}
			if err := c.holder.Hold(ctx, false); err != nil {
				t.Fatal(err)
			}
			unheld := time.Now()
			waitFor(t, "the tone back", func() bool { return c.holderEar.heardSince(unheld) })
		})
	}
	if r := out.Hangup(ctx); r.ByeStatus != 200 {
		t.Fatalf("BYE after the re-INVITEs answered %d", r.ByeStatus)
	}
	select {
	case <-in.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the line's leg did not end")
	}
}
