package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer/writertest"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/epoch"
	"github.com/marcador/marcador/queue/redistest"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twilio"
	"github.com/marcador/marcador/sms/twiliotest"
)

// texter stands in for the sender (tested against the real services in
// sms): one message per key, like it.
type texter struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (x *texter) Send(_ context.Context, r sms.Request) (sms.Result, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if r.Campaign == "gone" {
		return sms.Result{}, fmt.Errorf("campaign gone: %w", queue.ErrNotFound)
	}
	if r.Campaign == "held" {
		return sms.Result{}, fmt.Errorf("texting held: %w", epoch.ErrDataLost)
	}
	if x.keys[r.Key] {
		return sms.Result{Outcome: sms.Duplicate}, nil
	}
	x.keys[r.Key] = true
	return sms.Result{Outcome: sms.Sent, SID: "SM1"}, nil
}

func (x *texter) Conversation(_ context.Context, phone string) ([]sms.ConversationEntry, error) {
	return []sms.ConversationEntry{{Direction: "inbound", Body: "hola " + phone}}, nil
}

// While Redis has lost its data a message is refused with one answer: 503
// and why (it used to be followed by a second JSON value, the empty result).
func TestMessageHeldIsOneAnswer(t *testing.T) {
	srv := httptest.NewServer(New(Options{Messages: &texter{keys: map[string]bool{}}, Tokens: []string{token}}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/messages", strings.NewReader(`{"key":"k1","campaign":"held","account":"a","template":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e map[string]string
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&e); err != nil || resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(e["error"], "texting held") {
		t.Fatalf("held: %d %v %v", resp.StatusCode, e, err)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); strings.TrimSpace(string(rest)) != "" {
		t.Errorf("a second value after the error: %q", rest)
	}
	if rest, _ := io.ReadAll(resp.Body); strings.TrimSpace(string(rest)) != "" {
		t.Errorf("a second value after the error: %q", rest)
	}
}

func TestMessagesRoutes(t *testing.T) {
	api := New(Options{Messages: &texter{keys: map[string]bool{}}, Tokens: []string{token}})
	srv := httptest.NewServer(api)
	defer srv.Close()
	f := &fixture{srv: srv}
	body := `{"key":"k1","campaign":"c","account":"a","template":"payment-link"}`
	var res sms.Result
	if code := f.do(t, "POST", "/api/v1/messages", "application/json", body, true, &res); code != http.StatusCreated || res.Outcome != sms.Sent {
		t.Fatalf("send: %d %+v", code, res)
	}
	if code := f.do(t, "POST", "/api/v1/messages", "application/json", body, true, &res); code != http.StatusOK || res.Outcome != sms.Duplicate {
		t.Fatalf("retried: %d %+v", code, res)
	}
	for b, want := range map[string]int{
		`{"campaign":"c","account":"a","template":"x"}`:               http.StatusBadRequest, // no key
		`{"key":"k2","campaign":"c","account":"a","tpl":"x"}`:         http.StatusBadRequest, // unknown field
		`{"key":"k3","campaign":"gone","account":"a","template":"x"}`: http.StatusNotFound,
	} {
		if code := f.do(t, "POST", "/api/v1/messages", "application/json", b, true, nil); code != want {
			t.Errorf("%s: %d, want %d", b, code, want)
		}
	}
	var conv struct {
		Phone    string                  `json:"phone"`
		Messages []sms.ConversationEntry `json:"messages"`
	}
	if code := f.do(t, "GET", "/api/v1/conversations/5512345678?country=MX", "", "", true, &conv); code != 200 || conv.Phone != "+525512345678" {
		t.Fatalf("conversation: %d %+v", code, conv)
	}
	if code := f.do(t, "GET", "/api/v1/conversations/12", "", "", true, nil); code != http.StatusBadRequest {
		t.Fatalf("bad phone: %d", code)
	}
	if code := f.do(t, "POST", "/api/v1/messages", "application/json", body, false, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
}

// Through the real sender and the local Twilio server: a phone that is not
// one of the account's, or a template that does not exist, is 422 and
// nothing reaches Twilio; the account's own number, written nationally,
// goes.
func TestMessagesRefusedForStrangersAndUnknownTemplates(t *testing.T) {
	const (
		acSID   = "AC0123456789abcdef0123456789abcdef"
		acToken = "0123456789abcdef0123456789abcdef"
		from    = "+15005550006"
	)
	fake, err := twiliotest.Start(twiliotest.Options{AccountSID: acSID, AuthToken: acToken, Numbers: []string{from}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	p, err := twilio.New(twilio.Config{AccountSID: acSID, AuthToken: acToken, From: from, APIURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	tpls, err := sms.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	conn := chtest.Conn(t)
	w := writertest.Start(t, conn, chtest.Database(t, conn))
	f := newFixture(t, func(o *Options) {
		o.Messages = sms.NewSender(sms.SenderOptions{Provider: p, Queue: o.Store, Store: sms.NewStore(sms.StoreOptions{Client: redistest.Client(t)}), Gate: o.Gate, Writer: w, Templates: tpls,
			Link: func(c queue.Campaign, a queue.Account) string { return "https://pay.example/p/" + a.ID },
			Rate: 50, Node: "apitest", Now: o.Now})
	})
	f.createCampaign(t)
	base := time.Now().UnixNano() % 1e7
	own, stranger := fmt.Sprintf("+5255%07d1", base), fmt.Sprintf("+5255%07d2", base)
	ctx := context.Background()
	f.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: own, Channel: "all"})
	f.gate.Forget(ctx, compliance.Subject{Phone: own, Account: "M1"})
	if _, err := f.store.Load(ctx, f.id, []queue.Account{{ID: "M1", Name: "Ana Pérez", Phones: []queue.Phone{{Number: own}},
		Balance: decimal.RequireFromString("1250.50"), Currency: "MXN", Country: "MX"}}, now); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.rdb.Del(ctx, "marcador:sms:tpl:{"+f.id+"/M1}:payment-link") })
	msg := func(key, phone, tpl string) string {
		return fmt.Sprintf(`{"key":"%s/%s","campaign":"%s","account":"M1","template":"%s","phone":"%s"}`, f.id, key, f.id, tpl, phone)
	}
	for _, c := range []struct {
		name, body string
		want       int
		reason     string
	}{
		{"a stranger's number", msg("k1", stranger, "payment-link"), 422, "is not one of account M1's phones"},
		{"a stranger, nationally", msg("k2", stranger[3:], "payment-link"), 422, "is not one of account M1's phones"},
		{"unknown template", msg("k3", own, "no-such-template"), 422, `template "no-such-template" does not exist`},
		{"garbage phone", msg("k4", "12", "payment-link"), 400, "not a valid number"},
		{"trailing garbage", msg("k5", own, "payment-link") + "x", 400, "trailing data"},
	} {
		var e map[string]string
		if code := f.do(t, "POST", "/api/v1/messages", "application/json", c.body, true, &e); code != c.want || !strings.Contains(e["error"], c.reason) {
			t.Errorf("%s: %d %v, want %d %q", c.name, code, e, c.want, c.reason)
		}
	}
	if n := fake.Creates(); n != 0 {
		t.Fatalf("Twilio was asked %d times", n)
	}
	var res sms.Result
	if code := f.do(t, "POST", "/api/v1/messages", "application/json", msg("k6", own[3:], "payment-link"), true, &res); code != 201 || res.Outcome != sms.Sent {
		t.Fatalf("own number: %d %+v", code, res)
	}
	if m := fake.Messages(); len(m) != 1 || m[0].To != own {
		t.Fatalf("Twilio saw %+v", m)
	}
}
