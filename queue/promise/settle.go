package promise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
)

// Promises are judged by kpi.Settle, the rule the KPIs compute in SQL
// (README "Promise kept"), over everything the ledger keeps of the account:
// its promises and its payments. So a payment pays promises in its own
// currency only, oldest made first, and only before their deadlines, and a
// payment recorded after one paid later is applied in order of paid_at, as
// the KPIs apply it. The ledger writes a row when a promise's status
// changes; what the KPIs read is the same rule over ClickHouse's rows.

// paid is a payment as the ledger keeps it for the rule.
type paid struct {
	ID       string          `json:"id"`
	Currency string          `json:"currency"`
	PaidAt   time.Time       `json:"paid_at"`
	Amount   decimal.Decimal `json:"amount"`
}

// lockTTL bounds how long one judgement of an account may hold its lock
// (a node that dies holding it delays the account's next one this much).
const lockTTL = 10 * time.Second

// keepPayment adds a payment to its account's history.
func (l *Ledger) keepPayment(ctx context.Context, y analytics.Payment) error {
	b, err := json.Marshal(paid{ID: y.PaymentID, Currency: y.Currency, PaidAt: y.PaidAt, Amount: y.Amount})
	if err == nil {
		err = l.rdb.HSet(ctx, l.keys.payments+y.AccountID, y.PaymentID, b).Err()
	}
	if err != nil {
		return fmt.Errorf("payment %s of account %s: keep: %w", y.PaymentID, y.AccountID, err)
	}
	return nil
}

// paymentsOf returns account's payments as the rule reads them; one that
// does not decode is logged and left out.
func (l *Ledger) paymentsOf(ctx context.Context, account string) ([]kpi.PaymentIn, error) {
	m, err := l.rdb.HGetAll(ctx, l.keys.payments+account).Result()
	if err != nil {
		return nil, fmt.Errorf("payments of account %s: %w", account, err)
	}
	out := make([]kpi.PaymentIn, 0, len(m))
	for id, v := range m {
		var y paid
		if err := json.Unmarshal([]byte(v), &y); err != nil {
			l.log.Error("payment left out of the promise rule: its record does not decode", "payment", id, "account", account, "err", err)
			continue
		}
		out = append(out, kpi.PaymentIn{ID: y.ID, Account: account, Currency: y.Currency, PaidAt: y.PaidAt, Amount: y.Amount})
	}
	return out, nil
}

// judged is what one judgement of an account changed.
type judged struct {
	kept, broken []Record // turned kept, turned broken
}

// settle judges account's promises at now by the rule and writes a row for
// each whose status changed: kept, or broken (its account requeued first).
// A promise whose row cannot be written keeps its status, and the error
// names it: the next judgement writes it.
func (l *Ledger) settle(ctx context.Context, account string, now time.Time) (judged, error) {
	var j judged
	unlock, err := l.lock(ctx, account)
	if err != nil {
		return j, err
	}
	defer unlock()
	ps, err := l.history(ctx, account)
	if err != nil {
		return j, err
	}
	pays, err := l.paymentsOf(ctx, account)
	if err != nil {
		return j, err
	}
	pays = l.legacyPaid(ctx, ps, pays)
	terms := make([]kpi.PromiseTerms, len(ps))
	for i, p := range ps {
		terms[i] = p.terms()
	}
	out := kpi.Settle(terms, pays, now)
	var errs []error
	open, last := false, now
	for _, p := range ps {
		o := out[p.ID]
		status := Open
		switch o.Status {
		case kpi.StatusKept:
			status = Kept
		case kpi.StatusBroken:
			status = Broken
		}
		last = later(last, o.Deadline)
		was := p.status()
		if status == was && o.Received.Equal(p.Paid) {
			open = open || status == Open
			continue
		}
		if err := l.judge(ctx, p, status, o.Received, now); err != nil {
			errs = append(errs, err)
			open = open || was == Open
			continue
		}
		open = open || status == Open
		p.Status, p.Paid = status, o.Received
		switch {
		case status == was:
		case status == Kept:
			j.kept = append(j.kept, p)
		case status == Broken:
			j.broken = append(j.broken, p)
		}
	}
	l.schedule(ctx, account, open, last)
	return j, errors.Join(errs...)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// judge records p's new status and what it received: a row with the status
// (ver one up) when it changed, then the record. Off the due and reminder
// sets once it is no longer open; a promise just broken requeues its
// account ahead of everyone.
func (l *Ledger) judge(ctx context.Context, p Record, status string, received decimal.Decimal, now time.Time) error {
	was := p.status()
	p.Paid = received
	if status != was {
		p.Status, p.Ver = status, p.ver()+1
		row := l.row(p)
		if err := l.opt.Writer.Write(ctx, &row); err != nil {
			l.log.Error("promise "+status+" not recorded; the next follow-up tries again", "promise", p.ID, "account", p.Account, "err", err)
			return fmt.Errorf("%s promise %s: %w", status, p.ID, err)
		}
	}
	// Once the row is written a failure here only means the next judgement
	// writes the same row (same ver) again.
	if err := l.put(ctx, p); err != nil {
		l.log.Warn("promise judged but its record not saved; the next follow-up judges it again", "promise", p.ID, "err", err)
		return err
	}
	if status == was {
		return nil
	}
	var err error
	if status == Open {
		err = l.rdb.ZAdd(ctx, l.keys.due, redis.Z{Score: float64(ms(p.deadline())), Member: p.ID}).Err()
	} else {
		err = l.rdb.ZRem(ctx, l.keys.due, p.ID).Err()
		if err == nil {
			err = l.rdb.ZRem(ctx, l.keys.remind, p.ID).Err()
		}
	}
	if err != nil {
		l.log.Warn("promise judged; its follow-up sets not updated (the next follow-up does)", "promise", p.ID, "err", err)
	}
	l.log.Info("promise "+status, "promise", p.ID, "campaign", p.Campaign, "account", p.Account, "paid", received.String(),
		"currency", p.Currency)
	if was == Open && status == Broken {
		if err := l.opt.Store.Requeue(ctx, p.Campaign, p.Account, now.Add(-24*time.Hour), "promise broken"); err != nil {
			l.log.Warn("broken promise not requeued", "promise", p.ID, "err", err)
		}
	}
	return nil
}

// legacyPaid: a record from before the rule holds what older payments paid
// it, without the payments. They become one payment at its creation, kept
// with the account's payments, so the money still counts.
func (l *Ledger) legacyPaid(ctx context.Context, ps []Record, pays []kpi.PaymentIn) []kpi.PaymentIn {
	for _, p := range ps {
		if p.Status != "" || !p.Paid.IsPositive() {
			continue
		}
		y := analytics.Payment{PaymentID: "legacy:" + p.ID, AccountID: p.Account, Currency: p.Currency, PaidAt: p.Created, Amount: p.Paid}
		if err := l.keepPayment(ctx, y); err != nil {
			l.log.Warn("payment of an older record not kept; counted this time", "promise", p.ID, "err", err)
		}
		pays = append(pays, kpi.PaymentIn{ID: y.PaymentID, Account: p.Account, Currency: p.Currency, PaidAt: p.Created, Amount: p.Paid})
	}
	return pays
}

// schedule: an account with no open promise is dropped (promises and
// payments) History after the last deadline; one with an open promise is
// kept.
func (l *Ledger) schedule(ctx context.Context, account string, open bool, last time.Time) {
	var err error
	if open {
		err = l.rdb.ZRem(ctx, l.keys.settled, account).Err()
	} else {
		err = l.rdb.ZAdd(ctx, l.keys.settled, redis.Z{Score: float64(ms(last.Add(l.opt.History))), Member: account}).Err()
	}
	if err != nil {
		l.log.Warn("account's promise history not scheduled; the next judgement does", "account", account, "err", err)
	}
}

// forget drops the history of the accounts whose time has come by now
// (none of their promises open: a payment recorded after this pays none of
// them).
func (l *Ledger) forget(ctx context.Context, now time.Time) error {
	accts, err := l.rdb.ZRangeByScore(ctx, l.keys.settled, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return fmt.Errorf("promise histories to drop: %w", err)
	}
	var errs []error
	for _, a := range accts {
		errs = append(errs, l.forgetAccount(ctx, a))
	}
	return errors.Join(errs...)
}

func (l *Ledger) forgetAccount(ctx context.Context, account string) error {
	unlock, err := l.lock(ctx, account)
	if err != nil {
		return err
	}
	defer unlock()
	ps, err := l.history(ctx, account)
	if err != nil {
		return err
	}
	ids := []string{}
	for _, p := range ps {
		if p.status() == Open {
			// Made since it was scheduled (Capture unschedules; this is the race).
			return l.rdb.ZRem(ctx, l.keys.settled, account).Err()
		}
		ids = append(ids, p.ID)
	}
	_, err = l.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		if len(ids) > 0 {
			pipe.HDel(ctx, l.keys.all, ids...)
		}
		pipe.Del(ctx, l.keys.account+account, l.keys.payments+account)
		pipe.ZRem(ctx, l.keys.settled, account)
		return nil
	})
	if err != nil {
		return fmt.Errorf("promise history of account %s: drop: %w", account, err)
	}
	return nil
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// lock holds account's judgement for one caller at a time (a payment and a
// follow-up on two nodes would otherwise each write their own verdict).
func (l *Ledger) lock(ctx context.Context, account string) (unlock func(), err error) {
	key, token := l.keys.lock+account, analytics.NewAttemptID()
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		ok, err := l.rdb.SetNX(ctx, key, token, lockTTL).Result()
		if err != nil {
			return nil, fmt.Errorf("promises of account %s: lock: %w", account, err)
		}
		if ok {
			return func() {
				if err := unlockScript.Run(context.WithoutCancel(ctx), l.rdb, []string{key}, token).Err(); err != nil {
					l.log.Warn("promise lock not released; it expires", "account", account, "ttl", lockTTL, "err", err)
				}
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("promises of account %s: lock: %w", account, ctx.Err())
		case <-time.After(wait):
		}
	}
}
