package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/marcador/marcador/dialer/agent"
)

// Agents serves /api/v1/agents: definitions and the roster from its pool,
// state changes through the node's leg holder (agent.Station), which calls
// an agent's phone at login.
type Agents interface {
	Pool() *agent.Pool
	Login(ctx context.Context, id, campaign string) (agent.Status, error)
	Ready(ctx context.Context, id string) (agent.Status, error)
	Pause(ctx context.Context, id, reason string) (agent.Status, error)
	Logout(ctx context.Context, id string) (agent.Status, error)
}

// maxAgentBody bounds an agent definition or action body.
const maxAgentBody = 64 << 10

// AgentView is an agent as GET /api/v1/agents shows it: its definition
// (never a credential), its state and today's figures. Durations are
// seconds.
type AgentView struct {
	agent.Agent
	StatusView
	Today TodayView `json:"today"`
}

// StatusView is an agent's state: what the state routes answer.
type StatusView struct {
	State agent.State `json:"state"`
	// Campaign and Node are where the agent is logged in: the node that
	// holds its nailed-up leg.
	Campaign string `json:"campaign,omitempty"`
	Node     string `json:"node,omitempty"`
	// Reason is the pause code when paused.
	Reason string `json:"reason,omitempty"`
	// Leaving is a pause or logout asked for during a call.
	Leaving     agent.Leaving `json:"leaving,omitempty"`
	LeaveReason string        `json:"leave_reason,omitempty"`
	Call        string        `json:"call,omitempty"`
	Since       time.Time     `json:"since,omitzero"`
	InState     float64       `json:"in_state_s"`
}

// TodayView is an agent's figures of the day (agents.time_zone).
type TodayView struct {
	Calls  int64   `json:"calls"`
	Talk   float64 `json:"talk_s"`
	WrapUp float64 `json:"wrap_up_s"`
	Ready  float64 `json:"ready_s"`
	Paused float64 `json:"paused_s"`
}

func statusView(st agent.Status, now time.Time) StatusView {
	return StatusView{State: st.State, Campaign: st.Campaign, Node: st.Node, Reason: st.Reason, Leaving: st.Leaving,
		LeaveReason: st.LeaveReason, Call: st.Call, Since: st.Since, InState: secs(st.InState(now))}
}

func secs(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func agentView(s agent.AgentStatus, now time.Time) AgentView {
	if s.Agent.Campaigns == nil {
		s.Agent.Campaigns = []string{}
	}
	v := AgentView{Agent: s.Agent, StatusView: statusView(s.Status, now)}
	v.InState = secs(s.InState)
	v.Today = TodayView{Calls: s.Today.Calls, Talk: secs(s.Today.Talk), WrapUp: secs(s.Today.Wrap), Ready: secs(s.Today.Ready),
		Paused: secs(s.Today.Paused)}
	return v
}

// putAgent takes POST /api/v1/agents: create (201) or update (200) an
// agent. The password is turned into HA1 values at once; it is never
// stored, logged or answered.
func (a *API) putAgent(w http.ResponseWriter, r *http.Request) {
	var d agent.Definition
	if !decodeJSON(w, r, maxAgentBody, "agent", &d) {
		return
	}
	ag, created, err := a.opt.Agents.Pool().Put(r.Context(), d)
	if err != nil {
		a.agentError(w, "save", err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		a.log.Info("api: agent created", "agent", ag.ID, "sip_user", ag.SIPUser)
	}
	writeJSON(w, code, ag)
}

// listAgents takes GET /api/v1/agents: every agent with its state, time in
// state and today's calls and talk time, by id.
func (a *API) listAgents(w http.ResponseWriter, r *http.Request) {
	roster, err := a.opt.Agents.Pool().Roster(r.Context())
	if err != nil {
		a.agentError(w, "list", err)
		return
	}
	now := time.Now()
	out := make([]AgentView, len(roster))
	for i, s := range roster {
		out[i] = agentView(s, now)
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out})
}

// getAgent takes GET /api/v1/agents/{id}.
func (a *API) getAgent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	p := a.opt.Agents.Pool()
	ag, err := p.Get(r.Context(), id)
	if err != nil {
		a.agentError(w, "read", err)
		return
	}
	st, err := p.Status(r.Context(), id)
	if err != nil {
		a.agentError(w, "read", err)
		return
	}
	today, err := p.Today(r.Context(), id)
	if err != nil {
		a.agentError(w, "read", err)
		return
	}
	now := time.Now()
	writeJSON(w, http.StatusOK, agentView(agent.AgentStatus{Agent: ag, Status: st, InState: st.InState(now), Today: today}, now))
}

// agentAction takes POST /api/v1/agents/{id}/login|ready|pause|logout.
// login: {"campaign"} (optional when the agent works one campaign); it
// answers once the agent's phone has taken the nailed-up call. pause:
// {"reason"} (required, a code such as lunch). ready and logout take no
// body.
func (a *API) agentAction(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	var (
		st  agent.Status
		err error
	)
	ag := a.opt.Agents
	ctx := r.Context()
	switch action {
	case "login":
		var in struct {
			Campaign string `json:"campaign"`
		}
		if !decodeOptionalJSON(w, r, "login", &in) {
			return
		}
		st, err = ag.Login(ctx, id, in.Campaign)
	case "pause":
		var in struct {
			Reason string `json:"reason"`
		}
		if !decodeOptionalJSON(w, r, "pause", &in) {
			return
		}
		if in.Reason == "" {
			writeField(w, http.StatusUnprocessableEntity, "agent "+id+": reason: required",
				"reason", "required: a pause code such as break, lunch or training")
			return
		}
		st, err = ag.Pause(ctx, id, in.Reason)
	case "ready", "logout":
		var in struct{}
		if !decodeOptionalJSON(w, r, action, &in) {
			return
		}
		if action == "ready" {
			st, err = ag.Ready(ctx, id)
		} else {
			st, err = ag.Logout(ctx, id)
		}
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no agent action %q: want login, ready, pause or logout", action))
		return
	}
	if err != nil {
		a.agentError(w, action, err)
		return
	}
	writeJSON(w, http.StatusOK, statusView(st, time.Now()))
}

// decodeOptionalJSON is decodeJSON for a body that may be absent or empty.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, what string, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAgentBody))
	if err != nil {
		bodyError(w, what+" body", err)
		return false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return true
	}
	if err := decodeOne(bytes.NewReader(b), v); err != nil {
		bodyError(w, what+" body", err)
		return false
	}
	return true
}

// agentError answers an agent pool or station error: 404 for an unknown
// agent, 422 with the field for bad input, 409 for a transition the
// agent's state does not allow or a phone that cannot be reached (with
// "state", or "reason" phone_not_registered or phone_unreachable), 503
// otherwise (ours, logged).
func (a *API) agentError(w http.ResponseWriter, op string, err error) {
	var fe *agent.FieldError
	var te *agent.TransitionError
	switch {
	case errors.As(err, &fe):
		writeField(w, http.StatusUnprocessableEntity, err.Error(), fe.Field, fe.Reason)
	case errors.Is(err, agent.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, agent.ErrCampaignNotAllowed):
		writeField(w, http.StatusUnprocessableEntity, err.Error(), "campaign", "not one of the agent's campaigns")
	case errors.As(err, &te):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error(), "state": string(te.Current), "campaign": te.Campaign})
	case errors.Is(err, agent.ErrNoPhone):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error(), "reason": "phone_not_registered"})
	case errors.Is(err, agent.ErrPhoneUnreachable):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error(), "reason": "phone_unreachable"})
	case errors.Is(err, agent.ErrStopping):
		writeError(w, http.StatusServiceUnavailable, "the node is stopping; try another")
	default:
		a.log.Error("api: agents", "op", op, "err", err)
		writeError(w, http.StatusServiceUnavailable, "agents unavailable; try again")
	}
}
