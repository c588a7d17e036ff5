package campaign

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/baresiptest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// syncBuffer is a log sink shared by goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A debtor calls the callback line from baresip, a real softphone: they are
// asked to prove who they are, key the last four digits of their national
// id and then 1-1-2 (RFC 4733, from baresip's command interface) as they
// hear the prompts, and Marcador hangs up. The call ends
// on both sides (baresip answers our BYE with 200 and closes the call), and
// what baresip recorded is speech.
func TestInboundCallbackWithBaresip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City",
		Profile: "MX", Trunk: "sim", Script: "reminder-overdue", Language: "es", Promise: queue.PromisePolicy{MaxDays: 15}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	caller := fmt.Sprintf("+5255%08d", time.Now().UnixNano()%1e8)
	acct := queue.Account{ID: "BS-1", NationalID: "80" + caller[len(caller)-7:], Country: "MX", Phones: []queue.Phone{{Number: caller}}, Balance: decimal.RequireFromString("2500"),
		Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23}
	h.fresh(ctx, []queue.Account{acct})
	if _, err := h.store.Load(ctx, id, []queue.Account{acct}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	scripts, _ := script.Shipped()
	var r *Runner
	ready := make(chan struct{})
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 48800, Max: 48899},
		Logger: log, Inbound: loopbackTrunk(), OnInvite: func(in *dialer.Inbound) { <-ready; r.Inbound(in) }})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	r = New(Options{Store: h.store, Gate: h.gate, Endpoint: ep, Writer: h.w, Scripts: scripts, Library: prompts.NewLibrary(""),
		Node: "e2e", Logger: log, Inbound: InboundOptions{Numbers: []string{"8005550100"}, Country: "MX", Campaign: id + "-inbound"}})
	defer r.Close()
	close(ready)

	phone := baresiptest.Start(t, baresiptest.Options{User: caller})
	fail := func(format string, a ...any) {
		t.Helper()
		t.Fatalf(format+"\n--- baresip:\n%s\n--- marcador:\n%s", append(a, tail(phone.Output(), 6000), tail(logs.String(), 3000))...)
	}
	deadline := time.Now().Add(60 * time.Second)
	left := func() time.Duration { return max(time.Until(deadline), time.Second) }
	if err := phone.Dial("sip:8005550100@" + ep.Addr()); err != nil {
		fail("%v", err)
	}
	if _, err := phone.WaitEvent("CALL_ESTABLISHED", 1, left()); err != nil {
		fail("%v", err)
	}
	// Each key goes once the debtor has heard more of the line speak: the
	// welcome and balance first, then each menu's prompt.
	heard := func(least time.Duration) {
		t.Helper()
		for {
			pcm, err := phone.Heard()
			if err != nil {
				fail("%v", err)
			}
			if s := mediatest.Measure(pcm); s.IsSpeech(least) {
				return
			}
			if time.Now().After(deadline) {
				fail("baresip has not heard %s of speech: %s", least, mediatest.Measure(pcm))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The welcome and the question, then the four digits at once; the
	// balance and the menu, then 1; each following menu, then its key.
	last4 := acct.NationalID[len(acct.NationalID)-4:]
	speech := 4 * time.Second
	for i, k := range strings.Split(last4+"112", "") {
		switch {
		case i == 0:
			heard(speech)
		case i == 4:
			speech += 4 * time.Second
			heard(speech)
		case i > 4:
			speech += time.Second
			heard(speech)
		}
		if err := phone.Key(k); err != nil {
			fail("%v", err)
		}
	}
	// Marcador confirms the promise, says goodbye and hangs up.
	closed, err := phone.WaitEvent("CALL_CLOSED", 1, left())
	if err != nil {
		fail("%v", err)
	}
	r.Wait()
	out := phone.Output()
	// baresip's trace: the BYE it received, and its 200 to it.
	bye := regexp.MustCompile(`(?s)BYE sip:\S+ SIP/2\.0.*?\nCSeq: (\d+) BYE`).FindStringSubmatch(out)
	if bye == nil {
		fail("baresip never received a BYE (call closed: %q)", closed.Param)
	}
	if !regexp.MustCompile(`SIP/2\.0 200 OK[^\n]*\n(?:[^\n]+\n)*?CSeq: ` + bye[1] + ` BYE`).MatchString(out) {
		fail("baresip did not answer our BYE with 200")
	}
	if strings.Contains(out, "481 Call Does Not Exist") || strings.Contains(out, "481 Call/Transaction") {
		fail("a 481 in the call")
	}
	if l := logs.String(); strings.Contains(l, "BYE refused") || strings.Contains(l, "BYE not confirmed") {
		fail("our BYE was not confirmed")
	}
	pcm, err := phone.Heard()
	if err != nil {
		fail("%v", err)
	}
	s := mediatest.Measure(pcm)
	if !s.IsSpeech(8 * time.Second) {
		fail("baresip's recording is not 8 s of speech: %s", s)
	}
	t.Logf("baresip heard %s in %s; the call closed: %s", s, time.Duration(len(pcm))*time.Second/media.SampleRate, closed.Param)
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var acctID, dtmf, promise string
	if err := h.conn.QueryRow(ctx, "SELECT account_id, dtmf, toString(promise_amount) FROM "+h.db+
		".contact_attempts FINAL WHERE trunk = 'inbound' AND phone = ?", caller).Scan(&acctID, &dtmf, &promise); err != nil {
		t.Fatal(err)
	}
	if acctID != "BS-1" || dtmf != "****112" || promise != "2500.00" {
		t.Fatalf("attempt row: account %q dtmf %q promise %s", acctID, dtmf, promise)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
