package kpi

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"
)

// The promise-kept rule (README "Promise kept"), in Go: what the SQL of
// the roll-up computes, stated as the sequence of events it describes, for
// the follow-up job that writes kept and broken rows as they happen. The
// two are tested against each other and against the hand-computed cases
// of kpitest/promises.json.

// Promise statuses as the KPIs judge them.
const (
	StatusPending   = "pending"
	StatusKept      = "kept"
	StatusBroken    = "broken"
	StatusCancelled = "cancelled"
)

// DefaultGraceDays and DefaultKeepPercent are a promise's rules when its
// row says 0.
const (
	DefaultGraceDays   = 2
	DefaultKeepPercent = 100
)

// PromiseTerms is a promise as the rule reads it.
type PromiseTerms struct {
	ID          string
	Account     string
	Currency    string
	Created     time.Time
	Due         time.Time // a calendar date (its year, month and day are read in UTC)
	GraceDays   int       // 0: DefaultGraceDays
	KeepPercent int       // 0: DefaultKeepPercent
	Amount      decimal.Decimal
	Cancelled   bool
}

// Deadline is when the promise stops taking payments: the start (00:00
// UTC) of the day after its due date plus grace days.
func (p PromiseTerms) Deadline() time.Time {
	g := p.GraceDays
	if g == 0 {
		g = DefaultGraceDays
	}
	d := p.Due.UTC()
	return time.Date(d.Year(), d.Month(), d.Day()+g+1, 0, 0, 0, 0, time.UTC)
}

func (p PromiseTerms) keepPercent() int64 {
	if p.KeepPercent == 0 {
		return DefaultKeepPercent
	}
	return int64(p.KeepPercent)
}

// PaymentIn is a payment as the rule reads it.
type PaymentIn struct {
	ID       string
	Account  string
	Currency string
	PaidAt   time.Time
	Amount   decimal.Decimal
}

// Outcome is what became of a promise at some instant.
type Outcome struct {
	Received decimal.Decimal // payments applied to it before its deadline (at most its amount)
	Kept     bool            // Received reached its keep percent of the amount
	Status   string          // pending, kept, broken, cancelled
	Deadline time.Time
}

// Settle applies payments to promises as the rule says and judges each
// promise at now. Payments are taken in order of paid_at (then id); each
// goes to its account's open promises in its currency, oldest first
// (created, then id): a promise is open from its creation until it is
// paid in full or its deadline passes. A payment made when none is open
// pays no promise.
func Settle(promises []PromiseTerms, payments []PaymentIn, now time.Time) map[string]Outcome {
	type key struct{ account, currency string }
	byKey := map[key][]*PromiseTerms{}
	for i := range promises {
		p := &promises[i]
		if !p.Cancelled {
			byKey[key{p.Account, p.Currency}] = append(byKey[key{p.Account, p.Currency}], p)
		}
	}
	for _, ps := range byKey {
		slices.SortFunc(ps, func(a, b *PromiseTerms) int {
			return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
		})
	}
	pays := slices.Clone(payments)
	slices.SortFunc(pays, func(a, b PaymentIn) int { return cmp.Or(a.PaidAt.Compare(b.PaidAt), cmp.Compare(a.ID, b.ID)) })
	received := map[string]decimal.Decimal{}
	for _, y := range pays {
		left := y.Amount
		for _, p := range byKey[key{y.Account, y.Currency}] {
			if !left.IsPositive() {
				break
			}
			// Second precision, as ClickHouse's DateTime holds them.
			at := y.PaidAt.Truncate(time.Second)
			owed := p.Amount.Sub(received[p.ID])
			if at.Before(p.Created.Truncate(time.Second)) || !at.Before(p.Deadline()) || !owed.IsPositive() {
				continue
			}
			take := decimal.Min(owed, left)
			received[p.ID] = received[p.ID].Add(take)
			left = left.Sub(take)
		}
	}
	out := make(map[string]Outcome, len(promises))
	for _, p := range promises {
		o := Outcome{Received: received[p.ID], Deadline: p.Deadline()}
		switch {
		case p.Cancelled:
			o.Status = StatusCancelled
		case o.Received.Mul(decimal.NewFromInt(100)).GreaterThanOrEqual(p.Amount.Mul(decimal.NewFromInt(p.keepPercent()))):
			o.Kept, o.Status = true, StatusKept
		case !now.Before(o.Deadline):
			o.Status = StatusBroken
		default:
			o.Status = StatusPending
		}
		out[p.ID] = o
	}
	return out
}

// PromiseOutcomes reads what became of every promise (roll-up: refreshed
// first; raw: computed from promises and payments), judged at the
// clock's now, by promise id.
func (k *KPI) PromiseOutcomes(ctx context.Context, src Source) (map[string]Outcome, error) {
	from := k.db + ".kpi_promises WHERE " + k.accountVersions()
	if src == Raw {
		d, err := k.depth(ctx, rawPromises(k.db))
		if err != nil {
			return nil, err
		}
		from = "(" + promiseOutcomes(rawPromises(k.db), rawPayments(k.db), max(d, 1)) + " UNION ALL " +
			cancelledPromises(rawPromises(k.db)) + ")"
	} else if _, err := k.Refresh(ctx, RefreshScope{}); err != nil {
		return nil, err
	}
	now := k.opt.Now()
	out := map[string]Outcome{}
	err := k.query(ctx, "promise outcomes", "SELECT promise_id, received, kept, cancelled, deadline FROM "+from, nil,
		func(r driver.Rows) error {
			var id string
			var o Outcome
			var kept, cancelled uint8
			if err := r.Scan(&id, &o.Received, &kept, &cancelled, &o.Deadline); err != nil {
				return err
			}
			o.Kept = kept == 1
			switch {
			case cancelled == 1:
				o.Status = StatusCancelled
			case o.Kept:
				o.Status = StatusKept
			case !now.Before(o.Deadline):
				o.Status = StatusBroken
			default:
				o.Status = StatusPending
			}
			out[id] = o
			return nil
		})
	return out, err
}
