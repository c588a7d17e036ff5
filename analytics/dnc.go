package analytics

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DNC actions.
const (
	DNCAdd    = "add"
	DNCRemove = "remove"
)

// DNCEvent is one do-not-contact listing or removal of one number for one
// channel, in one campaign's list or the global one (CampaignID ""). The
// lists live in Redis; these rows are their durable history, from which
// `marcador dnc rebuild` restores them (the newest action per phone,
// channel and campaign wins, by Ver).
type DNCEvent struct {
	EventID    string
	Phone      string // E.164
	Channel    Channel
	CampaignID string
	Action     string // add, remove
	Reason     string
	Source     string // who: api, ivr, sms, twilio, dialer
	At         time.Time
	NodeID     string
	Ver        uint64 // orders the events of one number (nanoseconds, strictly increasing per node)
}

const dncV1 byte = 1

// Validate reports what makes the row unwritable, naming the field.
func (e *DNCEvent) Validate() error {
	if e.EventID == "" {
		return fmt.Errorf("dnc event: %w", fieldErr("event_id", "missing"))
	}
	err := checks(
		ids("event_id", e.EventID, "campaign_id", e.CampaignID, "node_id", e.NodeID),
		CheckString("phone", e.Phone, MaxPhoneBytes),
		codes("source", e.Source),
		e.columnErr(),
	)
	if err == nil && e.Phone == "" {
		err = fieldErr("phone", "missing")
	}
	if err != nil {
		return fmt.Errorf("dnc event %s: %w", clip(e.EventID, MaxIDBytes), err)
	}
	return nil
}

// columnErr checks what ClickHouse would refuse or store wrong.
func (e *DNCEvent) columnErr() error {
	switch {
	case !e.Channel.Valid():
		return fieldErr("channel", "%q: want voice, sms or whatsapp", clip(string(e.Channel), 16))
	case e.Action != DNCAdd && e.Action != DNCRemove:
		return fieldErr("action", "%q: want add or remove", clip(e.Action, 16))
	}
	return CheckDateTime("at", e.At, true)
}

// AppendBinary appends the spool encoding of e to b.
func (e *DNCEvent) AppendBinary(b []byte) ([]byte, error) {
	w := enc{b: append(b, kindDNC, dncV1)}
	w.str(e.EventID)
	w.str(e.Phone)
	w.str(string(e.Channel))
	w.str(e.CampaignID)
	w.str(e.Action)
	w.str(ClipText(e.Reason, MaxReasonBytes))
	w.str(e.Source)
	w.t(e.At)
	w.str(e.NodeID)
	w.u(e.Ver)
	return w.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (e *DNCEvent) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] != kindDNC || b[1] != dncV1 {
		return fmt.Errorf("dnc event row: not a version %d dnc record", dncV1)
	}
	d := dec{b: b[2:]}
	*e = DNCEvent{EventID: d.str(), Phone: d.str(), Channel: Channel(d.str()), CampaignID: d.str(), Action: d.str(),
		Reason: d.str(), Source: d.str(), At: d.t(), NodeID: d.str(), Ver: d.u()}
	if d.err != nil {
		return fmt.Errorf("dnc event row: %w", d.err)
	}
	return nil
}

// LatestDNC calls fn with the newest event of every (phone, channel,
// campaign) in db.dnc_events: the listing as it should stand.
func LatestDNC(ctx context.Context, conn driver.Conn, db string, fn func(DNCEvent) error) error {
	if !validIdent(db) {
		return fmt.Errorf("dnc events: database name %q: letters, digits and _ only", db)
	}
	rows, err := conn.Query(ctx, `SELECT phone, toString(channel), campaign_id, toString(argMax(action, ver)),
    argMax(reason, ver), argMax(source, ver), argMax(at, ver), argMax(node_id, ver), argMax(event_id, ver), max(ver)
FROM `+db+`.dnc_events GROUP BY phone, channel, campaign_id`)
	if err != nil {
		return fmt.Errorf("dnc events: read %s.dnc_events: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e DNCEvent
		var ch string
		if err := rows.Scan(&e.Phone, &ch, &e.CampaignID, &e.Action, &e.Reason, &e.Source, &e.At, &e.NodeID, &e.EventID, &e.Ver); err != nil {
			return fmt.Errorf("dnc events: scan: %w", err)
		}
		e.Channel = Channel(ch)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dnc events: read %s.dnc_events: %w", db, err)
	}
	return nil
}

// AttemptOutcome is what the compliance history needs from one attempt row
// (its newest version).
type AttemptOutcome struct {
	AttemptID, CampaignID, AccountID, Phone string
	Channel                                 Channel
	StartedAt, EndedAt                      time.Time // EndedAt zero when none
	Disposition, MessageStatus              string
	// Keyed: the call has an IVR path and keys pressed (the debtor took part).
	Keyed     bool
	Abandoned bool
}

// AttemptsSince calls fn with every attempt started at or after since,
// newest version of each, grouped by campaign, account and phone (then in
// start order), so a caller can handle one debtor's number at a time.
func AttemptsSince(ctx context.Context, conn driver.Conn, db string, since time.Time, fn func(AttemptOutcome) error) error {
	if !validIdent(db) {
		return fmt.Errorf("attempts: database name %q: letters, digits and _ only", db)
	}
	rows, err := conn.Query(ctx, `SELECT attempt_id, campaign_id, account_id, phone, toString(channel), started_at, ended_at,
    disposition, message_status, ivr_path != '' AND dtmf != '', abandoned
FROM `+db+`.contact_attempts FINAL WHERE started_at >= ? ORDER BY campaign_id, account_id, phone, started_at`, since.UTC())
	if err != nil {
		return fmt.Errorf("attempts: read %s.contact_attempts: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var o AttemptOutcome
		var ch string
		var keyed, abandoned uint8
		if err := rows.Scan(&o.AttemptID, &o.CampaignID, &o.AccountID, &o.Phone, &ch, &o.StartedAt, &o.EndedAt,
			&o.Disposition, &o.MessageStatus, &keyed, &abandoned); err != nil {
			return fmt.Errorf("attempts: scan: %w", err)
		}
		o.Channel, o.Keyed, o.Abandoned = Channel(ch), keyed == 1, abandoned == 1
		if o.EndedAt.Equal(epoch) {
			o.EndedAt = time.Time{}
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("attempts: read %s.contact_attempts: %w", db, err)
	}
	return nil
}
