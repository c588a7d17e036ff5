package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/queue"
)

// PreviewDial places the call to the account leased to ready agent id,
// from the node holding the agent's leg (wherever the request arrives).
// The answer is that node's CallAnswer (state ringing).
func (r *Runner) PreviewDial(ctx context.Context, id string) (json.RawMessage, error) {
	st, _, err := r.previewAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.State != agent.Ready {
		return nil, notReady(st)
	}
	return r.agentCalls.DoOn(ctx, st.Node, id, opPreviewDial, nil)
}

// previewDial is PreviewDial on the node holding agent id's leg: the agent
// reserved for the call, the lease taken, the call placed on its own
// goroutine.
func (r *Runner) previewDial(ctx context.Context, id string) (any, error) {
	st, c, err := r.previewAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.State != agent.Ready {
		return nil, notReady(st)
	}
	if st.Node != r.opt.Node {
		return nil, conflict("agent %s's phone leg is on node %s now, not %s", id, st.Node, r.opt.Node)
	}
	if err := r.ready(); err != nil {
		return nil, err
	}
	trunk := r.opt.Trunks[c.Trunk]
	if trunk == nil {
		return nil, conflict("campaign %s: trunk %q is not configured on node %s", c.ID, c.Trunk, r.opt.Node)
	}
	pl, raw, ok, err := r.leaseOf(ctx, c.ID, id)
	if err != nil && !ok {
		return nil, err
	}
	if !ok {
		return nil, conflict("no account is leased to agent %s: GET next first", id)
	}
	acct, err := r.opt.Store.Account(ctx, c.ID, pl.Account)
	if err != nil {
		return nil, err
	}
	// The call may outlast what is left of the preview lease: it is
	// extended now (place keeps it from here), or found lost.
	l := queue.Lease{Campaign: c.ID, Account: acct, Token: pl.Token, Expires: time.UnixMilli(pl.Expires)}
	if err := r.opt.Store.Extend(ctx, &l, leaseNow()); errors.Is(err, queue.ErrLeaseLost) {
		if took, _ := r.takeLease(ctx, c.ID, id, raw); took {
			r.giveBack(ctx, c, pl, leaseNow(), "the preview lease ran out")
		}
		return nil, conflict("the lease of account %s ran out before the dial: GET next again", pl.Account)
	} else if err != nil {
		return nil, err
	}
	pool := r.opt.Agents.Pool()
	res, ok, err := pool.ReserveAgent(ctx, c.ID, r.opt.Node, id, pl.Attempt)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, conflict("agent %s is no longer ready", id)
	}
	if took, err := r.takeLease(ctx, c.ID, id, raw); err != nil || !took {
		r.releasePreview(ctx, res)
		if err != nil {
			return nil, err
		}
		return nil, conflict("the account leased to agent %s was dialled or skipped meanwhile", id)
	}
	a, subj, zones := r.newAttempt(c, acct, pl.Number, trunk.Name, pl.AttemptNo)
	a.AttemptID, a.AgentID = pl.Attempt, id // the id the gate reserved under
	p := &prepared{number: pl.Number, a: a, subj: subj, zones: zones}
	r.mu.Lock()
	r.previews[a.AttemptID] = res
	r.mu.Unlock()
	info := agent.CallInfo{ID: a.AttemptID, Campaign: c.ID, Account: acct.ID, Phone: pl.Number, Agent: id, State: agent.CallRinging,
		Since: r.opt.Now()}
	if err := r.agentCalls.Put(ctx, info); err != nil {
		r.log.Warn("campaign: call state not saved; other nodes may not find it", "call", a.AttemptID, "err", err)
	}
	r.log.Info("campaign: preview agent dials", "campaign", c.ID, "agent", id, "account", acct.ID, "call", a.AttemptID)
	r.calls.Add(1)
	go func() {
		defer r.calls.Done()
		ctx := context.WithoutCancel(ctx)
		err := r.place(ctx, c, trunk, l, p, nil)
		if err != nil {
			r.log.Error("campaign: contact", "campaign", c.ID, "account", acct.ID, "err", err)
		}
		r.previewEnded(ctx, p, res)
	}()
	return CallAnswer{Call: a.AttemptID, State: agent.CallRinging, Agent: id}, nil
}

// previewEnded: a preview call that never reached its liveCall (no
// answer, busy, failed) gives its agent back and records its end.
func (r *Runner) previewEnded(ctx context.Context, p *prepared, res agent.Reservation) {
	r.mu.Lock()
	_, unanswered := r.previews[p.a.AttemptID]
	delete(r.previews, p.a.AttemptID)
	r.mu.Unlock()
	if !unanswered {
		return // the call's own code settled its agent and its state
	}
	r.releasePreview(ctx, res)
	info := agent.CallInfo{ID: p.a.AttemptID, Campaign: p.a.CampaignID, Account: p.a.AccountID, Phone: p.number, Agent: res.Agent,
		State: agent.CallEnded, Since: r.opt.Now(), Disposition: p.a.Disposition}
	if err := r.agentCalls.Put(ctx, info); err != nil {
		r.log.Warn("campaign: call state not saved", "call", p.a.AttemptID, "err", err)
	}
}

// releasePreview makes a reserved preview agent ready again (kept first in
// line: it got no call).
func (r *Runner) releasePreview(ctx context.Context, res agent.Reservation) {
	if _, err := r.opt.Agents.Pool().Release(ctx, res); err != nil && !errors.Is(err, agent.ErrTransition) {
		r.log.Warn("campaign: preview agent's reservation not released", "agent", res.Agent, "err", err)
	}
	r.freeAgent()
}

// takePreview hands an answered preview call its reserved agent.
func (r *Runner) takePreview(call string) (agent.Reservation, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.previews[call]
	delete(r.previews, call)
	return res, ok
}

// previewAgentFor gives an answered preview call the agent reserved when
// it was dialled, once; false when it has none (then the debtor hears the
// abandon script: a preview call never takes another agent).
func (lc *liveCall) previewAgentFor(ctx context.Context) bool {
	res := lc.preview
	lc.preview = nil
	if res == nil {
		return false
	}
	lc.mu.Lock()
	lc.res, lc.reserved = *res, true
	lc.mu.Unlock()
	sess, err := lc.r.opt.Agents.Session(res.Agent)
	if err != nil {
		lc.log.Warn("campaign: the preview agent's phone leg is gone", "agent", res.Agent, "err", err)
		lc.unreserve(ctx, *res)
		return false
	}
	lc.agentSess = sess
	return true
}
