package campaign

// A person's decision revised: dialer/amd keeps a human (or notsure)
// decision provisional for revise_within and revises it to machine when a
// voicemail beep sounds. The call was already being treated as a person's
// (the script started, or the wait for an agent, or the agent bridged), so
// the call path follows the detector on until it is done and, on a
// revision, takes the call back:
//
//   - an IVR script is cut (its context ends);
//   - an agent call stops waiting, or releases the agent it reserved, or
//     unbridges the agent, who goes straight back to ready (the screen gets
//     call_ended and wrap_ended with reason machine: there is nothing for
//     the agent to wrap up, the dialer dispositions the call), or cuts the
//     abandon message;
//   - then the debtor's leg gets the campaign's machine action (the beep
//     has just been heard, so a message starts after it), and the row is a
//     machine's: amd machine, amd_cause beep, amd_ms the revision's time.
//
// The counts follow: an agent campaign counted a live answer at the first
// decision (and an abandon, if no agent came), so the day's counts move it
// to the machines (Pool.Revise, once per call), where the abandon rate and
// the pacer read them; the loop's lines count a machine.

import (
	"context"
	"fmt"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
)

// reasonMachine is the agent's screen's reason when AMD takes a call back.
const reasonMachine = "machine"

// switched says the detector revised the call's provisional decision to
// machine (false without a tap).
func (t *amdTap) switched() bool {
	if t == nil {
		return false
	}
	select {
	case <-t.revised:
		return true
	default:
		return false
	}
}

// revisions is closed when the detector revises the call to a machine;
// nil without a tap (never ready in a select).
func (t *amdTap) revisions() <-chan struct{} {
	if t == nil {
		return nil
	}
	return t.revised
}

// follower keeps a call treated as a person's in step with its detector
// while the decision is provisional: it feeds silence for audio that stops
// arriving (as await does), ends the analysis when the call ends, and
// cancels ctx when the detector revises the call to a machine.
type follower struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// follow starts following the call on leg (nothing without a tap, or once
// the decision is final: ctx is then the caller's).
func (t *amdTap) follow(ctx context.Context, leg *dialer.Leg) *follower {
	f := &follower{ctx: ctx}
	if t == nil {
		return f
	}
	select {
	case <-t.over:
		return f
	default:
	}
	f.ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		tick := time.NewTicker(catchUpEvery)
		defer tick.Stop()
		for {
			select {
			case <-t.revised:
				f.cancel()
				return
			case <-t.over:
				return
			case <-f.ctx.Done():
				return
			case <-leg.Ended():
			case <-leg.Session().Done():
			case now := <-tick.C:
				t.catchUp(now)
				continue
			}
			t.hangup() // a provisional decision stands
			return
		}
	}()
	return f
}

// stop ends the following (again: nothing) and returns once it has.
func (f *follower) stop() {
	if f.cancel == nil {
		return
	}
	f.cancel()
	<-f.done
}

// machineFound says AMD revised the agent call to a machine (then the
// call acts on it: lc.machine).
func (lc *liveCall) machineFound() bool {
	if !lc.machine && lc.tap.switched() {
		lc.machine = true
	}
	return lc.machine
}

// untilMachine is ctx, cancelled when AMD revises the call to a machine:
// a script the debtor hears (the abandon message, a transfer's script) is
// cut then.
func (lc *liveCall) untilMachine(ctx context.Context) (context.Context, context.CancelFunc) {
	if lc.tap == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-lc.tap.revised:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// errMachine: the call was revised to a machine before the bridge.
var errMachine = fmt.Errorf("answering-machine detection revised the call to a machine")

// machineBeforeBridge lets the reserved agent go when AMD revised the call
// before the bridge (the screen showed the account: it is told why).
func (lc *liveCall) machineBeforeBridge(ctx context.Context, res agent.Reservation) bool {
	if !lc.machineFound() {
		return false
	}
	lc.unreserve(ctx, res)
	lc.desk.send(ctx, agent.DeskCallEnded, map[string]any{"reason": reasonMachine})
	lc.log.Info("campaign: AMD revised the call to a machine before the bridge; agent released", "agent", res.Agent)
	return true
}

// freeFromMachine ends the agent's part of a bridged call AMD revised to
// a machine (the bridge is stopped): the agent goes back to ready with no
// wrap-up (or to the pause or logout asked for during the call), and the
// screen says why. The debtor's leg is the caller's.
func (lc *liveCall) freeFromMachine(ctx context.Context) {
	lc.machine = true
	lc.wrapEnd = lc.talkEnd
	res, code := lc.reservation()
	pool := lc.r.opt.Agents.Pool()
	if _, err := pool.Hangup(ctx, res); err != nil {
		lc.log.Warn("campaign: agent not freed from a machine's call", "agent", res.Agent, "err", err)
	} else if _, err := pool.EndWrap(ctx, res); err != nil {
		lc.log.Warn("campaign: agent left in wrap-up after a machine's call", "agent", res.Agent, "err", err)
	}
	lc.setState(ctx, agent.CallIVR)
	lc.desk.send(ctx, agent.DeskCallEnded, map[string]any{"reason": reasonMachine})
	lc.desk.send(ctx, agent.DeskWrapEnded, map[string]any{"reason": reasonMachine, "code": code})
	lc.log.Info("campaign: AMD revised a bridged call to a machine; agent freed", "agent", res.Agent,
		"heard", lc.talkEnd.Sub(lc.connected).Round(time.Millisecond).String())
}

// toMachine finishes a call AMD revised to a machine after treating it as
// a person's (first: what the person's script or agent call returned; lc
// nil for an IVR campaign's call that reached no agent): the counts, the
// machine action on the debtor's leg, the hang-up, and the row. Keys the
// first script collected stay in the row's dtmf, and a promise it took
// stands (a machine keys nothing; a person who did key is not lost); an
// opt-out was recorded when it was keyed. The row's ivr_path is the
// machine message's.
func (r *Runner) toMachine(ctx context.Context, c queue.Campaign, acct queue.Account, number string, zones []*time.Location,
	leg *dialer.Leg, tap *amdTap, a *analytics.Attempt, ln *line, lc *liveCall, first ivr.Result) ivr.Result {
	dec := tap.decision()
	a.AMD, a.AMDCause, a.AMDMS = string(dec.Result), string(dec.Cause), uint32(max(dec.At.Milliseconds(), 0))
	ln.revised()
	what := "the script cut at " + first.IVRPath()
	if lc != nil && c.HasAgents() {
		// The live answer (and abandon) counted at the first decision is a
		// machine's.
		r.reviseCount(ctx, c, a.AttemptID, lc.abandoned)
		what = lc.revisedDuring()
	} else {
		r.countAMD(ctx, c, agent.Machine)
		if lc != nil {
			what = "the agent freed"
		}
	}
	r.log.Info("campaign: AMD revised a person to a machine", "campaign", c.ID, "account", acct.ID, "call", a.AttemptID,
		"first", dec.From, "first_ms", dec.FirstAt.Milliseconds(), "revised_ms", dec.At.Milliseconds(), "during", what)
	res, reason := r.onMachine(ctx, c, acct, number, zones, leg, tap, a)
	hangup(ctx, leg).ApplyTo(a)
	res.DTMF = first.DTMF + res.DTMF
	if res.Promise == nil {
		res.Promise = first.Promise
	}
	a.Disposition, a.IVRPath, a.DTMF = analytics.Machine, res.IVRPath(), res.DTMF
	a.Reason = fmt.Sprintf("%s; first taken for a person (%s at %.1fs), revised by a beep at %.1fs: %s", reason, dec.From,
		dec.FirstAt.Seconds(), dec.At.Seconds(), what)
	return res
}

// revisedDuring says what the agent call was doing when AMD revised it.
func (lc *liveCall) revisedDuring() string {
	switch {
	case !lc.connected.IsZero():
		return fmt.Sprintf("the agent freed after %.1fs", lc.talkEnd.Sub(lc.connected).Seconds())
	case lc.abandoned:
		return "the abandon message cut"
	}
	return "before an agent came"
}

// reviseCount moves call's live answer (and abandon) to the machines in
// the campaign's day counts.
func (r *Runner) reviseCount(ctx context.Context, c queue.Campaign, call string, abandoned bool) {
	if r.opt.Agents == nil {
		return
	}
	if _, err := r.opt.Agents.Pool().Revise(ctx, c.ID, call, abandoned, c.Zone()); err != nil {
		r.log.Warn("campaign: a live answer AMD revised to a machine stays counted live", "campaign", c.ID, "call", call, "err", err)
	}
}
