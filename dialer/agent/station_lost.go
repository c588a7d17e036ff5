package agent

import (
	"context"
	"errors"
	"time"
)

// CallLost is an agent call whose agent's phone leg dropped.
type CallLost struct {
	Agent, Campaign string
	Call            string // the call's attempt id
	State           State  // what the agent was doing: reserved, talking or wrap_up
	Why             string // how the leg ended
}

// lost handles a leg that dropped without the station ending it: the agent
// is paused with reason phone_disconnected (unless it has logged out or in
// again meanwhile), and the drop is logged once.
func (s *Station) lost(h *held, why string) {
	s.mu.Lock()
	if s.legs[h.agent] == h {
		delete(s.legs, h.agent)
	}
	closing := s.closing
	s.mu.Unlock()
	select {
	case <-h.ours:
		return
	default:
	}
	h.release()
	if closing {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.pool.Status(ctx, h.agent)
	if errors.Is(err, ErrNotFound) {
		return // the agent was deleted
	}
	if err == nil && (st.State == LoggedOut || st.Node != s.node || !st.LoginAt.Equal(h.loginAt)) {
		s.log.Debug("agent station: leg of an earlier login ended", "agent", h.agent, "call_id", h.leg.CallID, "why", why)
		return
	}
	was := st
	if err == nil {
		st, err = s.pool.Disconnect(ctx, h.agent, ReasonPhoneDisconnected)
	}
	if err != nil && !errors.Is(err, ErrTransition) {
		s.log.Error("agent station: phone leg lost; agent not paused (Redis): the next renewal retries", "agent", h.agent,
			"campaign", h.campaign, "call_id", h.leg.CallID, "why", why, "err", err)
		return
	}
	s.log.Warn("agent station: phone leg lost; agent paused", "agent", h.agent, "campaign", h.campaign, "node", s.node,
		"call_id", h.leg.CallID, "why", why, "reason", ReasonPhoneDisconnected, "state", st.State, "call", was.Call)
	s.callLost(was, why)
}

// callLost tells OnCallLost about the call an agent had when its leg went.
func (s *Station) callLost(was Status, why string) {
	if was.Call == "" || s.opt.OnCallLost == nil {
		return
	}
	s.opt.OnCallLost(CallLost{Agent: was.Agent, Campaign: was.Campaign, Call: was.Call, State: was.State, Why: why})
}
