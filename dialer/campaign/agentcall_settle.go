package campaign

import (
	"context"
	"fmt"
	"time"

	"github.com/marcador/marcador/analytics"
)

// applyTo writes what the agent side of the call adds to its attempt row
// (after the leg's own facts: the hang-up's ApplyTo).
func (lc *liveCall) applyTo(a *analytics.Attempt, d *disposition) {
	lc.mu.Lock()
	if lc.reserved {
		a.AgentID = lc.res.Agent
	}
	a.Recording = lc.recording
	if lc.recErr != nil {
		a.RecordingError = clipReason(lc.recErr.Error())
	}
	lc.mu.Unlock()
	// talk_ms is an agent call's bridged time: at least 1 once bridged, 0
	// when never (analytics.AgentTalked reads the bridge from it).
	if !lc.connected.IsZero() {
		a.TalkMS = max(1, msBetween(lc.connected, lc.talkEnd))
	} else if a.AgentID != "" {
		a.TalkMS = 0
	}
	if !lc.wrapEnd.IsZero() {
		a.WrapMS = msBetween(lc.talkEnd, lc.wrapEnd)
	}
	switch {
	case lc.machine: // AMD revised it: the row is a machine's (amd_revise.go)
	case lc.abandoned:
		a.Disposition, a.Abandoned = analytics.Abandoned, true
		a.Reason = fmt.Sprintf("no agent within %s: the abandon message was played", lc.c.AbandonLimit())
	case lc.gone:
		a.Reason = "the debtor hung up before an agent came"
	case lc.agentLost:
		a.Reason = "the agent's phone leg dropped mid-call: the debtor heard the abandon message"
	}
	if d != nil {
		a.AgentCode, a.RightParty = d.Code, d.rightParty
		if d.promise != nil {
			a.PromiseAmount, a.PromiseDate = d.promise.Amount, d.promise.Due
		}
	}
}

func msBetween(from, to time.Time) uint32 {
	if to.Before(from) {
		return 0
	}
	return uint32(to.Sub(from).Milliseconds())
}

func clipReason(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// finish records the call's end where other nodes see it, pins a personal
// call back to its agent, and closes the screen's queue.
func (lc *liveCall) finish(ctx context.Context, a *analytics.Attempt, d *disposition) {
	ctx = context.WithoutCancel(ctx)
	if d != nil && !d.callbackAt.IsZero() && d.personal && a.AgentID != "" {
		if err := lc.r.opt.Agents.Pool().PinCallback(ctx, lc.c.ID, lc.acct.ID, a.AgentID, d.callbackAt.Add(pinMargin)); err != nil {
			lc.log.Warn("campaign: call back not pinned to its agent; any agent takes it", "err", err)
		}
	}
	lc.mu.Lock()
	info := lc.infoLocked()
	lc.mu.Unlock()
	info.Disposition = a.Disposition
	lc.put(ctx, info)
	lc.desk.close()
}

// agentCall is an agent call's part in settling its attempt.
type agentCall struct {
	lc   *liveCall
	disp *disposition
}

// settle ends the call's life here and writes its agent side into the
// attempt row (after the leg's own facts); nil without an agent call.
func (lc *liveCall) settle(a *analytics.Attempt) *agentCall {
	if lc == nil {
		return nil
	}
	d := lc.close()
	lc.applyTo(a, d)
	return &agentCall{lc: lc, disp: d}
}

// talked: the debtor spoke with an agent (the compliance caps count it):
// bridged to an agent who did not say it was someone else, as a's row
// (settled) says, the rule `marcador redis restore` reads it by.
func (g *agentCall) talked(a analytics.Attempt) bool {
	return g != nil && analytics.AgentTalked(a.AgentID, a.TalkMS, a.Disposition, a.AgentCode, a.RightParty)
}

func (g *agentCall) disposition() *disposition {
	if g == nil {
		return nil
	}
	return g.disp
}

// finish: see liveCall.finish.
func (g *agentCall) finish(ctx context.Context, a *analytics.Attempt) {
	if g != nil {
		g.lc.finish(ctx, a, g.disp)
	}
}
