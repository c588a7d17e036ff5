package campaign

// The loop's pacing: every tick a campaign asks its pacer (dialer/pacing,
// the code marcador sim drives) how many calls to place. An IVR campaign
// paces with pacing.Agentless to max_concurrent IVR sessions; an agent
// campaign with pacing.Progressive or pacing.Predictive, as its mode says
// on this tick (PATCH .../pacing changes it on every node at its next
// tick). The predictive pacer learns from every call of the campaign this
// node places, whatever the mode, so a switch to predictive starts from
// what it has seen.

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/queue"
)

// PacingStatus is a campaign loop's last pacing decision on this node
// (for metrics and the demo's summary).
type PacingStatus struct {
	Campaign string
	Mode     string        // progressive, predictive or agentless
	Reason   pacing.Reason // why it dialled what it dialled
	At       time.Time     // the tick, on the runner's clock
	Decision pacing.Decision
	// Lines before the tick's dials: calls ringing, answered calls waiting
	// for an agent, IVR sessions; agents of the node by state.
	Ringing, Waiting, Sessions int
	Ready, Available, LoggedIn int
	// Threshold is the predictive pacer's marginal abandon chance (0 for
	// the others).
	Threshold float64
	// Dials are the calls this node placed for the campaign since its loop
	// started; DialsAhead those beyond one line per ready agent (an agent
	// campaign dialling ahead of its agents).
	Dials, DialsAhead int64
	// Ticks are the decisions the loop has made (a test's witness that
	// the pacer has looked again).
	Ticks int64
}

// pacer is one campaign loop's pacing state.
type pacer struct {
	lines       *lines
	progressive *pacing.Progressive
	predictive  *pacing.Predictive
	agentless   *pacing.Agentless
	patience    time.Duration // the predictive pacer's, from abandon_after
	mode        string
	agents      []pacing.Agent
	calls       []pacing.Call
	decider     pacing.Pacer   // the last decision's
	window      windowRead     // the abandon counts as last read
	pastDays    agent.PastDays // the window's days before today, read again when stale (agent.Pool.RatesWith)
	ready       int            // ready agents at the last decision
	failing     bool

	mu     sync.Mutex
	status PacingStatus
}

// predictiveFor returns the campaign's predictive pacer, made anew when the
// campaign's wait for an agent changed (it is the pacer's patience).
func (r *Runner) predictiveFor(p *pacer, c queue.Campaign) *pacing.Predictive {
	patience := c.AbandonLimit() - abandonLead
	if p.predictive == nil || p.patience != patience {
		cfg := r.opt.Predictive
		cfg.Patience, cfg.Window = patience, pacing.WindowUS
		if c.AbandonDaily() {
			cfg.Window = pacing.WindowUK(c.Zone())
		}
		p.predictive, p.patience = pacing.NewPredictive(cfg), patience
	}
	return p.predictive
}

// pace is how many calls the campaign places on this tick: its pacer's
// decision over this node's agents and lines, the trunk's free channels
// and calls per second, and (an IVR campaign) max_concurrent.
func (r *Runner) pace(ctx context.Context, s *loopState, c queue.Campaign, trunk *dialer.Trunk) int {
	p := &s.pacer
	now := r.opt.Now()
	free := max(trunk.MaxChannels()-trunk.InUse(), 0)
	snap := pacing.Snapshot{Now: now, Trunk: pacing.Trunk{CPS: trunk.CPS(), FreeChannels: free},
		Settings: pacing.Settings{TargetAbandon: c.AbandonTarget(), MaxLinesPerAgent: c.MaxLinesPerAgent,
			LinesPerAgent: c.LinesPerAgent, TargetSessions: c.MaxConcurrent}}
	var learner pacing.Pacer
	var decider pacing.Pacer
	if c.HasAgents() {
		learner = r.predictiveFor(p, c)
		decider = learner
		if c.Mode == queue.ModeProgressive {
			if p.progressive == nil {
				p.progressive = pacing.NewProgressive()
			}
			decider = p.progressive
		}
	} else {
		if p.agentless == nil {
			p.agentless = pacing.NewAgentless(pacing.AgentlessConfig{})
		}
		learner, decider = p.agentless, p.agentless
		// max_concurrent: the IVR campaign's calls at once, ringing or not.
		snap.Trunk.FreeChannels = max(min(free, c.MaxConcurrent-int(s.active.Load())), 0)
	}
	// The pacer's calls per second pay for calls placed: those its last
	// decisions claimed but never sent (the gate blocked them, a local
	// error) are given back, as topUp gives back the claims the queue did
	// not fill.
	p.refund(p.decider, p.lines.unplaced())
	var live, machines, xfer int
	p.calls, live, machines, xfer = p.lines.counts(now, p.calls, func(ev pacing.Event) {
		p.window.learned(ev)
		learner.Observe(ev)
	})
	snap.Calls = p.calls
	if c.HasAgents() {
		snap.Waiting = live
	} else {
		snap.Sessions, snap.Waiting = live+machines, xfer
	}
	if ok := r.paceAgents(ctx, s, c, &snap, decider == p.predictive); !ok {
		return 0
	}
	p.decider = decider
	if decider.Name() != p.mode {
		if p.mode != "" { // a change of mode at run time
			r.log.Info("campaign: pacing changed", "campaign", c.ID, "pacer", decider.Name(), "was", p.mode)
		}
		p.mode = decider.Name()
	}
	d := decider.Decide(&snap)
	r.setStatus(s, &snap, d)
	return d.Dial
}

// paceAgents fills the snapshot's agents (this node's) and, for the
// predictive pacer, the abandon counts of the campaign's compliance window
// (every node's, from Redis: the US's 30 days or the UK's day). An agent
// campaign whose agents or counts cannot be read does not dial (false);
// an IVR campaign then paces without agents.
func (r *Runner) paceAgents(ctx context.Context, s *loopState, c queue.Campaign, snap *pacing.Snapshot, window bool) bool {
	p := &s.pacer
	if r.opt.Agents == nil {
		return !c.HasAgents()
	}
	pool := r.opt.Agents.Pool()
	as, err := pool.Snapshot(ctx, c.ID, r.opt.Node, p.agents)
	if err == nil && window {
		var w pacing.WindowCounts
		w, err = p.window.counts(snap.Now, c.AbandonDaily(), func() (agent.Rates, error) {
			return pool.RatesWith(ctx, c.ID, c.Zone(), &p.pastDays)
		})
		snap.Window = &w
	}
	if err != nil {
		if !p.failing {
			r.log.Warn("campaign: agents or abandon counts not read; pacing without them", "campaign", c.ID, "err", err)
		}
		p.failing = true
		return !c.HasAgents()
	}
	p.failing = false
	p.agents, snap.Agents = as.Agents, as.Agents
	return true
}

// refund gives the pacer that decided n calls it never placed back their
// calls per second.
func (p *pacer) refund(decider pacing.Pacer, n int) {
	if r, ok := decider.(pacing.Refunder); ok && n > 0 {
		r.Unplaced(n)
	}
}

// setStatus keeps the tick's decision for Pacing.
func (r *Runner) setStatus(s *loopState, snap *pacing.Snapshot, d pacing.Decision) {
	p := &s.pacer
	st := PacingStatus{Campaign: s.id, Mode: p.mode, Reason: d.Reason, At: snap.Now, Decision: d, Ringing: len(snap.Calls),
		Sessions: snap.Sessions, LoggedIn: len(snap.Agents)}
	if snap.Sessions == 0 {
		st.Waiting = snap.Waiting
	}
	for _, a := range snap.Agents {
		switch {
		case a.State == pacing.Ready:
			st.Ready++
			st.Available++
		case a.State != pacing.Paused && !a.Leaving:
			st.Available++
		}
	}
	if p.mode == "predictive" {
		st.Threshold = p.predictive.Threshold()
	}
	p.ready = st.Ready
	p.mu.Lock()
	st.Dials, st.DialsAhead, st.Ticks = p.status.Dials, p.status.DialsAhead, p.status.Ticks+1
	p.status = st
	p.mu.Unlock()
}

// dialled counts the calls a tick placed (n of them): those beyond one line
// per ready agent are dials ahead (an agent campaign's). They are added to
// the campaign's counts in Redis too (marcador:{C}:pacing, fields dials
// and dials_ahead), so any node and a test read them.
func (r *Runner) dialled(ctx context.Context, s *loopState, c queue.Campaign, n int) {
	p := &s.pacer
	var ahead int
	p.mu.Lock()
	if c.HasAgents() {
		before := p.status.Ringing + p.status.Waiting
		ahead = min(n, max(before+n-p.ready, 0))
	}
	p.status.Dials += int64(n)
	p.status.DialsAhead += int64(ahead)
	p.mu.Unlock()
	key := PacingKey(c.ID)
	_, err := r.opt.Store.Client().TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HIncrBy(ctx, key, "dials", int64(n))
		if ahead > 0 {
			pipe.HIncrBy(ctx, key, "dials_ahead", int64(ahead))
		}
		return nil
	})
	if err != nil && !s.failing {
		r.log.Warn("campaign: dial counts not saved", "campaign", c.ID, "err", err)
	}
}

// PacingKey is the campaign's dial counts in Redis (hash dials,
// dials_ahead), added to by every node.
func PacingKey(campaign string) string { return "marcador:{" + campaign + "}:pacing" }

// Pacing is the last pacing decision of every campaign running on this
// node.
func (r *Runner) Pacing() []PacingStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PacingStatus, 0, len(r.loops))
	for _, l := range r.loops {
		if l.state == nil {
			continue
		}
		p := &l.state.pacer
		p.mu.Lock()
		if p.status.Campaign != "" {
			out = append(out, p.status)
		}
		p.mu.Unlock()
	}
	return out
}
