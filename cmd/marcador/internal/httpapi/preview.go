package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/queue"
)

// Previews serves a preview campaign's agents (dialer/campaign.Runner):
// GET /api/v1/agents/{id}/next, POST /api/v1/agents/{id}/dial and /skip.
type Previews interface {
	PreviewNext(ctx context.Context, id string) (campaign.Preview, error)
	PreviewDial(ctx context.Context, id string) (json.RawMessage, error)
	PreviewSkip(ctx context.Context, id string, s campaign.Skip) (campaign.Skipped, error)
}

// previewNext takes GET /api/v1/agents/{id}/next: the account leased to
// the agent (the same one until it is dialled or skipped or its lease runs
// out), 204 when nothing may be called now.
func (a *API) previewNext(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	p, err := a.opt.Previews.PreviewNext(r.Context(), id)
	if errors.Is(err, campaign.ErrNothingDue) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		a.previewError(w, "next", err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// previewDial takes POST /api/v1/agents/{id}/dial (no body): the call to
// the leased account, placed by the node holding the agent's leg.
func (a *API) previewDial(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in struct{}
	if !decodeOptionalJSON(w, r, "dial", &in) {
		return
	}
	out, err := a.opt.Previews.PreviewDial(r.Context(), id)
	if err != nil {
		a.previewError(w, "dial", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// previewSkip takes POST /api/v1/agents/{id}/skip {"reason"}: the leased
// account back to the queue.
func (a *API) previewSkip(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var in campaign.Skip
	if !decodeJSON(w, r, maxAgentBody, "skip", &in) {
		return
	}
	out, err := a.opt.Previews.PreviewSkip(r.Context(), id, in)
	if err != nil {
		a.previewError(w, "skip", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// previewError: an unknown agent is 404, a refusal is answered as a call
// action's (409 not ready or nothing leased, 422 a bad reason).
func (a *API) previewError(w http.ResponseWriter, op string, err error) {
	var fe *agent.FieldError
	switch {
	case errors.Is(err, agent.ErrNotFound), errors.Is(err, queue.ErrNotFound), errors.Is(err, campaign.ErrNoAgents):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.As(err, &fe):
		a.agentError(w, op, err)
	default:
		a.callError(w, op, err)
	}
}
