package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/sms"
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
	if x.keys[r.Key] {
		return sms.Result{Outcome: sms.Duplicate}, nil
	}
	x.keys[r.Key] = true
	return sms.Result{Outcome: sms.Sent, SID: "SM1"}, nil
}

func (x *texter) Conversation(_ context.Context, phone string) ([]sms.ConversationEntry, error) {
	return []sms.ConversationEntry{{Direction: "inbound", Body: "hola " + phone}}, nil
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
