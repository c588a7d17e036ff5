package promise

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// clock is a test's settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// ruleEvent is one thing that happens to a case's account, at its time.
type ruleEvent struct {
	at      time.Time
	payment bool // payments after promises made at the same instant
	do      func() error
}

// Every hand-computed case of kpitest/promises.json, driven through the
// ledger as the product drives it: each promise captured when it was made,
// each payment recorded when it was paid, a follow-up after every event
// and at the fixture's now. Each promise's status, as the ledger and its
// last row in ClickHouse say, is the KPI SQL's judgement of the same rows
// (roll-up and raw), and the case's; what it received is the case's too.
// Every kept or broken row carries the columns of the open row.
func TestFollowUpAgreesWithTheKPIRule(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	fx := kpitest.PromiseCases()
	clk := &clock{}
	l := h.newLedger(t, with{now: clk.now})
	campaign := redistest.CampaignID(t, h.rdb)
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: campaign, Country: "MX", Currency: "MXN", TimeZone: "America/Mexico_City"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano()
	var events []ruleEvent
	judged := 0
	for i, c := range fx.Cases {
		cancelled := false
		for _, p := range c.Promises {
			cancelled = cancelled || p.Status == kpi.StatusCancelled
		}
		if cancelled {
			t.Logf("case %q: skipped: nothing in the product cancels a promise (analytics/kpi's tests hold it)", c.Name)
			continue
		}
		judged++
		acct := fmt.Sprintf("RULE-%d-%02d", run, i)
		if _, err := h.store.Load(ctx, campaign, []queue.Account{{ID: acct, Country: "MX", Phones: []queue.Phone{{Number: "+525512349993"}},
			Balance: decimal.NewFromInt(900), Currency: "MXN", Segment: "early"}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Promises {
			due, err := time.Parse(time.DateOnly, p.Due)
			if err != nil {
				t.Fatal(err)
			}
			rec := Record{ID: p.ID, Campaign: campaign, Account: acct, Attempt: "att-" + p.ID, Channel: analytics.PromiseAgent,
				Amount: p.Amount, Currency: p.Currency, Due: due, Grace: p.GraceDays, KeepPercent: p.KeepPercent, Country: "MX",
				Segment: "early", Agent: "ag-" + p.ID, Created: p.Created}
			events = append(events, ruleEvent{at: p.Created, do: func() error { _, err := l.Capture(ctx, rec); return err }})
		}
		for _, y := range c.Payments {
			pay := Payment{ID: acct + "-" + y.ID, Account: acct, Amount: y.Amount, Currency: y.Currency, PaidAt: y.PaidAt, Method: "link"}
			events = append(events, ruleEvent{at: y.PaidAt, payment: true, do: func() error { _, err := l.RecordPayment(ctx, pay); return err }})
		}
	}
	slices.SortStableFunc(events, func(a, b ruleEvent) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(b2i(a.payment), b2i(b.payment)))
	})
	for _, e := range events {
		clk.set(e.at)
		if err := e.do(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.FollowUp(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	clk.set(fx.Now)
	if _, _, err := l.FollowUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	k, err := kpi.New(h.conn, h.db, kpi.Options{Now: func() time.Time { return fx.Now }})
	if err != nil {
		t.Fatal(err)
	}
	sql := map[kpi.Source]map[string]kpi.Outcome{}
	for _, src := range []kpi.Source{kpi.Rollup, kpi.Raw} {
		if sql[src], err = k.PromiseOutcomes(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	rows := promiseRowStatus(t, h)
	checked := 0
	for _, c := range fx.Cases {
		for id, want := range c.Expect {
			if want.Status == kpi.StatusCancelled {
				continue
			}
			checked++
			rec, err := l.get(ctx, id)
			if err != nil {
				t.Errorf("%s: %s: record: %v", c.Name, id, err)
				continue
			}
			ledger := map[string]string{Open: kpi.StatusPending, Kept: kpi.StatusKept, Broken: kpi.StatusBroken}[rec.status()]
			row := map[string]string{Open: kpi.StatusPending, Kept: kpi.StatusKept, Broken: kpi.StatusBroken}[rows[id]]
			if ledger != want.Status || row != want.Status || !rec.Paid.Equal(want.Received) {
				t.Errorf("%s: %s: follow-up says %s (row %q) received %s, want %s received %s", c.Name, id, ledger, rows[id],
					rec.Paid, want.Status, want.Received)
			}
			for src, outs := range sql {
				if o := outs[id]; o.Status != ledger {
					t.Errorf("%s: %s: KPI SQL (%s) says %s, the follow-up %s", c.Name, id, src, o.Status, ledger)
				}
			}
		}
	}
	if judged < 16 || checked < 20 {
		t.Fatalf("%d cases, %d promises checked: the fixture did not load", judged, checked)
	}
	var changed []string
	if err := queryStrings(ctx, h, &changed, "SELECT promise_id FROM "+h.db+".promises GROUP BY promise_id "+
		"HAVING uniqExact(campaign_id, account_id, attempt_id, channel, created_at, due_date, amount, currency, node_id, "+
		"grace_days, keep_percent, country, segment, agent_id) > 1"); err != nil || len(changed) > 0 {
		t.Errorf("status rows whose columns differ from the open row: %q %v", changed, err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// promiseRowStatus is each promise's status in its newest row.
func promiseRowStatus(t *testing.T, h *harness) map[string]string {
	t.Helper()
	rows, err := h.conn.Query(context.Background(), "SELECT promise_id, argMax(status, ver) FROM "+h.db+".promises GROUP BY promise_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			t.Fatal(err)
		}
		out[id] = st
	}
	return out
}

func queryStrings(ctx context.Context, h *harness, out *[]string, q string, args ...any) error {
	rows, err := h.conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	return rows.Err()
}

// A payment recorded after the follow-up broke a promise, but paid before
// its deadline, counts as the KPIs count it: the promise is kept (a kept
// row, ver 3, replaces the broken one) and the SQL agrees. Once History has
// passed the account's promises and payments are dropped.
func TestPaymentRecordedLateKeepsABrokenPromise(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	clk := &clock{}
	l := h.newLedger(t, with{now: clk.now})
	c, acct := h.campaignWith(t, "LATE")
	created, due := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	clk.set(created)
	id := acct + "-p"
	if _, err := l.Capture(ctx, Record{ID: id, Campaign: c, Account: acct, Amount: decimal.NewFromInt(100), Currency: "MXN", Due: due,
		Created: created}); err != nil {
		t.Fatal(err)
	}
	clk.set(time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)) // the deadline: 00:00 of the 8th (due + 2 grace days + 1)
	if _, broken, err := l.FollowUp(ctx, nil); err != nil || broken != 1 {
		t.Fatalf("follow-up at the deadline: broken %d %v", broken, err)
	}
	clk.set(time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC))
	pay := Payment{ID: acct + "-y", Account: acct, Amount: decimal.NewFromInt(100), Currency: "MXN",
		PaidAt: time.Date(2026, 3, 7, 23, 0, 0, 0, time.UTC)}
	t.Cleanup(func() { h.rdb.Del(context.Background(), seenKey("payment", pay.ID)) })
	if res, err := l.RecordPayment(ctx, pay); err != nil || len(res.Kept) != 1 || res.Kept[0] != id {
		t.Fatalf("payment recorded late: %+v %v", res, err)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var status string
	var ver uint64
	if err := h.conn.QueryRow(ctx, "SELECT status, ver FROM "+h.db+".promises FINAL WHERE promise_id = ?", id).Scan(&status, &ver); err != nil ||
		status != Kept || ver != 3 {
		t.Errorf("newest row: %s ver %d %v, want kept ver 3", status, ver, err)
	}
	k, err := kpi.New(h.conn, h.db, kpi.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if outs, err := k.PromiseOutcomes(ctx, kpi.Raw); err != nil || outs[id].Status != kpi.StatusKept {
		t.Errorf("KPI SQL: %+v %v, want kept", outs[id], err)
	}

	clk.set(clk.now().Add(l.opt.History + time.Minute)) // History after the last judgement
	if _, _, err := l.FollowUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.get(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("promise kept after History: %v", err)
	}
	if n, err := h.rdb.Exists(ctx, l.keys.account+acct, l.keys.payments+acct).Result(); err != nil || n != 0 {
		t.Errorf("account's history kept after History: %d %v", n, err)
	}
}
