package campaign

import (
	"context"
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
//
// The steps: waiting and bridging in agentcall_bridge.go, wrap-up and
// transfer in agentcall_wrap.go, the abandon in agentcall_abandon.go, the
// recording in recording.go, the attempt row in agentcall_settle.go.

const (
	// reserveEvery is how often a waiting call asks for a ready agent
	// again.
	reserveEvery = 20 * time.Millisecond
	// abandonLead: the wait for an agent ends this much before
	// abandon_after, so the abandon message reaches the debtor within it
	// even on a loaded node (starting the script took 120 ms at load 5).
	abandonLead = 300 * time.Millisecond
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

	preview  *agent.Reservation  // a preview call's agent, reserved when it dialled (preview_dial.go)
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
	fromIVR   bool
	abandoned bool
	agentLost bool
	gone      bool // the debtor hung up before an agent came
	// tap is the call's AMD (nil without): it hears the debtor through
	// the bridge too, and may revise the call to a machine; machine: the
	// call acted on that (amd_revise.go).
	tap     *amdTap
	machine bool
	// greeted starts the abandon clock: the end of the debtor's greeting
	// as AMD heard it, else the answer (amd.go).
	greeted   time.Time
	connected time.Time
	talkEnd   time.Time
	wrapEnd   time.Time
}

// newLiveCall registers an answered call of c to acct at number.
func (r *Runner) newLiveCall(c queue.Campaign, acct queue.Account, number string, leg *dialer.Leg, a *analytics.Attempt,
	subj compliance.Subject) *liveCall {
	lc := &liveCall{r: r, id: a.AttemptID, c: c, acct: acct, number: number, leg: leg, subj: subj, zone: time.UTC, greeted: leg.Result().Answered,
		log:  r.log.With("campaign", c.ID, "account", acct.ID, "call", a.AttemptID),
		lost: make(chan agent.CallLost, 1), xfer: make(chan struct{}, 1), disposed: make(chan struct{}), history: make(chan popHistory, 1)}
	if zones := contact.Zones(c, acct, number); len(zones) > 0 {
		lc.zone = zones[0]
	}
	if res, ok := r.takePreview(lc.id); ok {
		lc.preview = &res
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

// run handles an answered call of an agent campaign: an agent within
// abandon_after, or the abandon script. The debtor's leg is hung up by the
// caller.
func (lc *liveCall) run(ctx context.Context, ln *line) ivr.Result {
	// Counted beside the wait, not before it: the count is one more Redis
	// round trip the answer's way to an agent need not wait for.
	counted := make(chan struct{})
	defer func() { <-counted }()
	go func() {
		defer close(counted)
		if err := lc.r.opt.Agents.Pool().Count(context.WithoutCancel(ctx), lc.c.ID, agent.Live, lc.c.Zone()); err != nil {
			lc.log.Warn("campaign: live answer not counted", "err", err)
		}
	}()
	lc.prefetch(ctx)
	deadline := lc.greeted.Add(lc.c.AbandonLimit() - abandonLead)
	for {
		if !lc.nextAgent(ctx, deadline) {
			ln.done()
			if lc.machineFound() {
				return ivr.Result{}
			}
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
		if lc.debtorGone() || lc.machine {
			ln.done()
			lc.gone = !lc.machine
			return ivr.Result{}
		}
		lc.log.Warn("campaign: agent not bridged; looking for another", "err", err)
		lc.setState(ctx, agent.CallWaiting) // it was shown talking to the agent it lost
	}
	ln.done()
	return lc.talkAndWrap(ctx)
}

// nextAgent reserves the call's agent: a preview call's own, else a ready
// agent within deadline.
func (lc *liveCall) nextAgent(ctx context.Context, deadline time.Time) bool {
	if lc.c.Mode == queue.ModePreview {
		return lc.previewAgentFor(ctx)
	}
	return lc.waitForAgent(ctx, deadline)
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

// runScript runs the campaign's script name on the debtor's leg, in the
// debtor's zone; what says which (abandon, transfer) in the log.
func (lc *liveCall) runScript(ctx context.Context, what, name string) ivr.Result {
	r := lc.r
	s := r.opt.Scripts[name]
	if s == nil {
		lc.log.Error("campaign: "+what+" script not loaded", "script", name)
		return ivr.Result{}
	}
	env := r.env(lc.c, lc.acct, lc.number, lc.id)
	env.Zone = lc.zone
	ctx, cut := lc.untilMachine(ctx)
	defer cut()
	res, err := ivr.Run(ctx, lc.leg.Session(), s, env)
	if err != nil && ctx.Err() == nil {
		lc.log.Error("campaign: "+what+" script failed", "script", s.Name, "err", err)
	}
	return res
}
