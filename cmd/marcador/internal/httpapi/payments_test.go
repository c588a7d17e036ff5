package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/marcador/marcador/dialer/campaign"
)

// recorder stands in for the runner: it validates like it and remembers ids.
type recorder struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (r *recorder) RecordPayment(_ context.Context, p campaign.Payment) (campaign.PaymentResult, error) {
	if err := p.Validate(); err != nil {
		return campaign.PaymentResult{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	res := campaign.PaymentResult{PaymentID: p.ID, Duplicate: r.seen[p.ID], Kept: []string{}}
	r.seen[p.ID] = true
	return res, nil
}

func TestPaymentsRoute(t *testing.T) {
	api := New(Options{Payments: &recorder{seen: map[string]bool{}}, Tokens: []string{token}})
	srv := httptest.NewServer(api)
	defer srv.Close()
	f := &fixture{srv: srv}
	var res PaymentsResult
	body := `[{"payment_id":"p1","account_id":"A1","amount":"250.00","currency":"MXN","method":"link"},
	          {"payment_id":"p2","account_id":"A1","amount":0,"currency":"MXN"},
	          {"payment_id":"p3","account_id":"A1","amount":"10","currency":"MXN","tip":1},
	          {"payment_id":"p1","account_id":"A1","amount":"250.00","currency":"MXN"}]`
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", body, true, &res); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if res.Received != 4 || res.Recorded != 2 || len(res.Errors) != 2 || !res.Results[1].Duplicate ||
		!strings.Contains(res.Errors[0].Error, "amount") || !strings.Contains(res.Errors[1].Error, "tip") {
		t.Fatalf("%+v", res)
	}
	res = PaymentsResult{}
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", `{"payment_id":"p9","account_id":"A1","amount":"5","currency":"mx"}`, true, &res); code != http.StatusUnprocessableEntity {
		t.Fatalf("single bad payment: %d %+v", code, res)
	}
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", `{"payments":[`, true, nil); code != http.StatusBadRequest {
		t.Fatalf("broken JSON: %d", code)
	}
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", `{}`, false, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
}
