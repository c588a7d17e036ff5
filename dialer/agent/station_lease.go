package agent

import (
	"context"
	"time"
)

// Run renews the leases of this node's agents every LeaseTTL/3, hangs up
// the legs of agents no longer held here (logged out by another node or
// reaped), pauses held agents found without a leg, and reaps the agents of
// nodes that stopped renewing, until ctx ends.
func (s *Station) Run(ctx context.Context) {
	t := time.NewTicker(s.pool.LeaseTTL() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.tick(ctx)
		}
	}
}

func (s *Station) tick(ctx context.Context) {
	renewed, err := s.pool.Renew(ctx, s.node)
	if err != nil {
		if ctx.Err() == nil && !s.down {
			s.down = true
			s.log.Error("agent station: leases not renewed; agents are reaped if this lasts past the lease", "node", s.node,
				"lease", s.pool.LeaseTTL().String(), "err", err)
		}
		return
	}
	if s.down {
		s.down = false
		s.log.Info("agent station: leases renewed again", "node", s.node)
	}
	heldHere := make(map[string]bool, len(renewed))
	for _, h := range renewed {
		heldHere[h.Agent] = true
	}
	s.mu.Lock()
	var gone []string
	for id, h := range s.legs {
		select {
		case <-h.ready:
		default:
			continue // being dialled: the login's own steps decide
		}
		if !heldHere[id] {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.log.Info("agent station: agent no longer held here; leg hung up", "agent", id, "node", s.node)
		s.hangUp(id)
	}
	for id := range heldHere {
		s.mu.Lock()
		_, has := s.legs[id]
		s.mu.Unlock()
		if !has {
			s.heal(ctx, id)
		}
	}
	freed, err := s.pool.Reap(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("agent station: reap failed", "err", err)
	}
	s.nodesLost(ctx, freed)
}

// nodesLost tells OnNodeLost, once per node, of the nodes whose agents the
// reaper just freed.
func (s *Station) nodesLost(ctx context.Context, freed []Freed) {
	if s.opt.OnNodeLost == nil {
		return
	}
	seen := map[string]bool{}
	for _, f := range freed {
		if f.Node != "" && f.Node != "_" && f.Node != s.node && !seen[f.Node] {
			seen[f.Node] = true
			s.opt.OnNodeLost(ctx, f.Node)
		}
	}
}

// heal pauses an agent held here with no leg that is not paused: its drop
// was not recorded (Redis failed then).
func (s *Station) heal(ctx context.Context, id string) {
	st, err := s.pool.Status(ctx, id)
	if err != nil || st.Node != s.node || st.State == Paused || st.State == LoggedOut {
		return
	}
	if _, err := s.pool.Disconnect(ctx, id, ReasonPhoneDisconnected); err == nil {
		s.log.Warn("agent station: agent had no phone leg on its node; paused", "agent", id, "campaign", st.Campaign,
			"node", s.node, "was", st.State, "reason", ReasonPhoneDisconnected, "call", st.Call)
		s.callLost(st, "no phone leg on its node")
	}
}
