package analytics

import (
	"fmt"
	"time"
)

// AgentState is one interval an agent spent in one state (ready, reserved,
// talking, wrap_up, paused) in a campaign, written once the interval ends.
// Time logged out is not written. Occupancy and agent-hours are read from
// these rows.
type AgentState struct {
	IntervalID string // UUIDv7 (NewAttemptID); a row written again keeps it
	AgentID    string
	CampaignID string
	NodeID     string
	State      string // ready, reserved, talking, wrap_up, paused
	Reason     string // a pause's reason code
	StartedAt  time.Time
	EndedAt    time.Time
	Ver        uint64
}

// AgentStates are the states an AgentState row may hold.
func AgentStates() []string { return []string{"ready", "reserved", "talking", "wrap_up", "paused"} }

const agentStateV1 byte = 1

// Validate reports what makes the row unwritable, naming the field.
func (s *AgentState) Validate() error {
	if s.IntervalID == "" {
		return fmt.Errorf("agent state: %w", fieldErr("interval_id", "missing"))
	}
	err := checks(
		ids("interval_id", s.IntervalID, "agent_id", s.AgentID, "campaign_id", s.CampaignID, "node_id", s.NodeID),
		codes("reason", s.Reason),
		s.columnErr(),
	)
	if err == nil && s.AgentID == "" {
		err = fieldErr("agent_id", "missing")
	}
	if err != nil {
		return fmt.Errorf("agent state %s: %w", clip(s.IntervalID, MaxIDBytes), err)
	}
	return nil
}

func (s *AgentState) columnErr() error {
	known := false
	for _, st := range AgentStates() {
		known = known || s.State == st
	}
	switch {
	case !known:
		return fieldErr("state", "%q: want ready, reserved, talking, wrap_up or paused", clip(s.State, 16))
	case s.EndedAt.Before(s.StartedAt):
		return fieldErr("ended_at", "%s is before started_at %s", s.EndedAt.UTC().Format(time.RFC3339),
			s.StartedAt.UTC().Format(time.RFC3339))
	}
	return checks(CheckDateTime("started_at", s.StartedAt, true), CheckDateTime("ended_at", s.EndedAt, true))
}

// AppendBinary appends the spool encoding of s to b.
func (s *AgentState) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, kindAgent, agentStateV1)}
	e.str(s.IntervalID)
	e.str(s.AgentID)
	e.str(s.CampaignID)
	e.str(s.NodeID)
	e.str(s.State)
	e.str(s.Reason)
	e.t(s.StartedAt)
	e.t(s.EndedAt)
	e.u(s.Ver)
	return e.b, nil
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (s *AgentState) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] != kindAgent || b[1] != agentStateV1 {
		return fmt.Errorf("agent state row: not a v%d agent state record", agentStateV1)
	}
	d := dec{b: b[2:]}
	*s = AgentState{IntervalID: d.str(), AgentID: d.str(), CampaignID: d.str(), NodeID: d.str(), State: d.str(),
		Reason: d.str(), StartedAt: d.t(), EndedAt: d.t(), Ver: d.u()}
	if d.err != nil {
		return fmt.Errorf("agent state row: %w", d.err)
	}
	return nil
}
