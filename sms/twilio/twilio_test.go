package twilio

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twiliotest"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
)

func fake(t *testing.T) *twiliotest.Server {
	t.Helper()
	s, err := twiliotest.Start(twiliotest.Options{AccountSID: testSID, AuthToken: testToken,
		Numbers: []string{"+15005550006", "whatsapp:+14155238886"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestSendThroughLocalServer(t *testing.T) {
	srv := fake(t)
	p, err := New(Config{AccountSID: testSID, AuthToken: testToken, From: "+15005550006", WhatsAppFrom: "+14155238886", APIURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := p.Send(ctx, sms.Message{Channel: analytics.SMS, To: "+525512345678", Body: "Hola Ana, paga aquí"})
	if err != nil || !strings.HasPrefix(r.SID, "SM") || r.Status != "queued" || r.Segments != 1 || r.Created.IsZero() {
		t.Fatalf("send: %+v %v", r, err)
	}
	r, err = p.Send(ctx, sms.Message{Channel: analytics.WhatsApp, To: "+525512345678", ContentSID: "HX0123456789abcdef0123456789abcdef",
		ContentVariables: `{"1":"Ana"}`})
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 2 || msgs[0].From != "+15005550006" || msgs[1].To != "whatsapp:+525512345678" ||
		msgs[1].From != "whatsapp:+14155238886" || msgs[1].ContentVariables != `{"1":"Ana"}` {
		t.Fatalf("server saw %+v", msgs)
	}

	srv.SetOutcome("+525500000001", twiliotest.Outcome{CreateError: 21211})
	_, err = p.Send(ctx, sms.Message{Channel: analytics.SMS, To: "+525500000001", Body: "x"})
	if e, ok := sms.ProviderError(err); !ok || e.Code != 21211 || e.HTTPStatus != 400 || e.Retryable() {
		t.Fatalf("21211: %v", err)
	}
	_, err = p.Send(ctx, sms.Message{Channel: analytics.SMS, To: "5512345678", Body: "x"})
	if e, ok := sms.ProviderError(err); !ok || e.Code != 21211 {
		t.Fatalf("national number: %v", err)
	}
	_, err = p.Send(ctx, sms.Message{Channel: analytics.SMS, To: "+525512345678"})
	if e, ok := sms.ProviderError(err); !ok || e.Code != 21602 {
		t.Fatalf("no body: %v", err)
	}
	srv.SetOutcome("+525500000002", twiliotest.Outcome{Throttle: 1})
	_, err = p.Send(ctx, sms.Message{Channel: analytics.SMS, To: "+525500000002", Body: "x"})
	if e, ok := sms.ProviderError(err); !ok || e.Code != 20429 || !e.Retryable() || e.Ambiguous() {
		t.Fatalf("429: %v", err)
	}

	bad, _ := New(Config{AccountSID: testSID, AuthToken: "ffffffffffffffffffffffffffffffff", From: "+15005550006", APIURL: srv.URL()})
	_, err = bad.Send(ctx, sms.Message{Channel: analytics.SMS, To: "+525512345678", Body: "x"})
	if e, ok := sms.ProviderError(err); !ok || e.Code != 20003 || e.HTTPStatus != 401 {
		t.Fatalf("wrong token: %v", err)
	}
	unknown, _ := New(Config{AccountSID: testSID, AuthToken: testToken, From: "+15005550009", APIURL: srv.URL()})
	_, err = unknown.Send(ctx, sms.Message{Channel: analytics.SMS, To: "+525512345678", Body: "x"})
	if e, ok := sms.ProviderError(err); !ok || e.Code != 21606 {
		t.Fatalf("unknown sender: %v", err)
	}
}

// A 500 that hid a created message: Find sees it, so a retry is not needed.
func TestFindAfterAmbiguousFailure(t *testing.T) {
	srv := fake(t)
	p, _ := New(Config{AccountSID: testSID, AuthToken: testToken, MessagingServiceSID: "MG0123456789abcdef0123456789abcdef", APIURL: srv.URL()})
	srv.SetOutcome("+525512345678", twiliotest.Outcome{Ambiguous: 1})
	m := sms.Message{Channel: analytics.SMS, To: "+525512345678", Body: "recordatorio"}
	since := time.Now()
	_, err := p.Send(context.Background(), m)
	if e, ok := sms.ProviderError(err); !ok || !e.Ambiguous() {
		t.Fatalf("ambiguous: %v", err)
	}
	r, found, err := p.Find(context.Background(), m, since)
	if err != nil || !found || r.Status != "accepted" {
		t.Fatalf("find: %+v %v %v", r, found, err)
	}
	m.Body = "otro texto"
	if _, found, _ := p.Find(context.Background(), m, since); found {
		t.Fatal("found a message with another body")
	}
}

func TestValidator(t *testing.T) {
	v := NewValidator(testToken, "https://dialer.example.com/")
	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "To": {"+525512345678"}}
	var got []bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, v.Valid(r, b))
	})
	post := func(body, sig string) {
		r := httptest.NewRequest("POST", "/webhooks/twilio/status?attempt=a1", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			r.Header.Set("X-Twilio-Signature", sig)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	sig := twiliotest.Sign(testToken, "https://dialer.example.com/webhooks/twilio/status?attempt=a1", form)
	post(form.Encode(), sig)
	tampered := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "To": {"+525512345678"}}
	post(tampered.Encode(), sig)
	post(form.Encode(), "")
	post(form.Encode(), twiliotest.Sign("another-token-entirely-0000000000", "https://dialer.example.com/webhooks/twilio/status?attempt=a1", form))
	if len(got) != 4 || !got[0] || got[1] || got[2] || got[3] {
		t.Fatalf("valid, tampered, missing, wrong key: %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{AccountSID: "nope", AuthToken: "x", From: "+1"},
		{AccountSID: testSID, From: "+1"},
		{AccountSID: testSID, AuthToken: "x"},
		{AccountSID: testSID, AuthToken: "x", From: "+1", APIURL: "localhost:1"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
