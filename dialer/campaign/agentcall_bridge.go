package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue/contact"
)

// waitForAgent reserves a ready agent this node holds (the one a personal
// call back is pinned to first) until deadline; false when none came or
// the debtor hung up.
func (lc *liveCall) waitForAgent(ctx context.Context, deadline time.Time) bool {
	r := lc.r
	pool := r.opt.Agents.Pool()
	// The first look is at once; after it the call waits for an agent
	// of this node to come free (freed), or reserveEvery at most for one
	// readied elsewhere (the API, a login).
	var t *time.Ticker
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	failing := false
	for {
		freed := r.agentFreed()
		res, ok, err := pool.ReserveFor(ctx, lc.c.ID, r.opt.Node, lc.acct.ID, lc.id)
		if err != nil && !failing {
			failing = true
			lc.log.Error("campaign: agents cannot be reserved", "err", err)
		}
		if ok {
			sess, err := r.opt.Agents.Session(res.Agent)
			if err == nil {
				lc.mu.Lock()
				lc.res, lc.reserved = res, true
				lc.mu.Unlock()
				lc.agentSess = sess
				return true
			}
			// Its leg is down here: it cannot take calls until its phone
			// is back (the station pauses it too).
			if _, derr := pool.Disconnect(ctx, res.Agent, agent.ReasonPhoneDisconnected); derr != nil {
				if _, rerr := pool.Release(ctx, res); rerr != nil {
					lc.log.Error("campaign: an agent without a leg stays reserved", "agent", res.Agent, "err", errors.Join(derr, rerr))
				}
			}
			lc.log.Warn("campaign: reserved agent has no phone leg here; paused", "agent", res.Agent, "err", err)
			continue
		}
		if !time.Now().Before(deadline) {
			return false
		}
		if t == nil {
			t = time.NewTicker(reserveEvery)
			lc.setState(ctx, agent.CallWaiting) // only a call that waits is seen waiting
		}
		select {
		case <-lc.leg.Ended():
			return false
		case <-lc.leg.Session().Done():
			return false
		case <-ctx.Done():
			return false
		case <-lc.tap.revisions():
			return false
		case <-freed:
		case <-t.C:
		}
	}
}

// connect bridges the debtor to the reserved agent: the screen pop, the
// recording notice, the recorder, the bridge with its connect tone, and the
// agent's state talking. On error the agent is no longer held by the call.
func (lc *liveCall) connect(ctx context.Context) error {
	r := lc.r
	pool := r.opt.Agents.Pool()
	lc.mu.Lock()
	res := lc.res
	lc.mu.Unlock()
	// The call before the agent's screen: whoever reads the screen pop
	// finds the call, with its agent (a call that got its agent at once
	// wrote no state before).
	lc.setState(ctx, agent.CallTalking)
	lc.desk.pop(res.Agent)
	debtor := lc.leg.Session()
	if n := lc.c.RecordingNotice; n != "" && lc.c.Record {
		if p, err := r.opt.Library.Get(contact.Language(lc.c, lc.acct) + "/" + n); err != nil {
			lc.log.Error("campaign: recording notice not played", "notice", n, "err", err)
		} else if _, err := debtor.Play(ctx, false, p); err != nil {
			lc.unreserve(ctx, res)
			return fmt.Errorf("recording notice: %w", err)
		}
	}
	if lc.machineBeforeBridge(ctx, res) {
		return errMachine
	}
	rec := lc.startRecording()
	b, err := media.NewBridge(debtor, lc.agentSess, media.BridgeOptions{Recorder: rec, OnDigit: lc.onDigit, Logger: lc.log,
		OnDebtorAudio: lc.tap.onAudio()})
	if err != nil {
		lc.closeRecording(rec)
		lc.unreserve(ctx, res)
		return err
	}
	// Again with its recording, and before the agent's state: whoever sees
	// the agent talking finds the call as it is.
	lc.setState(ctx, agent.CallTalking)
	if _, err := pool.Connect(ctx, res); err != nil {
		// The agent is not ours any more (its leg dropped meanwhile).
		b.Stop()
		lc.closeRecording(rec)
		lc.unreserve(ctx, res)
		return err
	}
	lc.bridge, lc.recorder, lc.connected = b, rec, time.Now()
	if res.Pinned { // the personal call back is made
		if err := pool.Unpin(ctx, lc.c.ID, lc.acct.ID); err != nil {
			lc.log.Warn("campaign: call back pin not dropped", "err", err)
		}
	}
	lc.log.Info("campaign: call bridged to an agent", "agent", res.Agent,
		"after", time.Since(lc.leg.Result().Answered).Round(time.Millisecond).String(), "from_ivr", lc.fromIVR)
	return nil
}

// unreserve lets the reservation go after a failed bridge: released when
// the agent is still reserved for this call.
func (lc *liveCall) unreserve(ctx context.Context, res agent.Reservation) {
	if _, err := lc.r.opt.Agents.Pool().Release(ctx, res); err != nil && !errors.Is(err, agent.ErrTransition) {
		lc.log.Warn("campaign: reservation not released", "agent", res.Agent, "err", err)
	}
	lc.r.freeAgent()
	lc.mu.Lock()
	lc.reserved = false
	lc.mu.Unlock()
}

// Why a bridged call's talk ended.
type talkEnd int

const (
	debtorEnded talkEnd = iota
	agentLeft           // the agent's phone leg dropped
	transferred         // the agent handed the debtor to the IVR
	amdMachine          // AMD revised the call to a machine (amd_revise.go)
)

// talkAndWrap runs a bridged call to its end: the talk, then the agent's
// wrap-up (beside the IVR, after a transfer).
func (lc *liveCall) talkAndWrap(ctx context.Context) ivr.Result {
	why := lc.talk(ctx)
	lc.bridge.Stop()
	lc.talkEnd = time.Now()
	lc.closeRecording(lc.recorder)
	if why == amdMachine {
		lc.freeFromMachine(ctx)
		return ivr.Result{}
	}
	if why == agentLeft {
		lc.agentLost = true
		lc.log.Warn("campaign: the agent's phone leg dropped mid-call; the debtor hears the abandon message")
		lc.desk.send(ctx, agent.DeskCallEnded, map[string]any{"reason": "phone_disconnected"})
		lc.setState(ctx, agent.CallIVR)
		return lc.playAbandon(ctx)
	}
	lc.mu.Lock()
	res := lc.res
	lc.mu.Unlock()
	if _, err := lc.r.opt.Agents.Pool().Hangup(ctx, res); err != nil {
		lc.log.Warn("campaign: agent not moved to wrap-up", "agent", res.Agent, "err", err)
	}
	if why == debtorEnded {
		lc.setState(ctx, agent.CallWrapUp)
		lc.desk.send(ctx, agent.DeskCallEnded, map[string]any{"reason": "hangup"})
		lc.wrap(ctx)
		return ivr.Result{}
	}
	// Transferred: the debtor hears the promise script while the agent,
	// freed from the call, wraps it up.
	lc.setState(ctx, agent.CallIVR)
	lc.desk.send(ctx, agent.DeskCallEnded, map[string]any{"reason": "transferred"})
	wrapped := make(chan struct{})
	go func() {
		defer close(wrapped)
		lc.wrap(ctx)
	}()
	res2 := lc.runTransferScript(ctx)
	<-wrapped
	return res2
}

// talk waits for the talk to end and says why.
func (lc *liveCall) talk(ctx context.Context) talkEnd {
	for {
		select {
		case <-lc.bridge.Done():
			if lc.debtorGone() {
				return debtorEnded
			}
			return agentLeft
		case <-lc.lost:
			return agentLeft
		case <-lc.xfer:
			return transferred
		case <-lc.tap.revisions():
			return amdMachine
		case <-ctx.Done():
			return debtorEnded
		}
	}
}

// onDigit is the bridge's: a key the debtor pressed goes to the agent's
// screen too (the tone itself is relayed).
func (lc *liveCall) onDigit(from media.Side, d rune) {
	if from == media.Debtor {
		lc.desk.trySend(agent.DeskDigit, map[string]string{"digit": string(d)})
	}
}

// agentFreed is closed when an agent of this node may have come free (a
// wrap-up ended, a reservation let go): calls waiting for one look again
// at once instead of at their next poll.
func (r *Runner) agentFreed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.freed == nil {
		r.freed = make(chan struct{})
	}
	return r.freed
}

// freeAgent wakes the calls waiting for an agent.
func (r *Runner) freeAgent() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.freed != nil {
		close(r.freed)
		r.freed = nil
	}
}
