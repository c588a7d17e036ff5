// Package restore rebuilds what Redis lost from what ClickHouse keeps: the
// do-not-contact lists from dnc_events and the compliance history from
// contact_attempts. What came only from uploads (campaigns, accounts,
// queues) it cannot rebuild, and it says which campaigns those are.
package restore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
)

// DNCReport says what DNC did.
type DNCReport struct {
	Listed   int // listings put back (one per phone, channel and list)
	Unlisted int // numbers whose newest action was a removal: left off
}

// DNC lists again every number whose newest dnc_events action is a listing.
// It never takes a listing off: a removal ClickHouse has not received yet
// must not undo a listing Redis still has, so a rebuild can only block more.
func DNC(ctx context.Context, conn driver.Conn, db string, gate *compliance.Gate) (DNCReport, error) {
	var r DNCReport
	read, err := analytics.NewReader(conn, db)
	if err != nil {
		return r, fmt.Errorf("dnc rebuild: %w", err)
	}
	var batch []compliance.DNCEntry
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := gate.RestoreDNC(ctx, batch...); err != nil {
			return err
		}
		r.Listed += len(batch)
		batch = batch[:0]
		return nil
	}
	err = read.LatestDNC(ctx, func(e analytics.DNCEvent) error {
		if e.Action != analytics.DNCAdd {
			r.Unlisted++
			return nil
		}
		batch = append(batch, compliance.DNCEntry{Phone: e.Phone, Channel: string(e.Channel), Campaign: e.CampaignID,
			Reason: e.Reason, Source: e.Source, At: e.At})
		if len(batch) == 500 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return r, fmt.Errorf("dnc rebuild: %w", err)
	}
	return r, nil
}

// HistoryReport says what History did.
type HistoryReport struct {
	Since    time.Time
	Attempts int // attempt rows read
	Events   int // history events added
	// Unmatched attempts belong to accounts Redis does not hold (yet): their
	// history is kept by account id, not by the debtor's national id.
	Unmatched int
	// MissingCampaigns had attempts in the window but no definition in Redis.
	MissingCampaigns []string
}

// History puts the compliance history of the caps' window (the gate's
// retention) back from contact_attempts: every attempt the gate let through,
// the contacts and conversations, abandoned calls. Run it after the
// campaigns' accounts are uploaded again so a debtor's history is found by
// national id; running it again adds nothing twice.
func History(ctx context.Context, conn driver.Conn, db string, gate *compliance.Gate, store *queue.Store) (HistoryReport, error) {
	now := gate.Now()
	r := HistoryReport{Since: now.Add(-gate.Retention())}
	read, err := analytics.NewReader(conn, db)
	if err != nil {
		return r, fmt.Errorf("history rebuild: %w", err)
	}
	campaigns := map[string]bool{}
	var group string
	var matched bool
	var subj compliance.Subject
	var events []compliance.Event
	flush := func() error {
		if len(events) == 0 {
			return nil
		}
		n, err := gate.RestoreHistory(ctx, subj, events)
		r.Events += n
		events = events[:0]
		return err
	}
	err = read.AttemptsSince(ctx, r.Since, func(o analytics.AttemptOutcome) error {
		r.Attempts++
		if o.AccountID != "" {
			campaigns[o.CampaignID] = true
		}
		if g := o.CampaignID + "\x00" + o.AccountID + "\x00" + o.Phone; g != group {
			if err := flush(); err != nil {
				return err
			}
			group = g
			subj, matched = compliance.Subject{Phone: o.Phone, Account: o.AccountID, Campaign: o.CampaignID}, true
			if o.AccountID != "" {
				a, err := store.Account(ctx, o.CampaignID, o.AccountID)
				switch {
				case err == nil:
					subj.NationalID, subj.Country, subj.TimeZone = a.NationalID, a.Country, a.TimeZone
				case errors.Is(err, queue.ErrNotFound):
					matched = false
				default:
					return err
				}
			}
		}
		if !matched {
			r.Unmatched++
		}
		events = append(events, Events(o)...)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return r, fmt.Errorf("history rebuild: %w", err)
	}
	for id := range campaigns {
		if _, err := store.Campaign(ctx, id); errors.Is(err, queue.ErrNotFound) {
			r.MissingCampaigns = append(r.MissingCampaigns, id)
		} else if err != nil {
			return r, fmt.Errorf("history rebuild: %w", err)
		}
	}
	sort.Strings(r.MissingCampaigns)
	return r, nil
}

// Events are the history events one attempt row stands for, as the runner,
// the inbound line and the SMS sender recorded them when it happened.
func Events(o analytics.AttemptOutcome) []compliance.Event {
	ch := o.Channel
	ev := func(kind string, at time.Time) compliance.Event {
		return compliance.Event{At: at, Channel: ch, Kind: kind, Account: o.AccountID, AttemptID: o.AttemptID}
	}
	ended := o.EndedAt
	if ended.IsZero() {
		ended = o.StartedAt
	}
	var out []compliance.Event
	switch {
	case o.Disposition == analytics.Blocked || o.Disposition == analytics.LocalError:
		// refused by the gate, or released: never let through
	case o.Disposition == analytics.Inbound:
		// the debtor called us: no attempt; identified, it was a conversation
		if o.AccountID != "" {
			out = append(out, ev(compliance.KindContact, ended), ev(compliance.KindConversation, ended))
		}
	case o.Channel != analytics.Voice && o.Disposition == analytics.ConfigError:
		// a text that could not be rendered never reached the gate
	default:
		out = append(out, ev(compliance.KindAttempt, o.StartedAt))
		switch {
		case analytics.Spoke(o.Channel, o.Disposition, o.Keyed) || // the runner's rules: never a wrong party or an unverified answer
			o.Channel == analytics.Voice && analytics.AgentTalked(o.AgentID, o.TalkMS, o.Disposition, o.AgentCode, o.RightParty):
			out = append(out, ev(compliance.KindContact, ended), ev(compliance.KindConversation, ended))
		case o.Channel != analytics.Voice && (o.MessageStatus == "delivered" || o.MessageStatus == "read"):
			out = append(out, ev(compliance.KindContact, ended))
		}
	}
	if o.Abandoned {
		out = append(out, ev(compliance.KindAbandoned, ended))
	}
	return out
}
