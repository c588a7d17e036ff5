package promise

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/analytics/writer/writertest"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// harness is a ledger of its own on the dev Redis, writing to a ClickHouse
// database of its own.
type harness struct {
	rdb    redis.UniversalClient
	conn   driver.Conn
	db     string
	w      *writer.Writer
	store  *queue.Store
	ledger *Ledger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{rdb: redistest.Client(t), conn: chtest.Conn(t)}
	h.db = chtest.Database(t, h.conn)
	h.w = writertest.Start(t, h.conn, h.db)
	h.store = queue.New(queue.Options{Client: h.rdb, NodeID: "e2e"})
	h.ledger = h.newLedger(t, nil)
	return h
}

// newLedger is a ledger on keys no other test uses (deleted when the test
// ends), on the clock now (nil: time.Now).
func (h *harness) newLedger(t *testing.T, now func() time.Time) *Ledger {
	t.Helper()
	key := redistest.Key(t, h.rdb, promisesKey)
	t.Cleanup(func() {
		ctx := context.Background()
		kk := keysOf(key)
		h.rdb.Del(ctx, kk.due, kk.remind)
		iter := h.rdb.Scan(ctx, 0, kk.account+"*", 100).Iterator()
		for iter.Next(ctx) {
			h.rdb.Del(ctx, iter.Val())
		}
	})
	return New(Options{Redis: h.rdb, Store: h.store, Writer: h.w, Node: "e2e", Now: now, Key: key})
}

func TestPaymentsKeepPromisesOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	acct := fmt.Sprint("PAY-", time.Now().UnixNano())
	due := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for i, amt := range []string{"300", "500"} {
		if _, err := h.ledger.Capture(ctx, Record{ID: fmt.Sprintf("%s-p%d", acct, i), Campaign: id, Account: acct,
			Attempt: fmt.Sprint("att-", i), Channel: analytics.PromiseIVR, Amount: decimal.RequireFromString(amt), Currency: "MXN",
			Due: due.AddDate(0, 0, i), Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	r := h.ledger
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
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id, Country: "MX", Currency: "MXN", TimeZone: "America/Mexico_City"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Load(ctx, id, []queue.Account{{ID: acct, Country: "MX", Phones: []queue.Phone{{Number: "+525512349990"}},
		Balance: decimal.NewFromInt(900), Currency: "MXN"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Finish(ctx, id, acct, time.Now(), "promise"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	r := h.newLedger(t, func() time.Time { return now })
	for i, due := range []time.Time{time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC)} {
		if _, err := r.Capture(ctx, Record{ID: fmt.Sprintf("%s-p%d", acct, i), Campaign: id, Account: acct,
			Attempt: fmt.Sprint("att-", i), Channel: analytics.PromiseIVR, Amount: decimal.NewFromInt(300), Currency: "MXN", Due: due, Grace: 2,
			Created: due.AddDate(0, 0, -5)}); err != nil {
			t.Fatal(err)
		}
	}
	var rem reminders
	reminded, broken, err := r.FollowUp(ctx, &rem)
	if err != nil || reminded != 1 || broken != 1 {
		t.Fatalf("follow-up: reminded %d broken %d %v", reminded, broken, err)
	}
	if reminded, broken, _ := r.FollowUp(ctx, &rem); reminded != 0 || broken != 0 {
		t.Fatalf("second follow-up repeated work: %d %d", reminded, broken)
	}
	if len(rem.got) != 1 || rem.got[0] != acct+"-p1 "+id+" "+acct {
		t.Errorf("reminders sent %q, want the one for %s-p1 with its campaign and account", rem.got, acct)
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
	r := h.ledger
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

// reminders records the reminders a follow-up sends.
type reminders struct {
	mu  sync.Mutex
	got []string // promise campaign account
	err error    // what Remind answers
}

func (r *reminders) Remind(_ context.Context, p Record, c queue.Campaign, a queue.Account) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, p.ID+" "+c.ID+" "+a.ID)
	return r.err
}
