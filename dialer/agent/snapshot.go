package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/dialer/pacing"
)

// Counts are a campaign's logged-in agents by state, over every node (for
// GET /api/v1/campaigns/{id}). Leaving counts the agents in a call who asked
// to pause or log out after it.
type Counts struct {
	LoggedIn int `json:"logged_in"`
	Ready    int `json:"ready"`
	Reserved int `json:"reserved"`
	Talking  int `json:"talking"`
	WrapUp   int `json:"wrap_up"`
	Paused   int `json:"paused"`
	Leaving  int `json:"leaving"`
}

// Snapshot is a campaign's agents as a pacer on one node sees them.
type Snapshot struct {
	// Agents are the logged-in agents node holds (paused ones included), as
	// pacing.Snapshot.Agents wants them.
	Agents []pacing.Agent
	// Counts are over every node.
	Counts Counts
	// At is the clock's time the InState durations are measured at.
	At time.Time
}

// pacingState maps a logged-in state to the pacer's.
func pacingState(s State) (pacing.AgentState, bool) {
	switch s {
	case Ready:
		return pacing.Ready, true
	case Reserved:
		return pacing.Reserved, true
	case Talking:
		return pacing.Talking, true
	case WrapUp:
		return pacing.Wrap, true
	case Paused:
		return pacing.Paused, true
	}
	return 0, false
}

// Snapshot reads, in one round trip, the agents of campaign that node holds
// (appended to dst[:0], so a tick loop can reuse the slice) and the
// campaign's counts over every node. node "" reads the counts only.
func (p *Pool) Snapshot(ctx context.Context, campaign, node string, dst []pacing.Agent) (Snapshot, error) {
	if err := checkRef("campaign", campaign); err != nil {
		return Snapshot{}, err
	}
	if node != "" {
		if err := checkRef("node", node); err != nil {
			return Snapshot{}, err
		}
	}
	now := p.now()
	v, err := snapshotScript.Run(ctx, p.rdb, []string{ck(campaign).state()}, node).Slice()
	if err != nil {
		return Snapshot{}, fmt.Errorf("agent snapshot of %s: %w", campaign, err)
	}
	n := func(i int) int { x, _ := v[i].(int64); return int(x) }
	s := Snapshot{At: now, Agents: dst[:0], Counts: Counts{LoggedIn: n(0), Ready: n(1), Reserved: n(2),
		Talking: n(3), WrapUp: n(4), Paused: n(5), Leaving: n(6)}}
	list, _ := v[7].([]any)
	for i := 0; i+2 < len(list); i += 3 {
		name, _ := list[i].(string)
		since, _ := list[i+1].(int64)
		leaving, _ := list[i+2].(int64)
		st, ok := pacingState(State(name))
		if !ok {
			continue
		}
		in := now.Sub(time.UnixMilli(since))
		if in < 0 {
			in = 0 // another node's clock a little ahead
		}
		s.Agents = append(s.Agents, pacing.Agent{State: st, InState: in, Leaving: leaving == 1})
	}
	return s, nil
}

// Counts reads a campaign's agents by state over every node.
func (p *Pool) Counts(ctx context.Context, campaign string) (Counts, error) {
	s, err := p.Snapshot(ctx, campaign, "", nil)
	return s.Counts, err
}

// AgentStatus is one line of the agent list (GET /api/v1/agents): the
// definition, the state, the time in it and today's figures.
type AgentStatus struct {
	Agent
	Status  Status        `json:"status"`
	InState time.Duration `json:"in_state"`
	Today   DayStats      `json:"today"`
}

// Roster reads every agent with its state, time in state and today's
// figures, by id, in a few round trips whatever the number of agents.
func (p *Pool) Roster(ctx context.Context) ([]AgentStatus, error) {
	agents, err := p.List(ctx)
	if err != nil {
		return nil, err
	}
	where, err := p.rdb.HGetAll(ctx, whereKey).Result()
	if err != nil {
		return nil, fmt.Errorf("agent list: locations: %w", err)
	}
	now := p.now()
	day := p.day(now)
	pipe := p.rdb.Pipeline()
	states := make([]*redis.StringCmd, len(agents))
	days := make([][]*redis.SliceCmd, len(agents))
	for i, a := range agents {
		cs := a.Campaigns
		if l, ok := parseLocation(where[a.ID]); ok {
			states[i] = pipe.HGet(ctx, ck(l.campaign).state(), a.ID)
			if !slices.Contains(cs, l.campaign) {
				cs = append(cs[:len(cs):len(cs)], l.campaign)
			}
		}
		for _, c := range cs {
			days[i] = append(days[i], dayCmd(ctx, pipe, ck(c).agentDay(day), a.ID))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("agent list: states: %w", err)
	}
	out := make([]AgentStatus, len(agents))
	for i, a := range agents {
		st := Status{Agent: a.ID, State: LoggedOut}
		if states[i] != nil {
			l, _ := parseLocation(where[a.ID])
			if st, err = decodeEntry(a.ID, l.campaign, states[i].Val()); err != nil {
				return nil, err
			}
		}
		var d DayStats
		for _, c := range days[i] {
			d.add(parseDay(c.Val()))
		}
		d.addState(st.State, st.InState(now))
		out[i] = AgentStatus{Agent: a, Status: st, InState: st.InState(now), Today: d}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
