package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/promise"
	"github.com/marcador/marcador/queue/redistest"
)

func TestPaymentsKeepPromisesOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	acct := fmt.Sprint("PAY-", time.Now().UnixNano())
	due := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i, amt := range []string{"300", "500"} {
		if err := promise.NewStore(h.rdb).AddPromise(ctx, promise.PromiseRecord{ID: fmt.Sprintf("%s-p%d", acct, i), Campaign: id, Account: acct,
			Attempt: fmt.Sprint("att-", i), Channel: "ivr", Amount: decimal.RequireFromString(amt), Currency: "MXN",
			Due: due.AddDate(0, 0, i), Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	r := New(Options{Store: h.store, Gate: h.gate, Writer: h.w, Node: "e2e"})
	defer r.Close()
	pay := func(pid, amt string) PaymentResult {
		t.Helper()
		res, err := r.RecordPayment(ctx, Payment{ID: pid, Account: acct, Amount: decimal.RequireFromString(amt), Currency: "MXN", Method: "link"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// 400 keeps the first (oldest due) promise and pays 100 of the second.
	if res := pay(acct+"-1", "400"); len(res.Kept) != 1 || res.Kept[0] != acct+"-p0" {
		t.Fatalf("first payment: %+v", res)
	}
	// The same payment again (a retried webhook) does nothing.
	if res := pay(acct+"-1", "400"); !res.Duplicate || len(res.Kept) != 0 {
		t.Fatalf("retried payment: %+v", res)
	}
	if res := pay(acct+"-2", "400"); len(res.Kept) != 1 || res.Kept[0] != acct+"-p1" {
		t.Fatalf("second payment: %+v", res)
	}
	if _, err := r.RecordPayment(ctx, Payment{ID: "x", Account: acct, Amount: decimal.Zero, Currency: "MXN"}); err == nil {
		t.Fatal("zero payment accepted")
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var kept, withAttempt, payments uint64
	var paid string
	if err := h.conn.QueryRow(ctx, "SELECT count(), countIf(attempt_id != '') FROM "+h.db+".promises FINAL WHERE account_id = ? AND status = 'kept'", acct).
		Scan(&kept, &withAttempt); err != nil || kept != 2 || withAttempt != 2 {
		t.Errorf("kept promise rows %d (%d with their attempt) %v", kept, withAttempt, err)
	}
	if err := h.conn.QueryRow(ctx, "SELECT count(), toString(sum(amount)) FROM "+h.db+".payments FINAL WHERE account_id = ?", acct).
		Scan(&payments, &paid); err != nil || payments != 2 || paid != "800.00" {
		t.Errorf("payments %d totalling %s, %v", payments, paid, err)
	}
}

// A promise not paid by its date plus grace days is broken: a broken row
// (keeping its attempt) and the account back at the front of its queue; a
// promise due tomorrow gets one reminder.
func TestFollowUpBreaksUnpaidPromises(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	acct := fmt.Sprint("FU-", time.Now().UnixNano())
	if _, err := h.store.Load(ctx, id, []queue.Account{{ID: acct, Country: "MX", Phones: []queue.Phone{{Number: "+525512349990"}},
		Balance: decimal.NewFromInt(900), Currency: "MXN"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Finish(ctx, id, acct, time.Now(), "promise"); err != nil {
		t.Fatal(err)
	}
	// Dates in the past of the real clock, so other tests' promises are not swept.
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	for i, due := range []time.Time{time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC)} {
		if err := promise.NewStore(h.rdb).AddPromise(ctx, promise.PromiseRecord{ID: fmt.Sprintf("%s-p%d", acct, i), Campaign: id, Account: acct,
			Attempt: fmt.Sprint("att-", i), Channel: "ivr", Amount: decimal.NewFromInt(300), Currency: "MXN", Due: due, Grace: 2,
			Created: due.AddDate(0, 0, -5)}); err != nil {
			t.Fatal(err)
		}
	}
	r := New(Options{Store: h.store, Gate: h.gate, Writer: h.w, Node: "e2e", Now: func() time.Time { return now }})
	defer r.Close()
	reminded, broken, err := r.FollowUpPromises(ctx)
	if err != nil || reminded != 1 || broken != 1 {
		t.Fatalf("follow-up: reminded %d broken %d %v", reminded, broken, err)
	}
	if reminded, broken, _ := r.FollowUpPromises(ctx); reminded != 0 || broken != 0 {
		t.Fatalf("second follow-up repeated work: %d %d", reminded, broken)
	}
	if n, _ := h.store.Counts(ctx, id, time.Now()); n.DueNow != 1 || n.Done != 0 {
		t.Errorf("broken promise's account not requeued: %+v", n)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var status, attempt string
	if err := h.conn.QueryRow(ctx, "SELECT status, attempt_id FROM "+h.db+".promises FINAL WHERE promise_id = ?", acct+"-p0").
		Scan(&status, &attempt); err != nil || status != "broken" || attempt != "att-0" {
		t.Errorf("broken row: %q %q %v", status, attempt, err)
	}
}

// A payment for an account no campaign holds is refused with the field, is
// not remembered as seen (it may be sent again once the account is loaded),
// and writes nothing.
func TestPaymentForUnknownAccount(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	acct := fmt.Sprint("UNK-", time.Now().UnixNano())
	r := New(Options{Store: h.store, Gate: h.gate, Writer: h.w, Node: "e2e"})
	defer r.Close()
	pay := Payment{ID: acct + "-pay", Account: acct, Amount: decimal.RequireFromString("10.00"), Currency: "MXN"}
	_, err := r.RecordPayment(ctx, pay)
	if !errors.Is(err, ErrUnknownAccount) || analytics.FieldOf(err) != "account_id" {
		t.Fatalf("unknown account: %v", err)
	}
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id, Country: "MX", Currency: "MXN", TimeZone: "America/Mexico_City"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	withCampaign := pay
	withCampaign.Campaign = id
	if _, err := r.RecordPayment(ctx, withCampaign); !errors.Is(err, ErrUnknownAccount) || !strings.Contains(err.Error(), id) {
		t.Fatalf("unknown account in a named campaign: %v", err)
	}
	if _, err := h.store.Load(ctx, id, []queue.Account{{ID: acct, Country: "MX", Phones: []queue.Phone{{Number: "+525512349991"}},
		Balance: decimal.NewFromInt(900), Currency: "MXN"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Payment{pay, withCampaign} {
		res, err := r.RecordPayment(ctx, p)
		if err != nil {
			t.Fatalf("known account: %v", err)
		}
		if p.Campaign != "" && !res.Duplicate {
			t.Fatal("the same payment id twice was not a duplicate")
		}
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := h.conn.QueryRow(ctx, "SELECT count() FROM "+h.db+".payments FINAL WHERE account_id = ?", acct).Scan(&n); err != nil || n != 1 {
		t.Fatalf("payment rows %d %v", n, err)
	}
}

// Out-of-range values are refused with their field before anything is
// written or remembered.
func TestPaymentValidate(t *testing.T) {
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	base := Payment{ID: "p", Account: "a", Amount: decimal.RequireFromString("10"), Currency: "MXN"}
	for name, c := range map[string]struct {
		mod   func(*Payment)
		field string
	}{
		"ok":             {func(*Payment) {}, ""},
		"ok paid 2000":   {func(p *Payment) { p.PaidAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }, ""},
		"ok paid +23h":   {func(p *Payment) { p.PaidAt = now.Add(23 * time.Hour) }, ""},
		"no id":          {func(p *Payment) { p.ID = "" }, "payment_id"},
		"no account":     {func(p *Payment) { p.Account = "" }, "account_id"},
		"zero":           {func(p *Payment) { p.Amount = decimal.Zero }, "amount"},
		"negative":       {func(p *Payment) { p.Amount = decimal.NewFromInt(-1) }, "amount"},
		"1e30":           {func(p *Payment) { p.Amount = decimal.RequireFromString("1e30") }, "amount"},
		"0.001":          {func(p *Payment) { p.Amount = decimal.RequireFromString("0.001") }, "amount"},
		"currency $$$":   {func(p *Payment) { p.Currency = "$$$" }, "currency"},
		"no currency":    {func(p *Payment) { p.Currency = "" }, "currency"},
		"paid 1999":      {func(p *Payment) { p.PaidAt = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC) }, "paid_at"},
		"paid +2 days":   {func(p *Payment) { p.PaidAt = now.Add(48 * time.Hour) }, "paid_at"},
		"bad campaign":   {func(p *Payment) { p.Campaign = "{x}" }, "campaign_id"},
		"long reference": {func(p *Payment) { p.Reference = strings.Repeat("r", 1000) }, "reference"},
	} {
		p := base
		c.mod(&p)
		if got := analytics.FieldOf(p.Validate(now)); got != c.field {
			t.Errorf("%s: field %q, want %q (%v)", name, got, c.field, p.Validate(now))
		}
	}
}
