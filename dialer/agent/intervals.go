package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/marcador/marcador/analytics"
)

// StateLog takes the agent_states rows (analytics/writer.Writer is one).
type StateLog interface {
	Write(ctx context.Context, row analytics.Row) error
}

// exit is an interval an agent left, as the state scripts report it (see
// luaCommon's exits): it ended at the script's now.
type exit struct {
	Agent  string `json:"agent"`
	State  State  `json:"state"`
	Since  luaInt `json:"since"`
	Reason string `json:"reason"`
	Node   string `json:"node"`
}

// logExits writes the agent_states row of each interval a transition of
// campaign at now ended: the agents' occupancy and hours are read from
// them. A row the writer refuses is logged (the writer spools, so that is
// a full disk, not ClickHouse down); the transition stands.
func (p *Pool) logExits(ctx context.Context, campaign string, now time.Time, raw []string) {
	if p.states == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, r := range raw {
		var x exit
		if err := json.Unmarshal([]byte(r), &x); err != nil {
			p.log.Error("agent: state interval not recorded: it does not decode", "campaign", campaign, "interval", r, "err", err)
			continue
		}
		row := &analytics.AgentState{IntervalID: analytics.NewAttemptID(), AgentID: x.Agent, CampaignID: campaign, NodeID: x.Node,
			State: string(x.State), Reason: x.Reason, StartedAt: fromMS(int64(x.Since)), EndedAt: now, Ver: 1}
		if err := p.states.Write(ctx, row); err != nil {
			p.log.Error("agent: state interval not recorded", "agent", x.Agent, "campaign", campaign, "state", x.State,
				"from", row.StartedAt, "to", now, "err", err)
		}
	}
}
