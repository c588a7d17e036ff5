package analytics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"
)

// Reader answers questions about what was recorded: counts and lists read
// back from ClickHouse, newest version of each row (FINAL). The demo reads
// through it today; the KPI reports grow it.
type Reader struct {
	conn driver.Conn
	db   string
}

// NewReader reads database db over conn.
func NewReader(conn driver.Conn, db string) (*Reader, error) {
	if !ValidIdent(db) {
		return nil, fmt.Errorf("reader: database name %q: letters, digits and _ only", db)
	}
	return &Reader{conn: conn, db: db}, nil
}

// Scope selects the rows a question is about.
type Scope struct {
	// Campaigns the rows belong to; empty is every campaign.
	Campaigns []string
	// Channels of attempts; empty is every channel. Ignored by questions
	// about promises and messages.
	Channels []Channel
	// From and To bound the row's time (an attempt's started_at, a
	// promise's created_at, a message's at): From <= t < To. A zero From
	// or To is no bound.
	From, To time.Time
}

// where renders s as a WHERE clause over the time column col; channels says
// whether the table has attempts' channel column.
func (s Scope) where(col string, channels bool) (string, []any) {
	conds := []string{col + " >= ?"}
	args := []any{orEpoch(s.From).UTC()}
	if !s.To.IsZero() {
		conds = append(conds, col+" < ?")
		args = append(args, s.To.UTC())
	}
	in := func(column string, n int) string {
		return column + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	}
	if len(s.Campaigns) > 0 {
		conds = append(conds, in("campaign_id", len(s.Campaigns)))
		for _, c := range s.Campaigns {
			args = append(args, c)
		}
	}
	if channels && len(s.Channels) > 0 {
		conds = append(conds, in("toString(channel)", len(s.Channels)))
		for _, c := range s.Channels {
			args = append(args, string(c))
		}
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// query runs q (whose table names are written {db}.table) and calls scan
// for every row.
func (r *Reader) query(ctx context.Context, what, q string, args []any, scan func(driver.Rows) error) error {
	rows, err := r.conn.Query(ctx, strings.ReplaceAll(q, "{db}", r.db), args...)
	if err != nil {
		return fmt.Errorf("read %s from %s: %w", what, r.db, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("read %s from %s: %w", what, r.db, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read %s from %s: %w", what, r.db, err)
	}
	return nil
}

// list runs q and returns what scan reads from each row.
func list[T any](ctx context.Context, r *Reader, what, q string, args []any, scan func(driver.Rows) (T, error)) ([]T, error) {
	var out []T
	err := each(ctx, r, what, q, args, scan, func(v T) error {
		out = append(out, v)
		return nil
	})
	return out, err
}

// each runs q and calls fn with what scan reads from each row. An error of
// fn's own (the caller's work, not the read) comes back as fn returned it.
func each[T any](ctx context.Context, r *Reader, what, q string, args []any, scan func(driver.Rows) (T, error), fn func(T) error) error {
	var fnErr error
	err := r.query(ctx, what, q, args, func(rows driver.Rows) error {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		fnErr = fn(v)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// AttemptCount is what the attempts of one channel and disposition add up to.
type AttemptCount struct {
	Channel     Channel
	Disposition string
	Attempts    uint64
	RingMS      uint64 // summed over the attempts
	TalkMS      uint64 // summed over the attempts
	Keyed       uint64 // attempts in which the debtor pressed a key
	Segments    uint64 // texts: segments billed, summed
	Reason      string // one of the attempts' reasons, as an example
}

// AttemptCounts counts the attempts in s by channel and disposition, in
// channel then disposition order.
func (r *Reader) AttemptCounts(ctx context.Context, s Scope) ([]AttemptCount, error) {
	where, args := s.where("started_at", true)
	return list(ctx, r, "attempt counts", `SELECT toString(channel) AS ch, disposition, count(), sum(ring_ms), sum(talk_ms),
    countIf(dtmf != ''), sum(segments), any(reason)
FROM {db}.contact_attempts FINAL`+where+` GROUP BY ch, disposition ORDER BY ch, disposition`, args,
		func(rows driver.Rows) (AttemptCount, error) {
			var c AttemptCount
			var ch string
			err := rows.Scan(&ch, &c.Disposition, &c.Attempts, &c.RingMS, &c.TalkMS, &c.Keyed, &c.Segments, &c.Reason)
			c.Channel = Channel(ch)
			return c, err
		})
}

// Attempts lists the attempts in s, oldest first. Each has the columns a
// person reading a run wants: ids, phone, channel, trunk, times and
// durations, SIP code, disposition and reason, keys, IVR path, promise,
// country, texts' sid and status, right party.
func (r *Reader) Attempts(ctx context.Context, s Scope) ([]Attempt, error) {
	where, args := s.where("started_at", true)
	return list(ctx, r, "attempts", `SELECT attempt_id, campaign_id, account_id, phone, toString(channel), trunk, started_at,
    ring_ms, talk_ms, sip_code, disposition, reason, dtmf, ivr_path, promise_amount, currency, country, message_sid, message_status,
    right_party
FROM {db}.contact_attempts FINAL`+where+` ORDER BY started_at, attempt_id`, args,
		func(rows driver.Rows) (Attempt, error) {
			var a Attempt
			var ch string
			var rp uint8
			err := rows.Scan(&a.AttemptID, &a.CampaignID, &a.AccountID, &a.Phone, &ch, &a.Trunk, &a.StartedAt, &a.RingMS, &a.TalkMS,
				&a.SIPCode, &a.Disposition, &a.Reason, &a.DTMF, &a.IVRPath, &a.PromiseAmount, &a.Currency, &a.Country,
				&a.MessageSID, &a.MessageStatus, &rp)
			a.Channel, a.RightParty = Channel(ch), rp == 1
			return a, err
		})
}

// AccountAttempts lists an account's latest n attempts in a campaign over
// the last 90 days, newest first, with what an agent's screen shows: when,
// channel, phone, disposition, talk time, agent and code, promise.
func (r *Reader) AccountAttempts(ctx context.Context, campaign, account string, n int, now time.Time) ([]Attempt, error) {
	return list(ctx, r, "account attempts", `SELECT attempt_id, toString(channel), phone, started_at, talk_ms, disposition,
    agent_id, agent_code, promise_amount, promise_date, currency
FROM {db}.contact_attempts FINAL
WHERE campaign_id = ? AND account_id = ? AND started_at >= ?
ORDER BY started_at DESC, attempt_id DESC LIMIT ?`, []any{campaign, account, now.Add(-90 * 24 * time.Hour).UTC(), n},
		func(rows driver.Rows) (Attempt, error) {
			a := Attempt{CampaignID: campaign, AccountID: account}
			var ch string
			err := rows.Scan(&a.AttemptID, &ch, &a.Phone, &a.StartedAt, &a.TalkMS, &a.Disposition, &a.AgentID, &a.AgentCode,
				&a.PromiseAmount, &a.PromiseDate, &a.Currency)
			a.Channel = Channel(ch)
			return a, err
		})
}

// TextTotals is what the texts in a scope came to.
type TextTotals struct {
	Sent      uint64 // accepted by the provider (they have a message sid)
	Delivered uint64 // the provider reported them delivered
}

// Texts totals the SMS and WhatsApp attempts in s (s.Channels is ignored).
func (r *Reader) Texts(ctx context.Context, s Scope) (TextTotals, error) {
	s.Channels = []Channel{SMS, WhatsApp}
	where, args := s.where("started_at", true)
	var t TextTotals
	err := r.query(ctx, "text totals", `SELECT countIf(message_sid != ''), countIf(message_status = 'delivered')
FROM {db}.contact_attempts FINAL`+where, args,
		func(rows driver.Rows) error { return rows.Scan(&t.Sent, &t.Delivered) })
	return t, err
}

// PromiseTotal is what the promises of one status and currency add up to.
type PromiseTotal struct {
	Status   string // open, kept, broken, cancelled
	Currency string
	Promises uint64
	Amount   decimal.Decimal
}

// PromiseTotals totals the promises created in s by status and currency,
// in currency then status order.
func (r *Reader) PromiseTotals(ctx context.Context, s Scope) ([]PromiseTotal, error) {
	where, args := s.where("created_at", false)
	return list(ctx, r, "promise totals", `SELECT status, currency, count(), sum(amount)
FROM {db}.promises FINAL`+where+` GROUP BY status, currency ORDER BY currency, status`, args,
		func(rows driver.Rows) (PromiseTotal, error) {
			var p PromiseTotal
			err := rows.Scan(&p.Status, &p.Currency, &p.Promises, &p.Amount)
			return p, err
		})
}

// Promises lists the promises created in s, oldest first.
func (r *Reader) Promises(ctx context.Context, s Scope) ([]Promise, error) {
	where, args := s.where("created_at", false)
	return list(ctx, r, "promises", `SELECT promise_id, campaign_id, account_id, attempt_id, toString(channel), created_at,
    due_date, amount, currency, status, node_id, ver
FROM {db}.promises FINAL`+where+` ORDER BY created_at, promise_id`, args,
		func(rows driver.Rows) (Promise, error) {
			var p Promise
			var ch string
			err := rows.Scan(&p.PromiseID, &p.CampaignID, &p.AccountID, &p.AttemptID, &ch, &p.CreatedAt, &p.DueDate,
				&p.Amount, &p.Currency, &p.Status, &p.NodeID, &p.Ver)
			p.Channel = PromiseChannel(ch)
			return p, err
		})
}

// Replies counts the messages debtors sent in s by the action taken
// (optout, optin, paylink, conversation).
func (r *Reader) Replies(ctx context.Context, s Scope) (map[string]uint64, error) {
	where, args := s.where("at", false)
	out := map[string]uint64{}
	err := r.query(ctx, "replies", `SELECT action, count() FROM {db}.messages FINAL`+where+
		` AND direction = 'inbound' GROUP BY action`, args,
		func(rows driver.Rows) error {
			var action string
			var n uint64
			if err := rows.Scan(&action, &n); err != nil {
				return err
			}
			out[action] = n
			return nil
		})
	return out, err
}

// Applied lists the schema migrations recorded in the database, in order.
func (r *Reader) Applied(ctx context.Context) ([]Migration, error) {
	return list(ctx, r, "schema migrations", `SELECT version, name FROM {db}.schema_migrations FINAL ORDER BY version`, nil,
		func(rows driver.Rows) (Migration, error) {
			var m Migration
			err := rows.Scan(&m.Version, &m.Name)
			return m, err
		})
}

// TableRows is how many rows one table holds.
type TableRows struct {
	Table string
	Rows  uint64
}

// Rows counts the rows of every table the writer inserts into (newest
// version of each), in Tables order.
func (r *Reader) Rows(ctx context.Context) ([]TableRows, error) {
	var out []TableRows
	for _, t := range Tables() {
		n := TableRows{Table: t.Name}
		if err := r.query(ctx, t.Name+" rows", `SELECT count() FROM {db}.`+t.Name+` FINAL`, nil,
			func(rows driver.Rows) error { return rows.Scan(&n.Rows) }); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
