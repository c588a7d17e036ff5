package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/contact"
	"github.com/marcador/marcador/queue/phone"
)

// Writer takes attempt and message rows (analytics/writer.Writer).
type Writer interface {
	Write(ctx context.Context, row analytics.Row) error
}

// SenderOptions wire a Sender.
type SenderOptions struct {
	Provider Provider
	// Queue holds the campaigns and accounts texted, and the phone lookup
	// that names the account of an inbound text.
	Queue *queue.Store
	// Store holds the texting state: send records, template marks, rate
	// slots, the outbox, conversations.
	Store     *Store
	Gate      *compliance.Gate
	Writer    Writer
	Templates *Templates
	// Link is the signed payment link of an account ("" when the campaign
	// has none); used for replies to PAGO/LINK.
	Link func(c queue.Campaign, a queue.Account) string
	// PublicURL is the base URL the provider calls back (twilio.public_url);
	// without it no status callbacks are asked for.
	PublicURL string
	// Rate is messages per second per sender, shared by every node; default 1.
	Rate float64
	// Tries bounds the requests per message on 429 and 5xx; default 4.
	Tries int
	// Backoff is the first retry's wait, doubled on each retry; default 1s.
	Backoff time.Duration
	Node    string
	// Now is the attempts' clock: their rows, template periods, when an
	// outbox item is due; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	// Ready, when set, is asked before every send and outbox claim: an error
	// (Redis lost its data, see queue/epoch) holds texting until it is nil.
	Ready func() error
}

// Sender sends templated messages to debtors: at most once per idempotency
// key, through the compliance gate, at the sender's rate, with retries, and
// records each as an attempt. It is safe for concurrent use.
type Sender struct {
	opt      SenderOptions
	log      *slog.Logger
	contacts contact.Builder
}

// NewSender fills defaults.
func NewSender(opt SenderOptions) *Sender {
	if opt.Rate == 0 {
		opt.Rate = 1
	}
	if opt.Tries <= 0 {
		opt.Tries = 4
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Link == nil {
		opt.Link = func(queue.Campaign, queue.Account) string { return "" }
	}
	return &Sender{opt: opt, log: opt.Logger, contacts: contact.Builder{Node: opt.Node, Now: opt.Now}}
}

// Request asks for one message.
type Request struct {
	// Key makes the send idempotent: every request with the same key sends
	// at most one message (e.g. "<voice attempt id>/fallback/0").
	Key      string            `json:"key"`
	Campaign string            `json:"campaign"`
	Account  string            `json:"account"`
	Phone    string            `json:"phone,omitempty"` // default the account's first phone not opted out of the channel
	Channel  analytics.Channel `json:"channel,omitempty"`
	Template string            `json:"template"`
	Link     string            `json:"link,omitempty"` // default SenderOptions.Link
	// Vars fill template fields a request knows: PromiseAmount, PromiseDate.
	Vars map[string]string `json:"vars,omitempty"`
	// Deferrals counts how often the compliance gate postponed it.
	Deferrals int `json:"deferrals,omitempty"`
}

// Outcomes of a send (Result.Outcome, SendRecord.State); the ones that are
// also the attempt's disposition are spelled as it is.
const (
	Sent      = analytics.Sent    // the provider took it
	Duplicate = "duplicate"       // the key was used before; nothing sent
	Skipped   = "skipped"         // the template reached this debtor within the campaign's period
	Blocked   = analytics.Blocked // refused by the compliance gate or a do-not-contact list
	Failed    = analytics.Failed  // refused by the provider, or it kept failing
)

// Result says what a request did.
type Result struct {
	Outcome   string    `json:"outcome"`
	AttemptID string    `json:"attempt_id,omitempty"`
	SID       string    `json:"sid,omitempty"`
	Status    string    `json:"status,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Deferred  time.Time `json:"deferred_to,omitzero"`
	Rendered  Rendered  `json:"rendered,omitzero"`
}

// ErrInvalidRequest marks a request that can never be sent as it stands.
var ErrInvalidRequest = errors.New("invalid request")

// ErrRefused marks a well-formed request that asks for what it may not: a
// phone that is not one of the account's (the text carries the debtor's
// name, account and balance), a template that does not exist.
var ErrRefused = errors.New("request refused")

// checkKey keeps idempotency keys fit to be Redis key parts (they sit in a
// {} hash tag).
func checkKey(k string) error {
	if len(k) > 200 {
		return fmt.Errorf("sms: key %.40q...: longer than 200 bytes: %w", k, ErrInvalidRequest)
	}
	for _, r := range k {
		if r <= ' ' || r == 0x7f || r == '{' || r == '}' {
			return fmt.Errorf("sms: key %q: no spaces, control characters or braces: %w", k, ErrInvalidRequest)
		}
	}
	return nil
}

// keyTTL keeps idempotency keys and message records past any retry and
// every late status callback.
const keyTTL = 35 * 24 * time.Hour

// maxDeferrals bounds how often a message waits for the gate before it is
// given up.
const maxDeferrals = 3

// attemptNS derives a message's attempt id from its idempotency key, so a
// retried request names the same attempt.
var attemptNS = uuid.MustParse("6f0b6b8e-4c1e-4a57-9b0f-6d1c3a9e2f10")

// AttemptID is the attempt id of the message sent for key.
func AttemptID(key string) string { return uuid.NewSHA1(attemptNS, []byte(key)).String() }

// Debtor names whom a template's once-per-period rule counts: the person
// (national id) across campaigns when known, else the account.
func Debtor(campaign string, a queue.Account) string {
	if a.NationalID != "" {
		return a.NationalID
	}
	return campaign + "/" + a.ID
}

// firstRow makes a the attempt's first row (version 1, ended unless the
// text is still on its way) and keeps its encoding in rec, for the status
// callbacks to update.
func firstRow(a *analytics.Attempt, rec *SendRecord) error {
	if a.EndedAt.IsZero() && a.Disposition != analytics.Queued && a.Disposition != analytics.Sent {
		a.EndedAt = a.StartedAt
	}
	a.Ver = 1
	rec.Ver = 1
	b, err := a.AppendBinary(nil)
	if err != nil {
		return err
	}
	rec.Attempt = b
	return nil
}

// newAttempt starts the attempt row of req's text to number; its id comes
// from the idempotency key, so a retried request names the same attempt.
func (s *Sender) newAttempt(c queue.Campaign, acct queue.Account, number string, req Request) contact.Attempt {
	at := s.contacts.Start(c, acct, number, req.Channel)
	at.Row.AttemptID, at.Row.Template, at.Row.IVRPath = AttemptID(req.Key), req.Template, req.Key
	return at
}

// accountPhone returns raw in E.164 when it is one of the account's phones
// (national formats are read in the account's, else the campaign's,
// country).
func accountPhone(c queue.Campaign, acct queue.Account, raw string) (string, error) {
	region := acct.Country
	if region == "" {
		region = c.Country
	}
	n, err := phone.Normalize(raw, region)
	if err != nil {
		return "", fmt.Errorf("%w: %w", err, ErrInvalidRequest)
	}
	for _, p := range acct.Phones {
		if p.Number == n {
			return n, nil
		}
	}
	return "", fmt.Errorf("phone %s is not one of account %s's phones: %w", n, acct.ID, ErrRefused)
}

func (s *Sender) render(c queue.Campaign, acct queue.Account, req Request) (Rendered, error) {
	tp, err := s.opt.Templates.Get(contact.Language(c, acct), req.Template)
	if err != nil {
		return Rendered{}, err
	}
	link := req.Link
	if link == "" {
		link = s.opt.Link(c, acct)
	}
	d := NewData(acct, c.Company, link, c.CallbackNumber)
	d.PromiseAmount, d.PromiseDate = req.Vars["PromiseAmount"], req.Vars["PromiseDate"]
	if v, err := decimal.NewFromString(d.PromiseAmount); err == nil {
		cur := req.Vars["PromiseCurrency"]
		if cur == "" {
			cur = acct.Currency
		}
		d.PromiseAmount = Money(v, cur)
	}
	if t, err := time.Parse(queue.DateLayout, d.PromiseDate); err == nil {
		d.PromiseDate = t.Format("02/01/2006")
	}
	return tp.Render(d, c.SMS.Transliterate)
}

func (s *Sender) ready() error {
	if s.opt.Ready == nil {
		return nil
	}
	return s.opt.Ready()
}
