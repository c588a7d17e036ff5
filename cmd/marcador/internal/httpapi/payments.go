package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue/promise"
)

// Payments records payments (queue/promise.Ledger).
type Payments interface {
	RecordPayment(ctx context.Context, p promise.Payment) (promise.PaymentResult, error)
}

// PaymentsResult answers POST /api/v1/payments.
type PaymentsResult struct {
	Received int                     `json:"received"`
	Recorded int                     `json:"recorded"`
	Results  []promise.PaymentResult `json:"results"`
	Errors   []PaymentError          `json:"errors"`
}

// PaymentError is one payment that was not recorded.
type PaymentError struct {
	Index int    `json:"index"` // 0-based position in the request
	Field string `json:"field"` // the JSON field at fault, "" when it is not one field's
	Error string `json:"error"`
}

// postPayments takes POST /api/v1/payments: one payment object, an array of
// them, or {"payments":[...]}. Each is recorded on its own: a bad one is
// reported with its field and the rest go through; a payment_id seen before
// is answered as a duplicate and changes nothing.
func (a *API) postPayments(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opt.MaxUpload))
	if err != nil {
		bodyError(w, "payments body", err)
		return
	}
	raw, err := decodePayments(body)
	if err != nil {
		bodyError(w, "payments body", err)
		return
	}
	now := a.opt.Now()
	res := PaymentsResult{Received: len(raw), Results: []promise.PaymentResult{}, Errors: []PaymentError{}}
	ours := false // a failure of ours (Redis, the spool), not of the request
	for i, m := range raw {
		p, err := decodePayment(m, now)
		if err == nil {
			var out promise.PaymentResult
			if out, err = a.opt.Payments.RecordPayment(r.Context(), p); err == nil {
				res.Recorded++
				res.Results = append(res.Results, out)
				continue
			}
			if analytics.FieldOf(err) == "" {
				ours = true
				a.log.Error("api: payment not recorded", "index", i, "payment", p.ID, "err", err)
			}
		}
		res.Errors = append(res.Errors, PaymentError{Index: i, Field: analytics.FieldOf(err), Error: err.Error()})
	}
	code := http.StatusOK
	switch {
	case res.Recorded > 0:
	case ours:
		code = http.StatusServiceUnavailable
	case len(res.Errors) > 0:
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, res)
}

// decodePayments splits a payments body into its payments: one JSON object,
// an array of them, or an object whose only key is "payments" holding an
// array. The shape is read from the JSON, never guessed from its text, and
// anything after the JSON value is an error.
func decodePayments(body []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty: want a payment, an array of payments or {\"payments\":[...]}")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the JSON value at byte %d", dec.InputOffset())
	}
	var raw []json.RawMessage
	switch v[0] {
	case '[':
		if err := json.Unmarshal(v, &raw); err != nil {
			return nil, err
		}
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil {
			return nil, err
		}
		list, wrapped := obj["payments"]
		if !wrapped || len(obj) != 1 {
			return []json.RawMessage{v}, nil
		}
		if t := bytes.TrimSpace(list); len(t) == 0 || t[0] != '[' {
			return nil, errors.New(`"payments": want an array`)
		}
		if err := json.Unmarshal(list, &raw); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("want a payment object, an array of them, or {\"payments\":[...]}")
	}
	if len(raw) == 0 {
		return nil, errors.New("no payments")
	}
	return raw, nil
}

// paymentJSON is a payment as sent; amount and paid_at are read by hand so
// their errors name them.
type paymentJSON struct {
	ID        string          `json:"payment_id"`
	Campaign  string          `json:"campaign_id"`
	Account   string          `json:"account_id"`
	Amount    json.RawMessage `json:"amount"`
	Currency  string          `json:"currency"`
	PaidAt    json.RawMessage `json:"paid_at"`
	Method    string          `json:"method"`
	Reference string          `json:"reference"`
}

// decodePayment reads one payment and checks it at now; the error names the
// field (analytics.FieldOf).
func decodePayment(m json.RawMessage, now time.Time) (promise.Payment, error) {
	var in paymentJSON
	var p promise.Payment
	dec := json.NewDecoder(bytes.NewReader(m))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return p, fieldError(te.Field, "want a %s, not a JSON %s", te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return p, fieldError(f, "unknown field")
		}
		return p, fmt.Errorf("not a payment object: %w", err)
	}
	p = promise.Payment{ID: in.ID, Campaign: in.Campaign, Account: in.Account, Currency: strings.ToUpper(in.Currency),
		Method: in.Method, Reference: in.Reference}
	amt, err := decodeAmount(in.Amount)
	if err != nil {
		return p, err
	}
	p.Amount = amt
	if len(in.PaidAt) > 0 && string(in.PaidAt) != "null" {
		var s string
		if json.Unmarshal(in.PaidAt, &s) != nil {
			return p, fieldError("paid_at", "want an RFC 3339 time string, e.g. 2026-11-20T15:04:05-06:00")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return p, fieldError("paid_at", "%q: want RFC 3339, e.g. 2026-11-20T15:04:05-06:00", clipped(s))
		}
		// An explicit time is checked even when it is Go's zero time
		// (0001-01-01T00:00:00Z), which a Payment would read as "now".
		if err := promise.CheckPaidAt(t, now); err != nil {
			return p, err
		}
		p.PaidAt = t
	}
	return p, p.Validate(now)
}

// decodeAmount reads a JSON number or a string holding one.
func decodeAmount(raw json.RawMessage) (decimal.Decimal, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return decimal.Decimal{}, fieldError("amount", "required")
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return decimal.Decimal{}, fieldError("amount", "not a string")
		}
	} else if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return decimal.Decimal{}, fieldError("amount", "want a number or a string holding one")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fieldError("amount", "%q is not a number", clipped(s))
	}
	return d, nil
}

func fieldError(field, format string, a ...any) error {
	return &analytics.FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

func clipped(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
