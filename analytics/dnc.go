package analytics

import (
	"fmt"
	"time"
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
	d, _, err := openRecord(b, kindDNC, "dnc event", dncV1)
	if err != nil {
		return err
	}
	*e = DNCEvent{EventID: d.str(), Phone: d.str(), Channel: Channel(d.str()), CampaignID: d.str(), Action: d.str(),
		Reason: d.str(), Source: d.str(), At: d.t(), NodeID: d.str(), Ver: d.u()}
	return d.close("dnc event")
}
