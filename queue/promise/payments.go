package promise

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
)

// Payment is money received against an account (from the creditor's
// payment processor or the payment link's backend).
type Payment struct {
	ID        string          `json:"payment_id"`
	Campaign  string          `json:"campaign_id,omitempty"`
	Account   string          `json:"account_id"`
	Amount    decimal.Decimal `json:"amount"`
	Currency  string          `json:"currency"`
	PaidAt    time.Time       `json:"paid_at"`
	Method    string          `json:"method,omitempty"`
	Reference string          `json:"reference,omitempty"`
}

// CheckPaidAt says whether t is a plausible payment time at now: from 2000
// (older is a typo, or a zero date some system sent) to a day after now (the
// payer's clock and time zone may be ahead of ours; more is a typo). A zero
// PaidAt in a Payment means now and is not checked.
func CheckPaidAt(t, now time.Time) error {
	earliestPaidAt := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if t.Before(earliestPaidAt) || t.After(now.Add(24*time.Hour)) {
		return &analytics.FieldError{Field: "paid_at", Reason: fmt.Sprintf("%s: want from %s to a day after now",
			t.UTC().Format(time.RFC3339), earliestPaidAt.Format(time.DateOnly))}
	}
	return nil
}

// Validate says what is missing or wrong at now; the error names the field
// (analytics.FieldOf). The amount must be more than 0 and fit the ledger
// (Decimal(18, 2): at most 2 decimal places), the currency an ISO 4217 code.
func (p Payment) Validate(now time.Time) error {
	wrap := func(err error) error {
		if p.ID == "" {
			return fmt.Errorf("payment: %w", err)
		}
		return fmt.Errorf("payment %s: %w", p.ID, err)
	}
	field := func(name, format string, a ...any) error {
		return wrap(&analytics.FieldError{Field: name, Reason: fmt.Sprintf(format, a...)})
	}
	switch {
	case p.ID == "":
		return field("payment_id", "required (it makes a retried request safe)")
	case p.Account == "":
		return field("account_id", "required")
	case p.Amount.Sign() == 0:
		return field("amount", "must be more than 0")
	case p.Amount.IsNegative():
		return field("amount", "%s is negative", p.Amount)
	}
	if p.Campaign != "" && !queue.ValidCampaignID(p.Campaign) {
		return field("campaign_id", "%q is not a campaign id", p.Campaign)
	}
	if err := analytics.CheckMoney("amount", p.Amount); err != nil {
		return wrap(err)
	}
	if err := analytics.CheckCurrency("currency", p.Currency, true); err != nil {
		return wrap(err)
	}
	if !p.PaidAt.IsZero() {
		if err := CheckPaidAt(p.PaidAt, now); err != nil {
			return wrap(err)
		}
	}
	// What the ledger row holds (ids, method, reference sizes).
	row := p.row(now)
	return row.Validate()
}

func (p Payment) row(now time.Time) analytics.Payment {
	paid := p.PaidAt
	if paid.IsZero() {
		paid = now
	}
	return analytics.Payment{PaymentID: p.ID, CampaignID: p.Campaign, AccountID: p.Account, PaidAt: paid, Amount: p.Amount,
		Currency: p.Currency, Method: p.Method, Reference: p.Reference, Ver: 1}
}

// ErrUnknownAccount is returned (wrapped, with a *analytics.FieldError for
// account_id) for a payment no campaign's account matches.
var ErrUnknownAccount = errors.New("unknown account")

// PaymentResult says what a payment did.
type PaymentResult struct {
	PaymentID string   `json:"payment_id"`
	Duplicate bool     `json:"duplicate,omitempty"` // seen before: nothing done again
	Kept      []string `json:"kept_promises"`       // promises it made kept
}

// RecordPayment keeps a payment with its account's and writes its row,
// then judges the account's promises by the rule (README "Promise kept"):
// each promise it makes kept gets a "kept" row (and one whose deadline has
// passed unpaid, if the follow-up has not yet come, a "broken" row). A
// payment id seen before does nothing. A payment that fails before it is
// kept is forgotten, so it may be sent again; once it is kept it is not
// (its money would count twice): a judgement or row that fails after is an
// error naming it, logged, and done again by the next follow-up.
func (l *Ledger) RecordPayment(ctx context.Context, p Payment) (PaymentResult, error) {
	res := PaymentResult{PaymentID: p.ID, Kept: []string{}}
	now := l.opt.Now()
	if err := p.Validate(now); err != nil {
		return res, err
	}
	if err := l.knownAccount(ctx, p); err != nil {
		return res, err
	}
	first, err := l.firstSeen(ctx, "payment", p.ID)
	if err != nil {
		return res, err
	}
	if !first {
		res.Duplicate = true
		return res, nil
	}
	row := p.row(now)
	if err := l.keepPayment(ctx, row); err != nil {
		if err := l.unsee(context.WithoutCancel(ctx), "payment", p.ID); err != nil {
			l.log.Error("failed payment still marked seen: a retry is answered as a duplicate until its id is deleted",
				"payment", p.ID, "account", p.Account, "amount", p.Amount.String(), "currency", p.Currency,
				"key", seenKey("payment", p.ID), "err", err)
		}
		return res, fmt.Errorf("payment %s: %w", p.ID, err)
	}
	j, judgeErr := l.settle(ctx, p.Account, now)
	for _, k := range j.kept {
		res.Kept = append(res.Kept, k.ID)
		if row.PromiseID == "" {
			row.PromiseID = k.ID
		}
		if row.CampaignID == "" {
			row.CampaignID = k.Campaign
		}
	}
	if judgeErr != nil {
		if err := l.rdb.SAdd(context.WithoutCancel(ctx), l.keys.unsettled, p.Account).Err(); err != nil {
			judgeErr = errors.Join(judgeErr, fmt.Errorf("mark account %s for the next follow-up: %w", p.Account, err))
		}
		l.log.Error("payment kept; its account's promises not all judged: the next follow-up does", "payment", p.ID,
			"account", p.Account, "amount", p.Amount.String(), "currency", p.Currency, "kept", res.Kept, "err", judgeErr)
	}
	if err := l.opt.Writer.Write(ctx, &row); err != nil {
		l.log.Error("payment applied but its row not written: record it again by hand", "payment", p.ID, "account", p.Account,
			"amount", p.Amount.String(), "currency", p.Currency, "paid_at", row.PaidAt, "kept", res.Kept, "err", err)
		return res, fmt.Errorf("payment %s: applied, row not written: %w", p.ID, errors.Join(judgeErr, err))
	}
	if judgeErr != nil {
		return res, fmt.Errorf("payment %s: applied, promises not all judged: %w", p.ID, judgeErr)
	}
	l.log.Info("payment", "payment", p.ID, "account", p.Account, "amount", p.Amount.String(), "currency", p.Currency, "kept", res.Kept)
	return res, nil
}

// knownAccount refuses a payment for an account the campaign it names does
// not hold or, naming none, that no campaign holds and that has no open
// promise.
func (l *Ledger) knownAccount(ctx context.Context, p Payment) error {
	unknown := func(format string, a ...any) error {
		return fmt.Errorf("payment %s: %w: %w", p.ID, ErrUnknownAccount,
			&analytics.FieldError{Field: "account_id", Reason: fmt.Sprintf(format, a...)})
	}
	if p.Campaign != "" {
		_, err := l.opt.Store.Account(ctx, p.Campaign, p.Account)
		if errors.Is(err, queue.ErrNotFound) {
			return unknown("no account %q in campaign %s", p.Account, p.Campaign)
		}
		return err
	}
	cs, err := l.opt.Store.AccountCampaigns(ctx, p.Account)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		// Its campaigns are gone, but promises made in them are still open.
		if cs, err = l.campaigns(ctx, p.Account); err != nil {
			return err
		}
	}
	if len(cs) == 0 {
		return unknown("no campaign has an account %q", p.Account)
	}
	return nil
}
