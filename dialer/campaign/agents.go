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
	// Calls this node's last run left live died with it.
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	if _, err := r.agentCalls.EndNode(ctx, r.opt.Node, agent.ReasonNodeRestarted); err != nil {
		r.log.Warn("campaign: calls of this node's last run not ended", "err", err)
	}
	r.loopW.Add(1)
	go func() {
		defer r.loopW.Done()
		r.agentCalls.Run(r.ctx)
	}()
}

// NodeLost is the station's OnNodeLost: the calls of a node that died
// (its agents' leases ran out) end, reason node_lost.
func (r *Runner) NodeLost(ctx context.Context, node string) {
	if r.agentCalls == nil {
		return
	}
	if _, err := r.agentCalls.EndNode(ctx, node, agent.ReasonNodeLost); err != nil {
		r.log.Warn("campaign: calls of a lost node not ended", "node", node, "err", err)
	}
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

// RecordingElsewhere: the call's recording is on another node's disk
// (recordings are written by the node that held the call, and their bytes
// are too big for the calls' Pub/Sub). The API answers 409 naming it.
type RecordingElsewhere struct {
	Call, Node string
}

func (e *RecordingElsewhere) Error() string {
	return fmt.Sprintf("call %s: recording is on node %s", e.Call, e.Node)
}

// Recording opens the recording of call id under recordings.dir; a call
// another node held and recorded (its state, kept an hour after it ended,
// says so) is a *RecordingElsewhere naming that node.
func (r *Runner) Recording(ctx context.Context, id string) (*os.File, error) {
	rel, err := RecordingName(id)
	if err != nil {
		return nil, err
	}
	var f *os.File
	if r.opt.RecordingsDir == "" {
		err = fmt.Errorf("call %s: no recordings.dir: %w", id, os.ErrNotExist)
	} else {
		f, err = openUnder(r.opt.RecordingsDir, rel)
	}
	if err == nil || !errors.Is(err, os.ErrNotExist) || r.agentCalls == nil {
		return f, err
	}
	if info, gerr := r.agentCalls.Get(ctx, id); gerr == nil && info.Recording != "" && info.Node != r.opt.Node {
		return nil, &RecordingElsewhere{Call: id, Node: info.Node}
	}
	return nil, err
}
