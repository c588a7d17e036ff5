// Package promise owns a debtor's promises to pay from capture to kept or
// broken: the ledger of open promises in Redis (ledger.go), the payments
// that keep them (payments.go), and the follow-up that reminds the debtor
// the day before and breaks what is not paid in time (followup.go). Every
// change of a promise is a row in ClickHouse `promises`, every payment one in
// `payments`. The IVR runner captures promises, the API records payments and
// the node's follow-up loop runs FollowUp; agents will capture them too.
package promise

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
)

// A promise's status in its rows: open when made, then kept or broken as
// the rule of README "Promise kept" (kpi.Settle) judges it.
const (
	Open   = "open"
	Kept   = "kept"
	Broken = "broken"
)

// Writer takes promise and payment rows (analytics/writer.Writer).
type Writer interface {
	Write(ctx context.Context, row analytics.Row) error
}

// Options wire a Ledger.
type Options struct {
	// Redis holds the open promises and the payment ids seen. Required.
	Redis redis.UniversalClient
	// Store is where accounts and campaigns are: a payment's account must be
	// known, a reminder needs its campaign and account, a broken promise
	// requeues its account. Required for payments and follow-up.
	Store *queue.Store
	// Writer takes the promise and payment rows. Required.
	Writer Writer
	// Node goes in the rows' node_id.
	Node string
	// Now is the clock of payments (a payment without paid_at was paid now)
	// and of follow-up (what is due to be reminded or broken); a promise's
	// creation time is its capturer's. Default time.Now.
	Now func() time.Time
	// Ready, when set, is asked before every follow-up: an error (Redis lost
	// its data, see queue/epoch) holds it, so nobody is reminded or requeued
	// on data an operator has not confirmed.
	Ready func() error
	// Key is the ledger's hash; its sorted sets and account sets are named
	// after it (Key+":due", ":remind", ":account:<id>"). Default
	// marcador:promises, which every node shares; a test gives its own so
	// that runs never follow up each other's promises.
	Key string
	// History is how long an account's promises and payments are kept
	// after the last of its promises is judged (its deadline passed, or
	// kept): a payment recorded within it, paid before a deadline, still
	// counts as the KPIs count it. Default 90 days.
	History time.Duration
	Logger  *slog.Logger
}

// Ledger is safe for concurrent use.
type Ledger struct {
	opt  Options
	rdb  redis.UniversalClient
	keys keys
	log  *slog.Logger
}

// New returns a ledger.
func New(opt Options) *Ledger {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Key == "" {
		opt.Key = promisesKey
	}
	if opt.History <= 0 {
		opt.History = 90 * 24 * time.Hour
	}
	return &Ledger{opt: opt, rdb: opt.Redis, keys: keysOf(opt.Key), log: opt.Logger}
}

// MaxGraceDays and the keep percent's 0-100 are what a promise's row holds
// (queue.PromisePolicy checks the campaign's the same way).
const MaxGraceDays = queue.MaxGraceDays

// Capture keeps a promise just made until it is kept or broken, and writes
// its open row. An empty ID gets a new one, an empty Channel is ivr and a
// zero Created is now; the record kept is returned.
func (l *Ledger) Capture(ctx context.Context, p Record) (Record, error) {
	if p.Grace < 0 || p.Grace > MaxGraceDays || p.KeepPercent < 0 || p.KeepPercent > 100 {
		return p, fmt.Errorf("promise %s of account %s: grace %d days and keep percent %d: want 0-%d and 0-100",
			p.ID, p.Account, p.Grace, p.KeepPercent, MaxGraceDays)
	}
	if p.ID == "" {
		p.ID = analytics.NewAttemptID()
	}
	if p.Channel == "" {
		p.Channel = analytics.PromiseIVR
	}
	if p.Created.IsZero() {
		p.Created = l.opt.Now()
	}
	// The row first: the writer checks it (ids, amount, a due date
	// ClickHouse can hold), so a promise it refuses is never followed up.
	p.Status, p.Ver, p.Node = Open, 1, l.opt.Node
	row := l.row(p)
	if err := l.opt.Writer.Write(ctx, &row); err != nil {
		return p, fmt.Errorf("promise %s of account %s: %w", p.ID, p.Account, err)
	}
	return p, l.add(ctx, p)
}

// row is p's row: its status and ver (the open row is ver 1; each change
// of status writes the next).
func (l *Ledger) row(p Record) analytics.Promise {
	ch := p.Channel
	if ch == "" {
		ch = analytics.PromiseIVR
	}
	node := p.Node
	if node == "" {
		node = l.opt.Node
	}
	return analytics.Promise{PromiseID: p.ID, CampaignID: p.Campaign, AccountID: p.Account, AttemptID: p.Attempt, Channel: ch,
		CreatedAt: p.Created, DueDate: p.Due, Amount: p.Amount, Currency: p.Currency, Status: p.status(), NodeID: node,
		Ver: p.ver(), GraceDays: uint8(p.Grace), KeepPercent: uint8(p.KeepPercent), Country: p.Country, Segment: p.Segment,
		AgentID: p.Agent}
}
