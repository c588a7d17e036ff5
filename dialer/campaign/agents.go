package campaign

// Agent campaigns: what the runner does besides IVR campaigns when it has
// a Station (Options.Agents). A progressive or predictive campaign dials
// for the agents this node holds, as its pacer decides (pace.go); each
// answer goes to the longest-idle ready agent (agentcall.go); the agents
// act on their calls from any node's API (Calls, commands.go).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/queue"
)

// History is what a screen pop shows of an account's past
// (analytics.Reader).
type History interface {
	AccountAttempts(ctx context.Context, campaign, account string, n int, now time.Time) ([]analytics.Attempt, error)
}

// checkAgents says why an agent campaign cannot run on this node.
func (r *Runner) checkAgents(c queue.Campaign) error {
	if r.opt.Agents == nil {
		return fmt.Errorf("campaign %s: mode %s needs agents, and this node holds none (no agents' station)", c.ID, c.Mode)
	}
	if s := c.AbandonScriptName(); r.opt.Scripts[s] == nil {
		return &queue.FieldError{Campaign: c.ID, Field: "abandon_script", Reason: fmt.Sprintf("%q is not loaded", s)}
	}
	if c.Record && r.opt.RecordingsDir == "" {
		return &queue.FieldError{Campaign: c.ID, Field: "record", Reason: "this node has no recordings.dir"}
	}
	if n := c.RecordingNotice; n != "" && r.opt.Library != nil {
		for _, lang := range []string{c.Language, queue.DefaultLanguage, "en"} {
			if !r.opt.Library.Has(lang + "/" + n) {
				return &queue.FieldError{Campaign: c.ID, Field: "recording_notice", Reason: fmt.Sprintf("no recording %s/%s.wav", lang, n)}
			}
		}
	}
	return nil
}

// CallLost is the station's OnCallLost: the agent of one of this node's
// calls lost its phone leg.
func (r *Runner) CallLost(c agent.CallLost) {
	if lc := r.liveCall(c.Call); lc != nil {
		select {
		case lc.lost <- c:
		default:
		}
	}
}

func (r *Runner) liveCall(id string) *liveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live[id]
}

// startCalls takes actions on this node's agent calls from every node.
func (r *Runner) startCalls() {
	if r.opt.Agents == nil || r.opt.Store == nil {
		return
	}
	var err error
	r.agentCalls, err = agent.NewCalls(agent.CallsOptions{Client: r.opt.Store.Client(), Node: r.opt.Node, Handle: r.handleCall,
		Logger: r.log})
	if err != nil {
		r.log.Error("campaign: agent calls cannot be acted on from other nodes", "err", err)
		return
	}
	r.loopW.Add(1)
	go func() {
		defer r.loopW.Done()
		r.agentCalls.Run(r.ctx)
	}()
}

// ErrNoAgents: this node has no agents' station, so no agent calls.
var ErrNoAgents = errors.New("this node holds no agent calls")

// Call reads an agent call's live state (agent.ErrCallNotFound).
func (r *Runner) Call(ctx context.Context, id string) (agent.CallInfo, error) {
	if r.agentCalls == nil {
		return agent.CallInfo{}, ErrNoAgents
	}
	return r.agentCalls.Get(ctx, id)
}

// CallAction sends an action on an agent call to the node holding it:
// hangup, disposition (Disposition), transfer (Transfer), sms (Text). The
// answer is the holder's JSON; a refusal is an *agent.CallError.
func (r *Runner) CallAction(ctx context.Context, id, op string, body any) (json.RawMessage, error) {
	if r.agentCalls == nil {
		return nil, ErrNoAgents
	}
	switch op {
	case opHangup, opDisposition, opTransfer, opSMS:
	default:
		return nil, &agent.CallError{Kind: agent.CallInvalid, Field: "action", Reason: "want hangup, disposition, transfer or sms",
			Message: fmt.Sprintf("no call action %q", op)}
	}
	return r.agentCalls.Do(ctx, id, op, body)
}

// RecordingErrors counts agent calls whose recording could not be
// written (marcador_recording_errors_total).
func (r *Runner) RecordingErrors() int64 { return r.recErrors.Load() }

// Recording opens the recording of call id under recordings.dir.
func (r *Runner) Recording(id string) (*os.File, error) {
	if r.opt.RecordingsDir == "" {
		return nil, fmt.Errorf("call %s: no recordings.dir: %w", id, os.ErrNotExist)
	}
	rel, err := RecordingName(id)
	if err != nil {
		return nil, err
	}
	return openUnder(r.opt.RecordingsDir, rel)
}
