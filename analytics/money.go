package analytics

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// PromiseChannel is where a promise to pay was made.
type PromiseChannel string

const (
	PromiseIVR   PromiseChannel = "ivr"
	PromiseAgent PromiseChannel = "agent"
	PromiseSMS   PromiseChannel = "sms"
)

// Promise is a debtor's promise to pay Amount by DueDate. Status moves from
// open to kept, broken or cancelled; each change is a new row with a higher Ver.
type Promise struct {
	PromiseID  string
	CampaignID string
	AccountID  string
	AttemptID  string
	Channel    PromiseChannel
	CreatedAt  time.Time
	DueDate    time.Time // calendar date
	Amount     decimal.Decimal
	Currency   string
	Status     string // open, kept, broken, cancelled
	NodeID     string
	Ver        uint64
}

// Payment is money received against an account, reported by the creditor.
type Payment struct {
	PaymentID  string
	CampaignID string
	AccountID  string
	PromiseID  string // the promise it covers, if known
	PaidAt     time.Time
	Amount     decimal.Decimal
	Currency   string
	Method     string // e.g. link, transfer, cash, card
	Reference  string
	Ver        uint64
}

const (
	promiseV1 byte = 1
	paymentV1 byte = 1
)

// AppendBinary appends the spool encoding of p to b.
func (p *Promise) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, kindPromise, promiseV1)}
	e.str(p.PromiseID)
	e.str(p.CampaignID)
	e.str(p.AccountID)
	e.str(p.AttemptID)
	e.str(string(p.Channel))
	e.t(p.CreatedAt)
	e.t(p.DueDate)
	e.dec(p.Amount)
	e.str(p.Currency)
	e.str(p.Status)
	e.str(p.NodeID)
	e.u(p.Ver)
	return e.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (p *Promise) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] != kindPromise || b[1] != promiseV1 {
		return fmt.Errorf("promise row: not a v%d promise record", promiseV1)
	}
	d := dec{b: b[2:]}
	*p = Promise{
		PromiseID: d.str(), CampaignID: d.str(), AccountID: d.str(), AttemptID: d.str(),
		Channel: PromiseChannel(d.str()), CreatedAt: d.t(), DueDate: d.t(), Amount: d.decimal(),
		Currency: d.str(), Status: d.str(), NodeID: d.str(), Ver: d.u(),
	}
	if d.err != nil {
		return fmt.Errorf("promise row: %w", d.err)
	}
	return nil
}

// Validate reports what makes the row unwritable.
func (p *Promise) Validate() error {
	switch {
	case p.PromiseID == "":
		return fmt.Errorf("promise: promise_id is empty")
	case p.Channel != PromiseIVR && p.Channel != PromiseAgent && p.Channel != PromiseSMS:
		return fmt.Errorf("promise %s: channel %q: want ivr, agent or sms", p.PromiseID, p.Channel)
	case p.CreatedAt.IsZero():
		return fmt.Errorf("promise %s: created_at is zero", p.PromiseID)
	}
	return nil
}

// AppendBinary appends the spool encoding of p to b.
func (p *Payment) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, kindPayment, paymentV1)}
	e.str(p.PaymentID)
	e.str(p.CampaignID)
	e.str(p.AccountID)
	e.str(p.PromiseID)
	e.t(p.PaidAt)
	e.dec(p.Amount)
	e.str(p.Currency)
	e.str(p.Method)
	e.str(p.Reference)
	e.u(p.Ver)
	return e.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (p *Payment) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] != kindPayment || b[1] != paymentV1 {
		return fmt.Errorf("payment row: not a v%d payment record", paymentV1)
	}
	d := dec{b: b[2:]}
	*p = Payment{
		PaymentID: d.str(), CampaignID: d.str(), AccountID: d.str(), PromiseID: d.str(),
		PaidAt: d.t(), Amount: d.decimal(), Currency: d.str(), Method: d.str(), Reference: d.str(), Ver: d.u(),
	}
	if d.err != nil {
		return fmt.Errorf("payment row: %w", d.err)
	}
	return nil
}

// Validate reports what makes the row unwritable.
func (p *Payment) Validate() error {
	switch {
	case p.PaymentID == "":
		return fmt.Errorf("payment: payment_id is empty")
	case p.AccountID == "":
		return fmt.Errorf("payment %s: account_id is empty", p.PaymentID)
	case p.PaidAt.IsZero():
		return fmt.Errorf("payment %s: paid_at is zero", p.PaymentID)
	}
	return nil
}
