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
	// From migration 009. The rules the promise is judged by, frozen when
	// it is made (the campaign's promise.grace_days and keep_percent): 0
	// means the defaults, 2 days and 100%.
	GraceDays   uint8
	KeepPercent uint8
	Country     string // the debtor's
	Segment     string // the account's
	AgentID     string // the agent who took it, "" for the IVR and texts
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
	promiseV2 byte = 2 // adds GraceDays, KeepPercent, Country, Segment, AgentID
	paymentV1 byte = 1
)

// AppendBinary appends the spool encoding of p to b.
func (p *Promise) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, kindPromise, promiseV2)}
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
	e.u(uint64(p.GraceDays))
	e.u(uint64(p.KeepPercent))
	e.str(p.Country)
	e.str(p.Segment)
	e.str(p.AgentID)
	return e.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote, in this or the previous
// format (a spool written before an upgrade is still delivered; its rules
// read as the defaults).
func (p *Promise) UnmarshalBinary(b []byte) error {
	d, v, err := openRecord(b, kindPromise, "promise", promiseV1, promiseV2)
	if err != nil {
		return err
	}
	*p = Promise{
		PromiseID: d.str(), CampaignID: d.str(), AccountID: d.str(), AttemptID: d.str(),
		Channel: PromiseChannel(d.str()), CreatedAt: d.t(), DueDate: d.t(), Amount: d.decimal(),
		Currency: d.str(), Status: d.str(), NodeID: d.str(), Ver: d.u(),
	}
	if v >= promiseV2 {
		p.GraceDays, p.KeepPercent = u8(d.u()), u8(d.u())
		p.Country, p.Segment, p.AgentID = d.str(), d.str(), d.str()
	}
	return d.close("promise")
}

// Validate reports what makes the row unwritable, naming the field.
// The currency is checked against ISO 4217 where it enters (uploads, the
// payments API); a promise carries what its account has.
func (p *Promise) Validate() error {
	if p.PromiseID == "" {
		return fmt.Errorf("promise: %w", fieldErr("promise_id", "missing"))
	}
	err := checks(
		ids("promise_id", p.PromiseID, "campaign_id", p.CampaignID, "account_id", p.AccountID, "attempt_id", p.AttemptID,
			"node_id", p.NodeID, "agent_id", p.AgentID),
		codes("currency", p.Currency, "status", p.Status, "country", p.Country, "segment", p.Segment),
		p.columnErr(),
	)
	if err != nil {
		return fmt.Errorf("promise %s: %w", clip(p.PromiseID, MaxIDBytes), err)
	}
	return nil
}

func (p *Promise) columnErr() error {
	switch {
	case p.Channel != PromiseIVR && p.Channel != PromiseAgent && p.Channel != PromiseSMS:
		return fieldErr("channel", "%q: want ivr, agent or sms", clip(string(p.Channel), 16))
	case p.Amount.IsNegative():
		return fieldErr("amount", "%s is negative", short(p.Amount))
	case p.KeepPercent > 100:
		return fieldErr("keep_percent", "%d: want 1-100, or 0 for the default (100)", p.KeepPercent)
	}
	return checks(
		CheckDateTime("created_at", p.CreatedAt, true),
		CheckDate("due_date", p.DueDate),
		CheckMoney("amount", p.Amount),
	)
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
	d, _, err := openRecord(b, kindPayment, "payment", paymentV1)
	if err != nil {
		return err
	}
	*p = Payment{
		PaymentID: d.str(), CampaignID: d.str(), AccountID: d.str(), PromiseID: d.str(),
		PaidAt: d.t(), Amount: d.decimal(), Currency: d.str(), Method: d.str(), Reference: d.str(), Ver: d.u(),
	}
	return d.close("payment")
}

// Validate reports what makes the row unwritable, naming the field.
func (p *Payment) Validate() error {
	if p.PaymentID == "" {
		return fmt.Errorf("payment: %w", fieldErr("payment_id", "missing"))
	}
	err := checks(
		ids("payment_id", p.PaymentID, "campaign_id", p.CampaignID, "account_id", p.AccountID, "promise_id", p.PromiseID),
		codes("method", p.Method),
		CheckString("reference", p.Reference, MaxReferenceBytes),
		p.columnErr(),
		CheckCurrency("currency", p.Currency, true),
	)
	if err == nil && p.AccountID == "" {
		err = fieldErr("account_id", "missing")
	}
	if err != nil {
		return fmt.Errorf("payment %s: %w", clip(p.PaymentID, MaxIDBytes), err)
	}
	return nil
}

func (p *Payment) columnErr() error {
	if p.Amount.IsNegative() {
		return fieldErr("amount", "%s is negative", short(p.Amount))
	}
	return checks(
		CheckDateTime("paid_at", p.PaidAt, true),
		CheckMoney("amount", p.Amount),
	)
}
