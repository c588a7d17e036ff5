package promise

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
	"github.com/marcador/marcador/queue/redistest"
)

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

// twoPromises captures a 300 and a 500 promise for a new account and returns
// the campaign and account.
func (h *harness) twoPromises(t *testing.T, l *Ledger, prefix string) (campaign, account string) {
	t.Helper()
	campaign, account = h.campaignWith(t, prefix)
	for i, amt := range []int64{300, 500} {
		if _, err := l.Capture(context.Background(), Record{ID: fmt.Sprintf("%s-p%d", account, i), Campaign: campaign, Account: account,
			Amount: decimal.NewFromInt(amt), Currency: "MXN", Due: time.Date(2026, 12, 20+i, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	return campaign, account
}

// A payment that fails before the ledger keeps it is forgotten, so the
// same payment sent again is applied; when even forgetting it fails, the
// ERROR line names the payment and the key that holds it (the failure used
// to be dropped: the retry was answered as a duplicate with no trace why).
func TestFailedPaymentIsForgottenOrLogged(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	rdb, f := faultyClient(t)
	var log logs
	l := h.newLedger(t, with{redis: rdb, log: &log})
	_, acct := h.twoPromises(t, l, "FGT")
	pay := Payment{ID: acct + "-pay", Account: acct, Amount: decimal.NewFromInt(300), Currency: "MXN"}
	t.Cleanup(func() { h.rdb.Del(context.Background(), seenKey("payment", pay.ID)) })

	f.failOn(failing("hset", l.keys.payments))
	if _, err := l.RecordPayment(ctx, pay); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), pay.ID) {
		t.Fatalf("failed payment: %v", err)
	}
	f.failOn(nil)
	if res, err := l.RecordPayment(ctx, pay); err != nil || res.Duplicate || len(res.Kept) != 1 {
		t.Fatalf("the same payment again after a failure: %+v %v", res, err)
	}

	again := Payment{ID: acct + "-pay2", Account: acct, Amount: decimal.NewFromInt(500), Currency: "MXN"}
	t.Cleanup(func() { h.rdb.Del(context.Background(), seenKey("payment", again.ID)) })
	keep, del := failing("hset", l.keys.payments), failing("del", seenKey("payment", again.ID))
	f.failOn(func(n string, args []any) bool { return keep(n, args) || del(n, args) })
	if _, err := l.RecordPayment(ctx, again); !errors.Is(err, errInjected) {
		t.Fatalf("failed payment: %v", err)
	}
	if log.line("level=ERROR", "payment="+again.ID, "still marked seen", "amount=500", seenKey("payment", again.ID)) == "" {
		t.Errorf("a payment id that could not be forgotten was not logged with the payment:\n%s", log.String())
	}
}

// A payment kept whose judgement fails mid-way (the first promise's kept
// row written, no record saved) is not forgotten: sent again it is a
// duplicate, not a second payment. The error and an ERROR line name it; the
// next follow-up finishes the judgement: the first promise kept, the
// second paid 100, the kept and payment rows read back once each.
func TestPaymentAppliedInPartIsNotAppliedTwice(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	rdb, f := faultyClient(t)
	var log logs
	l := h.newLedger(t, with{redis: rdb, log: &log})
	_, acct := h.twoPromises(t, l, "PART")
	pay := Payment{ID: acct + "-pay", Account: acct, Amount: decimal.NewFromInt(400), Currency: "MXN"}
	t.Cleanup(func() { h.rdb.Del(context.Background(), seenKey("payment", pay.ID)) })

	f.failOn(func(n string, args []any) bool { return n == "hset" && len(args) > 1 && args[1] == l.keys.all }) // no promise record can be saved
	res, err := l.RecordPayment(ctx, pay)
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), pay.ID) || len(res.Kept) != 0 {
		t.Fatalf("payment judged in part: %+v %v", res, err)
	}
	f.failOn(nil)
	if res, err := l.RecordPayment(ctx, pay); err != nil || !res.Duplicate {
		t.Fatalf("the same payment again: %+v %v, want a duplicate", res, err)
	}
	if log.line("level=ERROR", "payment="+pay.ID, "not all judged") == "" {
		t.Errorf("payment judged in part not logged with the payment:\n%s", log.String())
	}
	if _, _, err := l.FollowUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := l.get(ctx, acct+"-p0"); err != nil || p.Status != Kept {
		t.Errorf("first promise after the follow-up: %+v %v, want kept", p, err)
	}
	if p, err := l.get(ctx, acct+"-p1"); err != nil || p.Status != Open || !p.Paid.Equal(decimal.NewFromInt(100)) {
		t.Errorf("second promise after the follow-up: %s paid %s %v, want open with 100 (the payment counted once)", p.Status, p.Paid, err)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var kept, payments uint64
	if err := h.conn.QueryRow(ctx, "SELECT count() FROM "+h.db+".promises FINAL WHERE account_id = ? AND status = 'kept'", acct).
		Scan(&kept); err != nil || kept != 1 {
		t.Errorf("kept rows %d %v, want 1", kept, err)
	}
	if err := h.conn.QueryRow(ctx, "SELECT count() FROM "+h.db+".payments FINAL WHERE payment_id = ?", pay.ID).
		Scan(&payments); err != nil || payments != 1 {
		t.Errorf("payment rows %d %v, want 1", payments, err)
	}
}

// A payment applied whose rows the writer refuses is an error naming it,
// and an ERROR line holds what is needed to record it again by hand (the
// amount, the currency); the kept row is written by the next follow-up.
func TestPaymentRowsRefusedAreLogged(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var log logs
	w := &refusing{w: h.w}
	l := h.newLedger(t, with{writer: w, log: &log})
	_, acct := h.twoPromises(t, l, "ROWS")
	pay := Payment{ID: acct + "-pay", Account: acct, Amount: decimal.NewFromInt(300), Currency: "MXN", Method: "link"}
	t.Cleanup(func() { h.rdb.Del(context.Background(), seenKey("payment", pay.ID)) })
	w.set(true)
	if _, err := l.RecordPayment(ctx, pay); err == nil || !strings.Contains(err.Error(), pay.ID) || !strings.Contains(err.Error(), "spool full") {
		t.Fatalf("payment with its rows refused: %v", err)
	}
	if log.line("level=ERROR", "payment="+pay.ID, "row not written", "amount=300", "currency=MXN") == "" {
		t.Errorf("refused rows not logged with the payment:\n%s", log.String())
	}
}
