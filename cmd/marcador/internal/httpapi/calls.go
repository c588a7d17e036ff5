package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/campaign"
)

// Calls serves /api/v1/calls/{id}: an agent call's live state from any
// node, and the agent's actions, carried out by the node holding the call
// (dialer/campaign.Runner).
type Calls interface {
	Call(ctx context.Context, id string) (agent.CallInfo, error)
	CallAction(ctx context.Context, id, op string, body any) (json.RawMessage, error)
	Recording(ctx context.Context, id string) (*os.File, error)
}

// Screens serves an agent's screen events (agent.Desk).
type Screens interface {
	Subscribe(ctx context.Context, agentID, after string) (<-chan agent.DeskEvent, error)
}

// getCall takes GET /api/v1/calls/{id}.
func (a *API) getCall(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	info, err := a.opt.Calls.Call(r.Context(), id)
	if err != nil {
		a.callError(w, "read", err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// callAction takes POST /api/v1/calls/{id}/hangup|disposition|transfer|sms.
func (a *API) callAction(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	var body any
	switch action {
	case "hangup":
		var in struct{}
		if !decodeOptionalJSON(w, r, action, &in) {
			return
		}
	case "disposition":
		var in campaign.Disposition
		if !decodeJSON(w, r, maxAgentBody, "disposition", &in) {
			return
		}
		body = in
	case "transfer":
		var in campaign.Transfer
		if !decodeJSON(w, r, maxAgentBody, "transfer", &in) {
			return
		}
		body = in
	case "sms":
		var in campaign.Text
		if !decodeOptionalJSON(w, r, action, &in) {
			return
		}
		body = in
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no call action %q: want hangup, disposition, transfer or sms", action))
		return
	}
	out, err := a.opt.Calls.CallAction(r.Context(), id, action, body)
	if err != nil {
		a.callError(w, action, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// callRecording takes GET /api/v1/calls/{id}/recording: the WAV file
// (stereo, debtor left, agent right), once the call has ended.
func (a *API) callRecording(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	f, err := a.opt.Calls.Recording(r.Context(), id)
	if err != nil {
		var elsewhere *campaign.RecordingElsewhere
		if errors.As(err, &elsewhere) {
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error(), "node": elsewhere.Node})
			return
		}
		if errors.Is(err, os.ErrNotExist) {
			writeError(w, http.StatusNotFound, "call "+id+": no recording on this node (the call was not recorded, is still in progress, or was recorded by a node whose recordings.dir is not shared)")
			return
		}
		a.log.Error("api: recording", "call", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "recording unavailable; try again")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeError(w, http.StatusNotFound, "call "+id+": no recording")
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filepath.Base(f.Name())+`"`)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// callError answers a call lookup or action's error.
func (a *API) callError(w http.ResponseWriter, op string, err error) {
	var ce *agent.CallError
	var fe *agent.FieldError
	switch {
	case errors.As(err, &ce):
		switch ce.Kind {
		case agent.CallNotFound:
			writeError(w, http.StatusNotFound, ce.Message)
		case agent.CallConflict:
			writeError(w, http.StatusConflict, ce.Message)
		case agent.CallInvalid:
			writeField(w, http.StatusUnprocessableEntity, ce.Message, ce.Field, ce.Reason)
		case agent.CallGone:
			writeError(w, http.StatusServiceUnavailable, ce.Message)
		default:
			a.log.Error("api: call action failed on its node", "op", op, "err", err)
			writeError(w, http.StatusServiceUnavailable, ce.Message)
		}
	case errors.Is(err, agent.ErrCallNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, agent.ErrCallTimeout):
		writeError(w, http.StatusGatewayTimeout, err.Error())
	case errors.As(err, &fe):
		writeField(w, http.StatusBadRequest, err.Error(), fe.Field, fe.Reason)
	default:
		a.log.Error("api: calls", "op", op, "err", err)
		writeError(w, http.StatusServiceUnavailable, "calls unavailable; try again")
	}
}

// sseHeartbeat keeps idle event streams (and proxies in front) from timing
// out.
const sseHeartbeat = 15 * time.Second

// agentEvents takes GET /api/v1/agents/{id}/events: the agent's screen
// events as server-sent events (event: call with the screen pop,
// call_ended, wrap_ended, digit), each with its id; a screen that
// reconnects with Last-Event-ID gets what it missed that is still kept.
func (a *API) agentEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if _, err := a.opt.Agents.Pool().Get(r.Context(), id); err != nil {
		a.agentError(w, "events", err)
		return
	}
	ctx := r.Context()
	evs, err := a.opt.Screens.Subscribe(ctx, id, r.Header.Get("Last-Event-ID"))
	var fe *agent.FieldError
	if errors.As(err, &fe) {
		writeField(w, http.StatusBadRequest, err.Error(), fe.Field, fe.Reason)
		return
	}
	if err != nil {
		a.agentError(w, "events", err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": agent "+id+"\n\n")
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case ev, ok := <-evs:
			if !ok {
				return // too slow: the screen reconnects with its last id
			}
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Kind, b)
		}
		if rc.Flush() != nil {
			return
		}
	}
}
