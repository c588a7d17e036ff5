package dialer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer/sipptest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/queue"
)

func startSipp(t *testing.T, scenario string, calls int, args ...string) *sipptest.Sipp {
	t.Helper()
	return sipptest.Start(t, filepath.Join("testdata", "sipp", scenario), calls, args...)
}

func testEndpoint(t *testing.T) *Endpoint {
	t.Helper()
	e, err := NewEndpoint(EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 41000, Max: 45999}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func testTrunk(t *testing.T, port int, user, pass string) *Trunk {
	t.Helper()
	tr, err := NewTrunk(TrunkConfig{Name: "sipp", URI: fmt.Sprintf("sip:127.0.0.1:%d", port), Username: user, Password: pass,
		CallerID: "+525550000100", CPS: 50, MaxChannels: 10})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestSippAnswerAudioAndDTMF(t *testing.T) {
	t.Parallel()
	s := startSipp(t, "answer_play_dtmf.xml", 1)
	e := testEndpoint(t)
	var heard mediatest.Recorder
	leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678", OnAudio: heard.OnAudio})
	if err != nil {
		t.Fatal(err)
	}
	if r := leg.Result(); !r.Answered.After(r.Started) {
		t.Fatalf("not answered: %+v", r)
	}
	digits, err := leg.Session().CollectDigits(context.Background(), 4, 0, 15*time.Second, 5*time.Second)
	if err != nil || digits != "159#" {
		t.Fatalf("digits %q (%v), want the 159# sipp sent", digits, err)
	}
	if pcm := heard.Samples(); len(pcm) < 4*8000 || !mediatest.Measure(pcm).IsSpeech(2*time.Second) {
		t.Fatalf("heard %d samples, %s: the g711a.pcap speech did not arrive", len(pcm), mediatest.Measure(pcm))
	}
	r := leg.Hangup(context.Background())
	if r.Disposition != analytics.Answered || r.SIPCode != 200 || r.TalkMS() < 5000 || r.Reason != "local hangup" {
		t.Fatalf("result %+v talk %d", r, r.TalkMS())
	}
	s.Wait(t)
}

func TestSippRejections(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		code, reason, want string
	}{{"486", "Busy Here", analytics.Busy}, {"404", "Not Found", analytics.InvalidNumber}, {"503", "Service Unavailable", analytics.NetworkError}, {"603", "Decline", analytics.Rejected}} {
		t.Run(c.code, func(t *testing.T) {
			t.Parallel()
			s := startSipp(t, "reject_"+c.code+".xml", 1)
			e := testEndpoint(t)
			leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+573001234567"})
			if err != nil {
				t.Fatal(err)
			}
			<-leg.Ended()
			r := leg.Result()
			if r.Disposition != c.want || fmt.Sprint(r.SIPCode) != c.code || r.TalkMS() != 0 {
				t.Fatalf("result %+v, want %s", r, c.want)
			}
			s.Wait(t)
		})
	}
}

func TestSippRingTimeoutCancels(t *testing.T) {
	t.Parallel()
	s := startSipp(t, "ring_forever.xml", 1)
	e := testEndpoint(t)
	start := time.Now()
	leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+56987654321", RingTimeout: queue.MinRingTimeout})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-leg.Ended():
	case <-time.After(queue.MinRingTimeout + time.Minute):
		s.Fail(t)
		t.Fatal("the call was never cancelled")
	}
	// Our CANCEL ended it (487), never before the legal minimum ring.
	r := leg.Result()
	if r.Disposition != analytics.NoAnswer || r.SIPCode != 487 {
		s.Fail(t)
		t.Fatalf("result %+v", r)
	}
	if d := time.Since(start); d < queue.MinRingTimeout {
		t.Fatalf("cancelled after %s, before the %s minimum", d, queue.MinRingTimeout)
	}
	if _, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+56987654321", RingTimeout: 5 * time.Second}); err == nil {
		t.Fatal("a ring timeout below 15 s was accepted")
	}
	s.Wait(t)
}

func TestSippEarlyMediaThenAnswer(t *testing.T) {
	t.Parallel()
	s := startSipp(t, "early_media.xml", 1)
	e := testEndpoint(t)
	var heard mediatest.Recorder
	leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678", OnAudio: heard.OnAudio})
	if err != nil {
		t.Fatal(err)
	}
	r := leg.Result()
	if r.Answered.IsZero() {
		t.Fatalf("not answered: %+v", r)
	}
	if pcm := heard.Samples(); len(pcm) < 8000 || mediatest.Measure(pcm).Silent() {
		t.Fatalf("%d samples of early media before the answer, %s", len(pcm), mediatest.Measure(pcm))
	}
	if d, _ := leg.Session().CollectDigits(context.Background(), 1, 0, 10*time.Second, time.Second); d != "7" {
		t.Fatalf("digit after answer %q", d)
	}
	leg.Hangup(context.Background())
	s.Wait(t)
}

func TestSippManyProvisionalResponses(t *testing.T) {
	t.Parallel()
	s := startSipp(t, "many_provisional.xml", 1)
	e := testEndpoint(t)
	leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678"})
	if err != nil {
		t.Fatal(err)
	}
	if r := leg.Result(); r.Answered.IsZero() {
		t.Fatalf("not answered after 13 provisional responses: %+v", r)
	}
	if d, _ := leg.Session().CollectDigits(context.Background(), 1, 0, 10*time.Second, time.Second); d != "3" {
		t.Fatalf("digit %q", d)
	}
	leg.Hangup(context.Background())
	s.Wait(t)
}

func TestSippDigest(t *testing.T) {
	t.Parallel()
	t.Run("401 verified by sipp", func(t *testing.T) {
		t.Parallel()
		s := startSipp(t, "digest_401.xml", 1)
		e := testEndpoint(t)
		leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "marcador", "s3cret"), To: "+525512345678"})
		if err != nil {
			t.Fatal(err)
		}
		if r := leg.Result(); r.Answered.IsZero() {
			s.Fail(t)
			t.Fatalf("digest not answered: %+v", r)
		}
		leg.Hangup(context.Background())
		s.Wait(t)
	})
	t.Run("407 on INVITE", func(t *testing.T) {
		t.Parallel()
		s := startSipp(t, "digest.xml", 1)
		e := testEndpoint(t)
		leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "marcador", "s3cret"), To: "+525512345678"})
		if err != nil {
			t.Fatal(err)
		}
		if r := leg.Result(); r.Answered.IsZero() {
			s.Fail(t)
			t.Fatalf("digest not answered: %+v", r)
		}
		leg.Hangup(context.Background())
		s.Wait(t)
		// sipp cannot verify Proxy-Authorization; check what it logged (RFC 2617 §3.2.2).
		b := []byte(s.Log())
		_, hdr, ok := strings.Cut(strings.ReplaceAll(string(b), "AUTH  ", "AUTH "), "AUTH Digest ")
		if !ok {
			t.Fatalf("no Proxy-Authorization logged: %q", b)
		}
		p := digestParams(strings.SplitN(hdr, "\n", 2)[0])
		ha1 := md5hex("marcador:" + p["realm"] + ":s3cret")
		ha2 := md5hex("INVITE:" + p["uri"])
		want := md5hex(ha1 + ":" + p["nonce"] + ":" + ha2)
		if p["qop"] != "" {
			want = md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
		}
		if p["response"] != want || p["username"] != "marcador" {
			t.Fatalf("digest response %q, want %q (params %v)", p["response"], want, p)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		t.Parallel()
		s := startSipp(t, "digest.xml", 1)
		e := testEndpoint(t)
		leg, _ := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678"})
		<-leg.Ended()
		if r := leg.Result(); r.Disposition != analytics.ConfigError || r.SIPCode != 407 {
			t.Fatalf("result %+v", r)
		}
	})
}

func digestParams(s string) map[string]string {
	out := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			out[k] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return out
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSippByeMidPrompt(t *testing.T) {
	t.Parallel()
	s := startSipp(t, "bye_mid_prompt.xml", 1)
	e := testEndpoint(t)
	leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = leg.Session().Play(context.Background(), true, &media.Prompt{Samples: media.Tone(440, 6000, 8000*20)})
	if err != media.ErrClosed {
		s.Fail(t)
		t.Fatalf("prompt ended with %v, want the session closed by the BYE", err)
	}
	<-leg.Ended()
	if r := leg.Result(); r.Disposition != analytics.Answered || r.Reason != "remote hangup" || r.TalkMS() < 1000 {
		t.Fatalf("result %+v", r)
	}
	s.Wait(t)
}

// A 200 retransmitted after our ACK (the ACK was lost on the way) gets
// another ACK, so the carrier keeps the call.
func TestSippAckForRetransmitted200(t *testing.T) {
	t.Parallel()
	s := startSipp(t, "ack_retransmit.xml", 1)
	e := testEndpoint(t)
	leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-leg.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("sipp did not hang up")
	}
	if r := leg.Result(); r.Disposition != analytics.Answered || r.Reason != "remote hangup" {
		t.Fatalf("result %+v", r)
	}
	s.Wait(t) // sipp fails the call if the second ACK does not come
}

func TestSippMalformedResponse(t *testing.T) {
	t.Parallel()
	s := startSipp(t, "malformed.xml", 1)
	e := testEndpoint(t)
	leg, err := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678", RingTimeout: queue.MinRingTimeout})
	if err != nil {
		t.Fatal(err)
	}
	<-leg.Ended()
	if r := leg.Result(); r.Disposition != analytics.NetworkError {
		t.Fatalf("result %+v", r)
	}
}

// Calls of every kind leave no goroutine and no socket behind.
func TestNoLeaks(t *testing.T) {
	countFDs := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	before, fdsBefore := runtime.NumGoroutine(), countFDs()
	func() {
		busy := startSipp(t, "reject_486.xml", 10)
		bye := startSipp(t, "bye_mid_prompt.xml", 3)
		e, err := NewEndpoint(EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 46000, Max: 46999}})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		for range 10 {
			leg, _ := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, busy.Port, "", ""), To: "+525512345678"})
			<-leg.Ended()
		}
		for range 3 {
			leg, _ := e.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, bye.Port, "", ""), To: "+525512345678"})
			<-leg.Ended()
		}
		if n := e.ActiveLegs(); n != 0 {
			t.Fatalf("%d legs still registered", n)
		}
		busy.Wait(t)
		bye.Wait(t)
	}()
	polltest.Until(10*time.Second, func() bool { return runtime.NumGoroutine() <= before+2 && countFDs() <= fdsBefore+2 })
	if g, f := runtime.NumGoroutine(), countFDs(); g > before+2 || f > fdsBefore+2 {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Fatalf("leak: goroutines %d -> %d, fds %d -> %d\n%s", before, g, fdsBefore, f, buf[:n])
	}
}
