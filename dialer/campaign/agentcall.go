package campaign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/contact"
)

// One answered call for an agent, on the node that placed it:
//
//	answered → waiting for an agent (≤ abandon_after) → bridged (talking)
//	         → the debtor's side ends (hang-up, or handed to the IVR)
//	         → the agent's wrap-up (≤ wrap_up, or until a disposition)
//
// or, with no agent in time, the abandon script and a hang-up; or, when the
// agent's phone leg drops mid-call, the abandon script to the debtor (not
// dead air). The agent's actions (hang up, disposition, transfer, text)
// arrive from any node through Calls (commands.go) and only touch the call
// under its lock; the call's own goroutine does everything else.

const (
	// reserveEvery is how often a waiting call asks for a ready agent
	// again.
	reserveEvery = 20 * time.Millisecond
	// abandonLead: the wait for an agent ends this much before
	// abandon_after, so the abandon message reaches the debtor within it.
	abandonLead = 100 * time.Millisecond
	// popWait bounds how long a screen pop waits for the account's
	// history.
	popWait = 2 * time.Second
	// pinMargin: a personal call back stays the agent's this long after
	// its time.
	pinMargin = 2 * time.Hour
)

// liveCall is one agent call this node holds.
type liveCall struct {
	r      *Runner
	id     string
	c      queue.Campaign
	acct   queue.Account
	number string
	leg    *dialer.Leg
	subj   compliance.Subject
	zone   *time.Location // the debtor's (for a promise's "today")
	log    *slog.Logger

	lost     chan agent.CallLost // the agent's leg dropped (Station.OnCallLost)
	xfer     chan struct{}       // the agent handed the debtor to the IVR
	disposed chan struct{}       // closed when the agent's disposition arrives
	desk     *deskQueue
	history  chan popHistory // the account's history for the screen pop

	mu          sync.Mutex
	recErr      error // why the recording is missing or cut
	state       string
	since       time.Time
	res         agent.Reservation
	reserved    bool
	disp        *disposition
	hangupAsked bool
	recording   string // relative to recordings.dir

	// The call goroutine's own.
	agentSess *media.Session
	bridge    *media.Bridge
	recorder  *media.CallRecorder
	pinned    bool
	fromIVR   bool
	abandoned bool
	agentLost bool
	gone      bool // the debtor hung up before an agent came
	connected time.Time
	talkEnd   time.Time
	wrapEnd   time.Time
}

// newLiveCall registers an answered call of c to acct at number.
func (r *Runner) newLiveCall(c queue.Campaign, acct queue.Account, number string, leg *dialer.Leg, a *analytics.Attempt,
	subj compliance.Subject) *liveCall {
	lc := &liveCall{r: r, id: a.AttemptID, c: c, acct: acct, number: number, leg: leg, subj: subj, zone: time.UTC,
		log:  r.log.With("campaign", c.ID, "account", acct.ID, "call", a.AttemptID),
		lost: make(chan agent.CallLost, 1), xfer: make(chan struct{}, 1), disposed: make(chan struct{}), history: make(chan popHistory, 1)}
	if zones := contact.Zones(c, acct, number); len(zones) > 0 {
		lc.zone = zones[0]
	}
	lc.desk = r.newDeskQueue(lc)
	r.mu.Lock()
	r.live[lc.id] = lc
	r.mu.Unlock()
	return lc
}

// setState records the call's state here and in Redis.
func (lc *liveCall) setState(ctx context.Context, state string) {
	lc.mu.Lock()
	lc.state, lc.since = state, lc.r.opt.Now()
	info := lc.infoLocked()
	lc.mu.Unlock()
	lc.put(ctx, info)
}

func (lc *liveCall) infoLocked() agent.CallInfo {
	info := agent.CallInfo{ID: lc.id, Campaign: lc.c.ID, Account: lc.acct.ID, Phone: lc.number, State: lc.state, Since: lc.since,
		Answered: lc.leg.Result().Answered, Recording: lc.recording}
	if lc.reserved {
		info.Agent = lc.res.Agent
	}
	if lc.disp != nil {
		info.Code = lc.disp.Code
	}
	return info
}

func (lc *liveCall) put(ctx context.Context, info agent.CallInfo) {
	if lc.r.agentCalls == nil {
		return
	}
	if err := lc.r.agentCalls.Put(context.WithoutCancel(ctx), info); err != nil {
		lc.log.Warn("campaign: call state not saved; other nodes may not find it", "state", info.State, "err", err)
	}
}

func (lc *liveCall) debtorGone() bool {
	select {
	case <-lc.leg.Ended():
		return true
	case <-lc.leg.Session().Done():
		return true
	default:
		return false
	}
}

// campaignZone is where the campaign's day is (its abandon counts).
func (lc *liveCall) campaignZone() *time.Location {
	z, err := queue.LoadZone(lc.c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return z
}

// run handles an answered call of an agent campaign: an agent within
// abandon_after, or the abandon script. The debtor's leg is hung up by the
// caller.
func (lc *liveCall) run(ctx context.Context, ln *line) ivr.Result {
	pool := lc.r.opt.Agents.Pool()
	if err := pool.Count(ctx, lc.c.ID, agent.Live, lc.campaignZone()); err != nil {
		lc.log.Warn("campaign: live answer not counted", "err", err)
	}
	lc.prefetch(ctx)
	deadline := lc.leg.Result().Answered.Add(lc.c.AbandonLimit() - abandonLead)
	for {
		if !lc.waitForAgent(ctx, deadline) {
			ln.done()
			if lc.debtorGone() {
				lc.gone = true
				return ivr.Result{}
			}
			return lc.abandon(ctx)
		}
		err := lc.connect(ctx)
		if err == nil {
			break
		}
		if lc.debtorGone() {
			ln.done()
			lc.gone = true
			return ivr.Result{}
		}
		lc.log.Warn("campaign: agent not bridged; looking for another", "err", err)
	}
	ln.done()
	return lc.talkAndWrap(ctx)
}

// waitForAgent reserves a ready agent this node holds (the one a personal
// call back is pinned to first) until deadline; false when none came or
// the debtor hung up.
func (lc *liveCall) waitForAgent(ctx context.Context, deadline time.Time) bool {
	r := lc.r
	pool := r.opt.Agents.Pool()
	lc.setState(ctx, agent.CallWaiting)
	pin, pinned, err := pool.CallbackAgent(ctx, lc.c.ID, lc.acct.ID)
	if err != nil {
		lc.log.Warn("campaign: call back pin not read; any agent takes the call", "err", err)
	}
	t := time.NewTicker(reserveEvery)
	defer t.Stop()
	failing := false
	for {
		var res agent.Reservation
		var ok bool
		if pinned {
			res, ok, err = pool.ReserveAgent(ctx, lc.c.ID, r.opt.Node, pin, lc.id)
		}
		if !ok && err == nil {
			res, ok, err = pool.Reserve(ctx, lc.c.ID, r.opt.Node, lc.id)
		}
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
				lc.agentSess, lc.pinned = sess, pinned && res.Agent == pin
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
		select {
		case <-lc.leg.Ended():
			return false
		case <-lc.leg.Session().Done():
			return false
		case <-ctx.Done():
			return false
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
	rec := lc.startRecording()
	b, err := media.NewBridge(debtor, lc.agentSess, media.BridgeOptions{Recorder: rec, OnDigit: lc.onDigit, Logger: lc.log})
	if err != nil {
		lc.closeRecording(rec)
		lc.unreserve(ctx, res)
		return err
	}
	if _, err := pool.Connect(ctx, res); err != nil {
		// The agent is not ours any more (its leg dropped meanwhile).
		b.Stop()
		lc.closeRecording(rec)
		lc.unreserve(ctx, res)
		return err
	}
	lc.bridge, lc.recorder, lc.connected = b, rec, time.Now()
	if lc.pinned {
		if err := pool.Unpin(ctx, lc.c.ID, lc.acct.ID); err != nil {
			lc.log.Warn("campaign: call back pin not dropped", "err", err)
		}
	}
	lc.setState(ctx, agent.CallTalking)
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
)

// talkAndWrap runs a bridged call to its end: the talk, then the agent's
// wrap-up (beside the IVR, after a transfer).
func (lc *liveCall) talkAndWrap(ctx context.Context) ivr.Result {
	why := lc.talk(ctx)
	lc.bridge.Stop()
	lc.talkEnd = time.Now()
	lc.closeRecording(lc.recorder)
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
		case <-ctx.Done():
			return debtorEnded
		}
	}
}

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
	lc.mu.Lock()
	res := lc.res
	code := ""
	if lc.disp != nil {
		code = lc.disp.Code
	}
	lc.mu.Unlock()
	if why != "phone_disconnected" {
		if _, err := lc.r.opt.Agents.Pool().EndWrap(ctx, res); err != nil && !errors.Is(err, agent.ErrTransition) {
			lc.log.Warn("campaign: wrap-up not ended in Redis", "agent", res.Agent, "err", err)
		}
	}
	lc.log.Info("campaign: wrap-up ended", "agent", res.Agent, "why", why, "code", code,
		"wrap", lc.wrapEnd.Sub(lc.talkEnd).Round(time.Millisecond).String())
	lc.desk.send(ctx, agent.DeskWrapEnded, map[string]any{"reason": why, "code": code})
}

// runTransferScript runs the campaign's promise script for a debtor an
// agent transferred.
func (lc *liveCall) runTransferScript(ctx context.Context) ivr.Result {
	r := lc.r
	s := r.opt.Scripts[lc.transferScript()]
	if s == nil {
		lc.log.Error("campaign: transfer script not loaded", "script", lc.transferScript())
		return ivr.Result{}
	}
	env := r.env(lc.c, lc.acct, lc.number, lc.id)
	env.Zone = lc.zone
	res, err := ivr.Run(ctx, lc.leg.Session(), s, env)
	if err != nil {
		lc.log.Error("campaign: transfer script failed", "script", s.Name, "err", err)
	}
	return res
}

// transferScript is what a transfer to the IVR runs: an agent campaign's
// script, else the shipped promise script.
func (lc *liveCall) transferScript() string {
	if lc.c.HasAgents() && lc.c.Script != "" {
		return lc.c.Script
	}
	return queue.DefaultTransferScript
}

// abandon plays the campaign's abandon script to a debtor no agent came
// for, and counts the abandon (the campaign's rates, the debtor's history
// for the UK's 72-hour rule).
func (lc *liveCall) abandon(ctx context.Context) ivr.Result {
	r := lc.r
	lc.abandoned = true
	if err := r.opt.Agents.Pool().Count(ctx, lc.c.ID, agent.Abandoned, lc.campaignZone()); err != nil {
		lc.log.Warn("campaign: abandon not counted", "err", err)
	}
	if err := r.opt.Gate.Record(ctx, lc.subj, analytics.Voice, compliance.KindAbandoned, lc.id, r.opt.Gate.Now()); err != nil {
		lc.log.Warn("campaign: abandon not in the debtor's history", "err", err)
	}
	lc.log.Info("campaign: no agent in time; abandon message", "abandon_after", lc.c.AbandonLimit().String())
	return lc.playAbandon(ctx)
}

func (lc *liveCall) playAbandon(ctx context.Context) ivr.Result {
	r := lc.r
	s := r.opt.Scripts[lc.c.AbandonScriptName()]
	if s == nil {
		lc.log.Error("campaign: abandon script not loaded", "script", lc.c.AbandonScriptName())
		return ivr.Result{}
	}
	env := r.env(lc.c, lc.acct, lc.number, lc.id)
	env.Zone = lc.zone
	res, err := ivr.Run(ctx, lc.leg.Session(), s, env)
	if err != nil {
		lc.log.Error("campaign: abandon script failed", "err", err)
	}
	return res
}

// onDigit is the bridge's: a key the debtor pressed goes to the agent's
// screen too (the tone itself is relayed).
func (lc *liveCall) onDigit(from media.Side, d rune) {
	if from == media.Debtor {
		lc.desk.trySend(agent.DeskDigit, map[string]string{"digit": string(d)})
	}
}

// close ends the call's life on this node: no action is taken on it any
// more. It returns the agent's disposition, if any.
func (lc *liveCall) close() *disposition {
	lc.mu.Lock()
	lc.state, lc.since = agent.CallEnded, lc.r.opt.Now()
	d := lc.disp
	lc.mu.Unlock()
	lc.r.mu.Lock()
	if lc.r.live[lc.id] == lc {
		delete(lc.r.live, lc.id)
	}
	lc.r.mu.Unlock()
	return d
}

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
	if !lc.connected.IsZero() {
		a.TalkMS = msBetween(lc.connected, lc.talkEnd)
	}
	if !lc.wrapEnd.IsZero() {
		a.WrapMS = msBetween(lc.talkEnd, lc.wrapEnd)
	}
	switch {
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

// conversation says whether the call reached the debtor (the compliance
// caps count it): bridged to an agent who did not say it was someone else.
func (lc *liveCall) conversation(d *disposition) bool {
	if lc == nil || lc.connected.IsZero() {
		return false
	}
	return d == nil || d.rightParty
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

// talked: the debtor spoke with an agent.
func (g *agentCall) talked() bool { return g != nil && g.lc.conversation(g.disp) }

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
