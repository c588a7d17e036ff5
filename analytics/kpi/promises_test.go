package kpi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
)

// Every hand-computed case of kpitest/promises.json comes out as written:
// from the roll-up, from the raw tables, and from kpi.Settle (the rule the
// follow-up job applies).
func TestPromiseCases(t *testing.T) {
	fx := kpitest.PromiseCases()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	rows, terms, pays := kpitest.PromiseRows(t)
	kpitest.Insert(t, conn, db, rows...)
	kpitest.Insert(t, conn, db, rows...) // a replayed batch changes nothing
	k, err := kpi.New(conn, db, kpi.Options{Now: func() time.Time { return fx.Now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := map[string]map[string]kpi.Outcome{"go": kpi.Settle(terms, pays, fx.Now)}
	for _, src := range []kpi.Source{kpi.Rollup, kpi.Raw} {
		if got[src.String()], err = k.PromiseOutcomes(ctx, src); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range fx.Cases {
		for id, want := range c.Expect {
			for how, outs := range got {
				o, ok := outs[id]
				if !ok && want.Status == kpi.StatusCancelled && how == "go" {
					continue
				}
				if !ok || o.Status != want.Status || (o.Status != kpi.StatusCancelled && !o.Received.Equal(want.Received)) {
					t.Errorf("%s: %s (%s): got %s received %s, want %s received %s", c.Name, id, how, o.Status, o.Received,
						want.Status, want.Received)
				}
			}
		}
	}
}

// Random accounts: the SQL's allocation and kpi.Settle agree on every
// promise (many promises and payments per account, several currencies,
// payments before, during and after the promises' windows).
func TestPromiseRuleSQLAgreesWithGo(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	r := rand.New(rand.NewPCG(7, 16))
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var rows []analytics.Row
	var terms []kpi.PromiseTerms
	var pays []kpi.PaymentIn
	curs := []string{"MXN", "COP"}
	for a := range 300 {
		acct := fmt.Sprintf("r%03d", a)
		for i := range 1 + r.IntN(6) {
			created := t0.Add(time.Duration(r.IntN(50*24)) * time.Hour)
			due := created.AddDate(0, 0, r.IntN(15)).Truncate(24 * time.Hour)
			p := kpi.PromiseTerms{ID: fmt.Sprintf("%s-p%d", acct, i), Account: acct, Currency: curs[r.IntN(2)], Created: created,
				Due: due, GraceDays: r.IntN(4), KeepPercent: []int{0, 0, 80, 100}[r.IntN(4)],
				Amount: decimal.New(int64(1000+r.IntN(100000)), -2), Cancelled: r.IntN(15) == 0}
			status := "open"
			if p.Cancelled {
				status = "cancelled"
			}
			terms = append(terms, p)
			rows = append(rows, &analytics.Promise{PromiseID: p.ID, CampaignID: "rnd", AccountID: acct, Channel: analytics.PromiseAgent,
				CreatedAt: created, DueDate: due, Amount: p.Amount, Currency: p.Currency, Status: status, Ver: 1,
				GraceDays: uint8(p.GraceDays), KeepPercent: uint8(p.KeepPercent)})
		}
		for i := range r.IntN(7) {
			y := kpi.PaymentIn{ID: fmt.Sprintf("%s-y%d", acct, i), Account: acct, Currency: curs[r.IntN(2)],
				PaidAt: t0.Add(time.Duration(r.IntN(60*24*60)) * time.Minute), Amount: decimal.New(int64(500+r.IntN(80000)), -2)}
			pays = append(pays, y)
			rows = append(rows, &analytics.Payment{PaymentID: y.ID, AccountID: acct, PaidAt: y.PaidAt, Amount: y.Amount,
				Currency: y.Currency, Ver: 1})
		}
	}
	kpitest.Insert(t, conn, db, rows...)
	k, err := kpi.New(conn, db, kpi.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	want := kpi.Settle(terms, pays, now)
	got, err := k.PromiseOutcomes(context.Background(), kpi.Rollup)
	if err != nil {
		t.Fatal(err)
	}
	kept, partial := 0, 0
	for id, w := range want {
		if w.Status == kpi.StatusBroken && w.Received.IsPositive() {
			partial++
		}
		g := got[id]
		if g.Status != w.Status || (w.Status != kpi.StatusCancelled && !g.Received.Equal(w.Received)) {
			t.Errorf("%s: SQL %s %s, Go %s %s", id, g.Status, g.Received, w.Status, w.Received)
		}
		if w.Status == kpi.StatusKept {
			kept++
		}
	}
	if kept == 0 || kept == len(want) || partial == 0 {
		t.Fatalf("%d of %d kept, %d broken part paid: the data does not exercise the rule", kept, len(want), partial)
	}
	t.Logf("%d promises: %d kept, %d broken with a part paid", len(want), kept, partial)
}
