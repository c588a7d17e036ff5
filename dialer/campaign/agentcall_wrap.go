package campaign

import (
	"context"
	"errors"
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
)

// wrap is the agent's after-call time: until its disposition, the
// campaign's wrap_up, or its leg dropping; then the agent is ready (or
// pauses or logs out, as it asked during the call).
func (lc *liveCall) wrap(ctx context.Context) {
	t := time.NewTimer(lc.c.WrapUpLimit())
	defer t.Stop()
	why := "disposition"
	select {
	case <-lc.disposed:
	case <-t.C:
		why = "wrap_up limit"
	case <-lc.lost:
		why = "phone_disconnected"
	}
	lc.wrapEnd = time.Now()
	res, code := lc.reservation()
	if why != "phone_disconnected" {
		if st, err := lc.r.opt.Agents.Pool().EndWrap(ctx, res); errors.Is(err, agent.ErrTransition) {
			// Moved on already (a later call, a logout) or never in
			// wrap-up: said, as an agent left in talking would be stuck.
			lc.log.Info("campaign: wrap-up end refused by the agent's state", "agent", res.Agent, "state", st.State, "err", err)
		} else if err != nil {
			lc.log.Warn("campaign: wrap-up not ended in Redis", "agent", res.Agent, "err", err)
		}
		lc.r.freeAgent()
	}
	lc.log.Info("campaign: wrap-up ended", "agent", res.Agent, "why", why, "code", code,
		"wrap", lc.wrapEnd.Sub(lc.talkEnd).Round(time.Millisecond).String())
	lc.desk.send(ctx, agent.DeskWrapEnded, map[string]any{"reason": why, "code": code})
}

// reservation is the call's agent reservation and the code of the
// agent's disposition, if any.
func (lc *liveCall) reservation() (agent.Reservation, string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	code := ""
	if lc.disp != nil {
		code = lc.disp.Code
	}
	return lc.res, code
}

// runTransferScript runs the campaign's promise script for a debtor an
// agent transferred.
func (lc *liveCall) runTransferScript(ctx context.Context) ivr.Result {
	return lc.runScript(ctx, "transfer", lc.transferScript())
}

// transferScript is what a transfer to the IVR runs: an agent campaign's
// script, else the shipped promise script.
func (lc *liveCall) transferScript() string {
	if lc.c.HasAgents() && lc.c.Script != "" {
		return lc.c.Script
	}
	return queue.DefaultTransferScript
}
