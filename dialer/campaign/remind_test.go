package campaign

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/promise"
)

// The runner is the ledger's reminder: one promise-reminder text per
// promise, with its amount and date and the campaign's signed payment link.
func TestRemindQueuesOneTextPerPromise(t *testing.T) {
	t.Parallel()
	var got []SMSRequest
	r := New(Options{Signer: paylink.Signer{Key: []byte("0123456789abcdef"), TTL: time.Hour},
		SendSMS: func(_ context.Context, m SMSRequest) error { got = append(got, m); return nil }})
	defer r.Close()
	p := promise.Record{ID: "pr1", Campaign: "c1", Account: "a1", Amount: decimal.RequireFromString("250.50"), Currency: "MXN",
		Due: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
	c := queue.Campaign{ID: "c1", PayURL: "https://pay.example/{token}"}
	if err := r.Remind(context.Background(), p, c, queue.Account{ID: "a1"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("texts %+v", got)
	}
	m := got[0]
	if m.Key != "promise-reminder/pr1" || m.Template != "promise-reminder" || m.Channel != analytics.SMS || m.Campaign != "c1" ||
		m.Account != "a1" || !strings.HasPrefix(m.Link, "https://pay.example/") {
		t.Errorf("text %+v", m)
	}
	if v := m.Vars; v["PromiseAmount"] != "250.5" || v["PromiseCurrency"] != "MXN" || v["PromiseDate"] != "2026-12-08" {
		t.Errorf("vars %v", v)
	}
}
