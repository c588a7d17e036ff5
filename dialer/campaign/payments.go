package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
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

// Validate says what is missing or wrong.
func (p Payment) Validate() error {
	switch {
	case p.ID == "":
		return errors.New("payment_id is required (it makes a retried request safe)")
	case p.Account == "":
		return fmt.Errorf("payment %s: account_id is required", p.ID)
	case !p.Amount.IsPositive():
		return fmt.Errorf("payment %s: amount %s: want more than 0", p.ID, p.Amount)
	case len(p.Currency) != 3:
		return fmt.Errorf("payment %s: currency %q: want an ISO 4217 code such as MXN", p.ID, p.Currency)
	}
	return nil
}

// PaymentResult says what a payment did.
type PaymentResult struct {
	PaymentID string   `json:"payment_id"`
	Duplicate bool     `json:"duplicate,omitempty"` // seen before: nothing done again
	Kept      []string `json:"kept_promises"`       // promises it paid in full
}

// RecordPayment writes a payment row and applies it to the account's open
// promises, oldest first; each promise paid in full gets a "kept" row. A
// payment id seen before does nothing.
func (r *Runner) RecordPayment(ctx context.Context, p Payment) (PaymentResult, error) {
	res := PaymentResult{PaymentID: p.ID, Kept: []string{}}
	if err := p.Validate(); err != nil {
		return res, err
	}
	if p.PaidAt.IsZero() {
		p.PaidAt = r.opt.Now()
	}
	first, err := r.opt.Store.FirstSeen(ctx, "payment", p.ID)
	if err != nil {
		return res, err
	}
	if !first {
		res.Duplicate = true
		return res, nil
	}
	kept, err := r.opt.Store.Pay(ctx, p.Account, p.Amount)
	if err != nil {
		r.opt.Store.Unsee(context.WithoutCancel(ctx), "payment", p.ID)
		return res, fmt.Errorf("payment %s: %w", p.ID, err)
	}
	row := analytics.Payment{PaymentID: p.ID, CampaignID: p.Campaign, AccountID: p.Account, PaidAt: p.PaidAt, Amount: p.Amount,
		Currency: p.Currency, Method: p.Method, Reference: p.Reference, Ver: 1}
	for _, k := range kept {
		res.Kept = append(res.Kept, k.ID)
		if row.PromiseID == "" {
			row.PromiseID = k.ID
		}
		if row.CampaignID == "" {
			row.CampaignID = k.Campaign
		}
		pr := r.promiseRow(k, "kept")
		if err := r.opt.Writer.Write(ctx, &pr); err != nil {
			return res, err
		}
	}
	if err := r.opt.Writer.Write(ctx, &row); err != nil {
		return res, err
	}
	r.log.Info("payment", "payment", p.ID, "account", p.Account, "amount", p.Amount.String(), "currency", p.Currency, "kept", res.Kept)
	return res, nil
}
