// Package kpi computes the collections KPIs defined in the README ("KPIs"):
// attempts, contact and right-party contact rates, promises and promise-kept
// rates, recovery, abandon rates, agents' occupancy and handle time, texts'
// delivery and replies, costs, and the best time to call. Every figure is
// SQL that runs on ClickHouse 18.16 and current releases, over roll-up
// tables kept exact under replays (refreshed from the raw rows, read with
// FINAL, whenever their inputs moved: see Refresh), or, for a baseline or a
// time zone whose offset is not whole hours, over the raw tables.
package kpi

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
)

// DefaultAttributionDays is how long after a touch a payment is recovered
// by it, unless Options.AttributionDays says otherwise.
const DefaultAttributionDays = 7

// Options tune the KPIs. Every field has the default its comment gives.
type Options struct {
	// AttributionDays: a payment counts as recovered by the account's
	// latest touch at most this many days before it. Default 7.
	AttributionDays int
	// Costs of calls and texts; without them the cost KPIs are left out.
	Costs Costs
	// Now is the clock promises are judged pending or broken by. Default
	// time.Now.
	Now func() time.Time
	// Logger: default slog.Default().
	Logger *slog.Logger
	// DebtorArrays counts debtors over a range by walking every
	// kpi_debtors row's arrays (the path before its scalar columns: bench
	// kpi's baseline for them).
	DebtorArrays bool
}

// Costs are what calls and texts cost, in one currency.
type Costs struct {
	Currency string
	// Trunks: a trunk's price per call placed and per minute billed
	// (calls are billed by the second, each second started).
	Trunks map[string]TrunkCost
	// SMSPerSegment is the price of one SMS segment sent.
	SMSPerSegment decimal.Decimal
	// WhatsAppPerMessage is the price of one WhatsApp message sent.
	WhatsAppPerMessage decimal.Decimal
}

// TrunkCost is a trunk's prices.
type TrunkCost struct {
	PerCall   decimal.Decimal
	PerMinute decimal.Decimal
}

// Configured says whether any price is set.
func (c Costs) Configured() bool {
	return c.Currency != "" && (len(c.Trunks) > 0 || !c.SMSPerSegment.IsZero() || !c.WhatsAppPerMessage.IsZero())
}

// KPI answers KPI questions about one database.
type KPI struct {
	conn driver.Conn
	db   string
	opt  Options
	log  *slog.Logger

	mu      sync.Mutex // one refresh at a time in this process
	lastVer uint64
}

// New reads database db over conn.
func New(conn driver.Conn, db string, opt Options) (*KPI, error) {
	if !analytics.ValidIdent(db) {
		return nil, fmt.Errorf("kpi: database name %q: letters, digits and _ only", db)
	}
	if opt.AttributionDays <= 0 {
		opt.AttributionDays = DefaultAttributionDays
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &KPI{conn: conn, db: db, opt: opt, log: opt.Logger}, nil
}

// nextVer is a version for the rows of one refresh: the clock in
// nanoseconds, and always above the last one this process used.
func (k *KPI) nextVer() uint64 {
	v := uint64(k.opt.Now().UnixNano())
	if v <= k.lastVer {
		v = k.lastVer + 1
	}
	k.lastVer = v
	return v
}

func (k *KPI) exec(ctx context.Context, what, q string, args ...any) error {
	if err := k.conn.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("kpi: %s in %s: %w", what, k.db, err)
	}
	return nil
}

// query runs q and calls scan for every row.
func (k *KPI) query(ctx context.Context, what, q string, args []any, scan func(driver.Rows) error) error {
	rows, err := k.conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("kpi: %s in %s: %w", what, k.db, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("kpi: %s in %s: %w", what, k.db, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("kpi: %s in %s: %w", what, k.db, err)
	}
	return nil
}
