package analytics

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// LatestDNC calls fn with the newest event of every (phone, channel,
// campaign) in dnc_events: the listing as it should stand (what `marcador
// dnc rebuild` puts back in Redis).
func (r *Reader) LatestDNC(ctx context.Context, fn func(DNCEvent) error) error {
	return each(ctx, r, "dnc events", `SELECT phone, toString(channel), campaign_id, toString(argMax(action, ver)),
    argMax(reason, ver), argMax(source, ver), argMax(at, ver), argMax(node_id, ver), argMax(event_id, ver), max(ver)
FROM {db}.dnc_events GROUP BY phone, channel, campaign_id`, nil,
		func(rows driver.Rows) (DNCEvent, error) {
			var e DNCEvent
			var ch string
			err := rows.Scan(&e.Phone, &ch, &e.CampaignID, &e.Action, &e.Reason, &e.Source, &e.At, &e.NodeID, &e.EventID, &e.Ver)
			e.Channel = Channel(ch)
			return e, err
		}, fn)
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
	// An agent's call: the agent, the bridged time (0: never bridged), the
	// agent's code and whether it was the debtor (AgentTalked).
	AgentID, AgentCode string
	TalkMS             uint32
	RightParty         bool
}

// AttemptsSince calls fn with every attempt started at or after since,
// newest version of each, grouped by campaign, account and phone (then in
// start order), so a caller can handle one debtor's number at a time.
func (r *Reader) AttemptsSince(ctx context.Context, since time.Time, fn func(AttemptOutcome) error) error {
	return each(ctx, r, "attempts", `SELECT attempt_id, campaign_id, account_id, phone, toString(channel), started_at, ended_at,
    disposition, message_status, ivr_path != '' AND dtmf != '', abandoned, agent_id, agent_code, talk_ms, right_party
FROM {db}.contact_attempts FINAL WHERE started_at >= ? ORDER BY campaign_id, account_id, phone, started_at`, []any{since.UTC()},
		func(rows driver.Rows) (AttemptOutcome, error) {
			var o AttemptOutcome
			var ch string
			var keyed, abandoned, right uint8
			err := rows.Scan(&o.AttemptID, &o.CampaignID, &o.AccountID, &o.Phone, &ch, &o.StartedAt, &o.EndedAt,
				&o.Disposition, &o.MessageStatus, &keyed, &abandoned, &o.AgentID, &o.AgentCode, &o.TalkMS, &right)
			o.Channel, o.Keyed, o.Abandoned, o.RightParty = Channel(ch), keyed == 1, abandoned == 1, right == 1
			if o.EndedAt.Equal(epoch) {
				o.EndedAt = time.Time{}
			}
			return o, err
		}, fn)
}
