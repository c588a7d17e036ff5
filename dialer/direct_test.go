package dialer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

func endpoint(t *testing.T, opt dialer.EndpointOptions) *dialer.Endpoint {
	t.Helper()
	opt.Listen = "127.0.0.1:0"
	opt.RTPPorts = media.PortRange{Min: 37000, Max: 37499}
	e, err := dialer.NewEndpoint(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func phone(t *testing.T, o agenttest.Options) *agenttest.Phone {
	t.Helper()
	if o.User == "" {
		o.User = "agent7"
	}
	if o.Registrar == "" {
		o.Registrar = "127.0.0.1:9" // never registers in these tests
	}
	p, err := agenttest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

var autoAnswer = []sip.Header{sip.NewHeader("Call-Info", "<sip:marcador@127.0.0.1>;answer-after=0")}

// A direct dial reaches a phone with no trunk: its INVITE goes to the
// address given, not to the Contact's host (here a private address the
// phone names from behind its "NAT"), carries the headers that ask for
// auto-answer and no caller id; the answered leg carries audio, and every
// request of its dialog (OPTIONS, the phone's BYE answered) goes to that
// address too.
func TestDirectDialReachesAPhoneBehindNAT(t *testing.T) {
	t.Parallel()
	e := endpoint(t, dialer.EndpointOptions{})
	ph := phone(t, agenttest.Options{Advertise: "10.255.0.7:5062", Record: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leg, err := e.Dial(ctx, dialer.DialRequest{To: ph.ContactURI(), RingTimeout: 5 * time.Second,
		Direct: &dialer.Direct{Addr: ph.Addr(), FromName: "Marcador", Headers: autoAnswer}})
	if err != nil {
		t.Fatal(err)
	}
	if r := leg.Result(); r.Answered.IsZero() {
		t.Fatalf("not answered: %+v", r)
	}
	call, err := ph.NextCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inv := call.Invite
	if inv.Recipient.Host != "10.255.0.7" || inv.From().Address.User != "marcador" || inv.From().DisplayName != "Marcador" ||
		inv.GetHeader("P-Asserted-Identity") != nil || !agenttest.AutoAnswer(inv) {
		t.Fatalf("INVITE:\n%s", inv)
	}
	if err := leg.Ping(ctx); err != nil {
		t.Fatalf("OPTIONS in the dialog: %v", err)
	}
	tone := &media.Prompt{Name: "tone", Samples: media.Tone(1000, 8000, media.SampleRate)}
	if _, err := leg.Session().Play(ctx, false, tone); err != nil {
		t.Fatal(err)
	}
	if !polltest.Until(10*time.Second, func() bool { return mediatest.ToneAt(call.Heard(), 1000) >= 600*time.Millisecond }) {
		t.Fatalf("the phone heard %s of the tone", mediatest.ToneAt(call.Heard(), 1000))
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leg.Ended():
	case <-ctx.Done():
		t.Fatal("the phone's BYE did not end the leg")
	}
	if r := leg.Result(); r.Reason != "remote hangup" || r.Disposition != analytics.Answered {
		t.Fatalf("result %+v", r)
	}
}

// A phone not asked to answer by itself does not (480), and the call ends
// with that code; a direct dial refuses a trunk beside it, and a bad
// address, before anything is sent.
func TestDirectDialRefusals(t *testing.T) {
	t.Parallel()
	e := endpoint(t, dialer.EndpointOptions{})
	ph := phone(t, agenttest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leg, err := e.Dial(ctx, dialer.DialRequest{To: ph.ContactURI(), Direct: &dialer.Direct{Addr: ph.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	<-leg.Ended()
	if r := leg.Result(); r.SIPCode != 480 || !r.Answered.IsZero() {
		t.Fatalf("result %+v", r)
	}
	tr, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "t", URI: "sip:" + ph.Addr(), CallerID: "+525550000100"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []dialer.DialRequest{
		{To: ph.ContactURI(), Trunk: tr, Direct: &dialer.Direct{Addr: ph.Addr()}},
		{To: ph.ContactURI(), Direct: &dialer.Direct{Addr: "nowhere"}},
		{To: "+525512345678", Direct: &dialer.Direct{Addr: ph.Addr()}},
	} {
		if _, err := e.Dial(ctx, r); !errors.Is(err, dialer.ErrLocal) {
			t.Errorf("%+v: %v, want ErrLocal", r.Direct, err)
		}
	}
}

// A phone that vanishes (no BYE) fails the next OPTIONS in its dialog.
func TestPingFailsWhenThePhoneIsGone(t *testing.T) {
	t.Parallel()
	e := endpoint(t, dialer.EndpointOptions{})
	ph := phone(t, agenttest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leg, err := e.Dial(ctx, dialer.DialRequest{To: ph.ContactURI(), Direct: &dialer.Direct{Addr: ph.Addr(), Headers: autoAnswer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leg.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ph.Vanish()
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if err := leg.Ping(pctx); err == nil {
		t.Fatal("OPTIONS to a vanished phone succeeded")
	}
	leg.Hangup(ctx)
	if err := leg.Ping(ctx); err == nil || !strings.Contains(err.Error(), "not up") {
		t.Fatalf("ping after hangup: %v", err)
	}
}

// REGISTER reaches OnRegister; without it the endpoint answers 405.
func TestRegisterIsRoutedToOnRegister(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	with := endpoint(t, dialer.EndpointOptions{OnRegister: func(req *sip.Request, tx sip.ServerTransaction) {
		seen <- req.From().Address.User
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}})
	without := endpoint(t, dialer.EndpointOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := phone(t, agenttest.Options{User: "ana", Registrar: with.Addr()}).Register(ctx); err != nil {
		t.Fatal(err)
	}
	if u := <-seen; u != "ana" {
		t.Fatalf("OnRegister saw %q", u)
	}
	err := phone(t, agenttest.Options{User: "ana", Registrar: without.Addr()}).Register(ctx)
	var se *agenttest.StatusError
	if !errors.As(err, &se) || se.Code != 405 {
		t.Fatalf("REGISTER without a registrar: %v", err)
	}
}
