package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue/promise"
)

// recorder stands in for the runner: it validates like it, knows the
// accounts A1 and A2, and remembers ids.
type recorder struct {
	mu   sync.Mutex
	seen map[string]bool
	got  []promise.Payment
}

func (r *recorder) RecordPayment(_ context.Context, p promise.Payment) (promise.PaymentResult, error) {
	if err := p.Validate(now); err != nil {
		return promise.PaymentResult{}, err
	}
	if p.Account != "A1" && p.Account != "A2" {
		return promise.PaymentResult{}, fmt.Errorf("payment %s: %w: %w", p.ID, promise.ErrUnknownAccount,
			&analytics.FieldError{Field: "account_id", Reason: "no campaign has an account " + p.Account})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	res := promise.PaymentResult{PaymentID: p.ID, Duplicate: r.seen[p.ID], Kept: []string{}}
	r.seen[p.ID] = true
	r.got = append(r.got, p)
	return res, nil
}

func paymentsServer(t *testing.T) (*fixture, *recorder) {
	rec := &recorder{seen: map[string]bool{}}
	api := New(Options{Payments: rec, Tokens: []string{token}, Now: func() time.Time { return now }})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv}, rec
}

func TestPaymentsRoute(t *testing.T) {
	f, _ := paymentsServer(t)
	var res PaymentsResult
	body := `[{"payment_id":"p1","account_id":"A1","amount":"250.00","currency":"MXN","method":"link"},
	          {"payment_id":"p2","account_id":"A1","amount":0,"currency":"MXN"},
	          {"payment_id":"p3","account_id":"A1","amount":"10","currency":"MXN","tip":1},
	          {"payment_id":"p1","account_id":"A1","amount":"250.00","currency":"MXN"}]`
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", body, true, &res); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if res.Received != 4 || res.Recorded != 2 || len(res.Errors) != 2 || !res.Results[1].Duplicate ||
		res.Errors[0].Index != 1 || res.Errors[0].Field != "amount" || res.Errors[1].Index != 2 || res.Errors[1].Field != "tip" {
		t.Fatalf("%+v", res)
	}
	res = PaymentsResult{}
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", `{"payment_id":"p9","account_id":"A1","amount":"5","currency":"mx"}`, true, &res); code != http.StatusUnprocessableEntity ||
		res.Errors[0].Field != "currency" {
		t.Fatalf("single bad payment: %d %+v", code, res)
	}
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", `{"payments":[`, true, nil); code != http.StatusBadRequest {
		t.Fatalf("broken JSON: %d", code)
	}
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", `{}`, false, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
}

// The three shapes are read from the JSON: a payment whose id is the word
// "payments" is a payment, not a wrapper.
func TestPaymentsShapes(t *testing.T) {
	f, rec := paymentsServer(t)
	for _, c := range []struct {
		body string
		ids  string
	}{
		{`{"payment_id":"payments","account_id":"A1","amount":"10.00","currency":"MXN"}`, "payments"},
		{`{"payment_id":"s1","account_id":"A1","amount":10,"currency":"MXN","reference":"\"payments\""}`, "s1"},
		{`[{"payment_id":"a1","account_id":"A1","amount":1,"currency":"COP"},{"payment_id":"a2","account_id":"A2","amount":2,"currency":"CLP"}]`, "a1 a2"},
		{`{"payments":[{"payment_id":"w1","account_id":"A1","amount":"1.5","currency":"PEN"}]}`, "w1"},
		{` {"payments" : [{"payment_id":"payments","account_id":"A2","amount":"3","currency":"USD"}]} `, "payments"},
	} {
		rec.got = nil
		var res PaymentsResult
		if code := f.do(t, "POST", "/api/v1/payments", "application/json", c.body, true, &res); code != http.StatusOK {
			t.Fatalf("%s: %d %+v", c.body, code, res)
		}
		var ids []string
		for _, p := range rec.got {
			ids = append(ids, p.ID)
		}
		if strings.Join(ids, " ") != c.ids || res.Recorded != len(ids) || len(res.Errors) != 0 {
			t.Errorf("%s: recorded %v, want %s (%+v)", c.body, ids, c.ids, res)
		}
	}
}

// Every bad value is answered with its field and reason; valid payments in
// the same request go through.
func TestPaymentsFieldErrors(t *testing.T) {
	f, _ := paymentsServer(t)
	ok := func(id string) string {
		return `{"payment_id":"` + id + `","account_id":"A1","amount":"100.00","currency":"MXN"}`
	}
	bad := map[string]string{ // payment → field
		`{"payment_id":"p5","account_id":"A1","amount":"1e30","currency":"MXN"}`:                                              "amount",
		`{"payment_id":"b1","account_id":"A1","amount":1e30,"currency":"MXN"}`:                                                "amount",
		`{"payment_id":"b2","account_id":"A1","amount":"-5","currency":"MXN"}`:                                                "amount",
		`{"payment_id":"b3","account_id":"A1","amount":"0","currency":"MXN"}`:                                                 "amount",
		`{"payment_id":"b4","account_id":"A1","amount":"0.001","currency":"MXN"}`:                                             "amount",
		`{"payment_id":"b5","account_id":"A1","amount":"12.345","currency":"MXN"}`:                                            "amount",
		`{"payment_id":"b6","account_id":"A1","amount":"abc","currency":"MXN"}`:                                               "amount",
		`{"payment_id":"b7","account_id":"A1","amount":true,"currency":"MXN"}`:                                                "amount",
		`{"payment_id":"b8","account_id":"A1","currency":"MXN"}`:                                                              "amount",
		`{"payment_id":"b9","account_id":"A1","amount":"5","currency":"$$$"}`:                                                 "currency",
		`{"payment_id":"b10","account_id":"A1","amount":"5","currency":"XXX"}`:                                                "currency",
		`{"payment_id":"b11","account_id":"A1","amount":"5"}`:                                                                 "currency",
		`{"payment_id":"b12","account_id":"A1","amount":"5","currency":"MXN","paid_at":"0001-01-01T00:00:00Z"}`:               "paid_at",
		`{"payment_id":"b13","account_id":"A1","amount":"5","currency":"MXN","paid_at":"9999-12-31T00:00:00Z"}`:               "paid_at",
		`{"payment_id":"b14","account_id":"A1","amount":"5","currency":"MXN","paid_at":"1999-12-31T23:59:59Z"}`:               "paid_at",
		`{"payment_id":"b15","account_id":"A1","amount":"5","currency":"MXN","paid_at":"2026-11-25T15:00:00Z"}`:               "paid_at", // 2 days ahead
		`{"payment_id":"b16","account_id":"A1","amount":"5","currency":"MXN","paid_at":"yesterday"}`:                          "paid_at",
		`{"payment_id":"b17","account_id":"A1","amount":"5","currency":"MXN","paid_at":1732000000}`:                           "paid_at",
		`{"payment_id":"b18","account_id":"nobody","amount":"5","currency":"MXN"}`:                                            "account_id",
		`{"account_id":"A1","amount":"5","currency":"MXN"}`:                                                                   "payment_id",
		`{"payment_id":7,"account_id":"A1","amount":"5","currency":"MXN"}`:                                                    "payment_id",
		`{"payment_id":"b19","amount":"5","currency":"MXN"}`:                                                                  "account_id",
		`{"payment_id":"b20","account_id":"A1","amount":"5","currency":"MXN","campaign_id":"a b"}`:                            "campaign_id",
		`{"payment_id":"b21","account_id":"A1","amount":"5","currency":"MXN","reference":"` + strings.Repeat("r", 300) + `"}`: "reference",
		`{"payment_id":"` + strings.Repeat("i", 129) + `","account_id":"A1","amount":"5","currency":"MXN"}`:                   "payment_id",
		`{"payment_id":"b22","account_id":"A1","amount":"5","currency":"MXN","extra":1}`:                                      "extra",
	}
	for p, field := range bad {
		var res PaymentsResult
		body := "[" + ok("good-"+field) + "," + p + "]"
		if code := f.do(t, "POST", "/api/v1/payments", "application/json", body, true, &res); code != http.StatusOK {
			t.Errorf("%s: status %d", p, code)
			continue
		}
		if res.Recorded != 1 || len(res.Errors) != 1 || res.Errors[0].Index != 1 || res.Errors[0].Field != field ||
			!strings.Contains(res.Errors[0].Error, field) {
			t.Errorf("%s: %+v, want an error for field %s", p, res, field)
		}
	}
	// Alone, the reported attack answers 422 with the field.
	var res PaymentsResult
	if code := f.do(t, "POST", "/api/v1/payments", "application/json", `{"payment_id":"p5","account_id":"a1","amount":"1e30","currency":"MXN"}`, true, &res); code != http.StatusUnprocessableEntity ||
		res.Errors[0].Field != "amount" || !strings.Contains(res.Errors[0].Error, "out of range") {
		t.Fatalf("1e30: %d %+v", code, res)
	}
	// Valid edge values.
	for _, p := range []string{
		`{"payment_id":"e1","account_id":"A1","amount":"9999999999999999.99","currency":"MXN"}`,
		`{"payment_id":"e2","account_id":"A1","amount":0.01,"currency":"mxn","paid_at":"2000-01-01T00:00:00Z"}`,
		`{"payment_id":"e3","account_id":"A1","amount":"1.50","currency":"CLF","paid_at":"2026-11-24T09:00:00-05:00"}`,
		`{"payment_id":"e4","account_id":"A1","amount":"10","currency":"COP","paid_at":null}`,
	} {
		var res PaymentsResult
		if code := f.do(t, "POST", "/api/v1/payments", "application/json", p, true, &res); code != http.StatusOK || res.Recorded != 1 {
			t.Errorf("%s: %d %+v", p, code, res)
		}
	}
}

func TestPaymentsBodyErrors(t *testing.T) {
	f, rec := paymentsServer(t)
	good := `{"payment_id":"g1","account_id":"A1","amount":"10","currency":"MXN"}`
	for _, body := range []string{
		good + `garbage`,
		good + ` {"payment_id":"g2"}`,
		`[` + good + `]]`,
		`{"payments":[` + good + `]} x`,
		``, ` `, `[]`, `{"payments":[]}`, `{"payments":{}}`, `{"payments":null}`, `"payments"`, `5`, `null`,
	} {
		var res map[string]any
		if code := f.do(t, "POST", "/api/v1/payments", "application/json", body, true, &res); code != http.StatusBadRequest {
			t.Errorf("%q: %d %v", body, code, res)
		}
	}
	if len(rec.got) != 0 {
		t.Fatalf("recorded from a refused body: %+v", rec.got)
	}
}

// attackSeeds are the inputs this decoder was hardened against.
var attackSeeds = []string{
	`{"payment_id":"p5","account_id":"a1","amount":"1e30","currency":"MXN"}`,
	`{"payment_id":"payments","account_id":"a1","amount":"1","currency":"MXN"}`,
	`{"payment_id":"x","account_id":"a1","amount":"0.001","currency":"MXN"}`,
	`{"payment_id":"x","account_id":"a1","amount":"1","currency":"$$$"}`,
	`{"payment_id":"x","account_id":"a1","amount":"1","currency":"MXN","paid_at":"0001-01-01T00:00:00Z"}`,
	`{"payment_id":"x","account_id":"a1","amount":"1","currency":"MXN","paid_at":"9999-12-31T23:59:59Z"}`,
	`{"payment_id":"x","account_id":"a1","amount":1e999999,"currency":"MXN"}`,
	`{"payment_id":"x","account_id":"a1","amount":"-1e-999","currency":"MXN"}`,
	`[{"payment_id":"a","account_id":"b","amount":1,"currency":"USD"}] trailing`,
	`{"payments":[{"payment_id":"a","account_id":"b","amount":1,"currency":"USD"}],"payments":5}`,
	`{"payments":[{}],"x":1}`,
	`[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]`,
	"{\"payment_id\":\"\x00\u202e\",\"account_id\":\"a\",\"amount\":\"1\",\"currency\":\"MXN\"}",
}

// FuzzDecodePayments: whatever the body, the decoder answers an error or
// payments each either refused with a reason or fit for the ledger.
func FuzzDecodePayments(f *testing.F) {
	for _, s := range attackSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		raw, err := decodePayments([]byte(body))
		if err != nil {
			return
		}
		if len(raw) == 0 {
			t.Fatal("no error and no payments")
		}
		for _, m := range raw {
			if !json.Valid(m) {
				t.Fatalf("invalid element %q", m)
			}
			p, err := decodePayment(m, now)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				continue
			}
			row := analytics.Payment{PaymentID: p.ID, CampaignID: p.Campaign, AccountID: p.Account, PaidAt: now, Amount: p.Amount,
				Currency: p.Currency, Method: p.Method, Reference: p.Reference}
			if !p.PaidAt.IsZero() {
				row.PaidAt = p.PaidAt
			}
			if err := row.Validate(); err != nil {
				t.Fatalf("accepted a payment the ledger refuses: %v", err)
			}
			if !p.Amount.IsPositive() {
				t.Fatalf("accepted amount %s", p.Amount)
			}
		}
	})
}
