package campaign

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

func TestPaymentsKeepPromisesOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	acct := fmt.Sprint("PAY-", time.Now().UnixNano())
	due := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i, amt := range []string{"300", "500"} {
		if err := h.store.AddPromise(ctx, queue.PromiseRecord{ID: fmt.Sprintf("%s-p%d", acct, i), Campaign: id, Account: acct,
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
		if err := h.store.AddPromise(ctx, queue.PromiseRecord{ID: fmt.Sprintf("%s-p%d", acct, i), Campaign: id, Account: acct,
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
