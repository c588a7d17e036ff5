package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/marcador/marcador/dialer/campaign"
)

// Payments records payments (dialer/campaign.Runner).
type Payments interface {
	RecordPayment(ctx context.Context, p campaign.Payment) (campaign.PaymentResult, error)
}

// PaymentsResult answers POST /api/v1/payments.
type PaymentsResult struct {
	Received int                      `json:"received"`
	Recorded int                      `json:"recorded"`
	Results  []campaign.PaymentResult `json:"results"`
	Errors   []PaymentError           `json:"errors"`
}

// PaymentError is one payment that was not recorded.
type PaymentError struct {
	Index int    `json:"index"` // 0-based position in the request
	Error string `json:"error"`
}

// postPayments takes POST /api/v1/payments: one payment object, an array of
// them, or {"payments":[...]}. Each is recorded on its own: a bad one is
// reported and the rest go through; a payment_id seen before is answered
// as a duplicate and changes nothing.
func (a *API) postPayments(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opt.MaxUpload))
	if err != nil {
		bodyError(w, "payments body", err)
		return
	}
	var raw []json.RawMessage
	switch t := bytes.TrimSpace(body); {
	case len(t) > 0 && t[0] == '[':
		err = json.Unmarshal(t, &raw)
	case bytes.Contains(t, []byte(`"payments"`)):
		var doc struct {
			Payments []json.RawMessage `json:"payments"`
		}
		err = json.Unmarshal(t, &doc)
		raw = doc.Payments
	default:
		raw = []json.RawMessage{t}
	}
	if err != nil {
		bodyError(w, "payments body", err)
		return
	}
	res := PaymentsResult{Received: len(raw), Results: []campaign.PaymentResult{}, Errors: []PaymentError{}}
	for i, m := range raw {
		var p campaign.Payment
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			res.Errors = append(res.Errors, PaymentError{Index: i, Error: fmt.Sprintf("payment %d: %v", i, err)})
			continue
		}
		out, err := a.opt.Payments.RecordPayment(r.Context(), p)
		if err != nil {
			res.Errors = append(res.Errors, PaymentError{Index: i, Error: err.Error()})
			continue
		}
		res.Recorded++
		res.Results = append(res.Results, out)
	}
	code := http.StatusOK
	if res.Recorded == 0 && len(res.Errors) > 0 {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, res)
}
