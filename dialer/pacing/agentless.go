package pacing

import "math"

// AgentlessConfig tunes the agentless pacer; zero values take the defaults.
type AgentlessConfig struct {
	// AgentLoad is the share of the agents' capacity that transfers may
	// fill, so that a transfer meets a ready agent. Default 0.85.
	AgentLoad float64
}

// Agentless paces an IVR campaign: it dials so that about
// Settings.TargetSessions IVR sessions run at once, within the trunk's CPS
// and channels. A session starts when a call is answered (by a person or a
// machine, which hears the message); the calls in flight count by their
// chance of still being answered, from how long they have rung (the same
// answer model as the predictive pacer's).
//
// When sessions transfer to agents (the campaign has agents logged in and
// some sessions ask for one), the target is cut so that the transfers
// arrive no faster than AgentLoad of what the agents can take (available
// agents ÷ mean handle time, against the transfer share ÷ mean session
// length), and no call is placed while transfers wait for an agent with none
// ready.
type Agentless struct {
	cfg                 AgentlessConfig
	answer              *answerModel
	handle              *handleModel
	session             *Dist   // session length, answer to end or transfer
	transfers, sessions float64 // fading counts
	cps                 cpsBucket
}

// NewAgentless returns an agentless pacer with its models at their priors.
func NewAgentless(cfg AgentlessConfig) *Agentless {
	if cfg.AgentLoad <= 0 || cfg.AgentLoad > 1 {
		cfg.AgentLoad = 0.85
	}
	return &Agentless{cfg: cfg, answer: newAnswerModel(), handle: newHandleModel(1000),
		session: newDist(handleGrid, 500, lognormalCDF(60, 0.8), 3)}
}

func (*Agentless) Name() string { return "agentless" }

// Unplaced gives back n calls of its decisions never placed (Refunder).
func (p *Agentless) Unplaced(n int) { p.cps.refund(n) }

func (p *Agentless) Observe(ev Event) {
	const keep = 1 - 1.0/500
	switch ev.Kind {
	case AnsweredLive, AnsweredMachine, NotAnswered:
		p.answer.observe(ev)
	case TalkEnded, WrapEnded:
		p.handle.observe(ev)
	case SessionEnded:
		p.session.Add(ev.Duration.Seconds())
		p.sessions = p.sessions*keep + 1
		p.transfers *= keep
	case Transferred:
		p.session.Add(ev.Duration.Seconds())
		p.sessions = p.sessions*keep + 1
		p.transfers = p.transfers*keep + 1
	}
}

// TransferShare is the learned share of sessions that ask for an agent.
func (p *Agentless) TransferShare() float64 {
	if p.sessions == 0 {
		return 0
	}
	return p.transfers / p.sessions
}

func (p *Agentless) Decide(s *Snapshot) Decision {
	c := takeCensus(s)
	target := float64(s.Settings.TargetSessions)
	q := p.TransferShare()
	if len(s.Agents) > 0 && q > 0 {
		if c.waiting > c.ready {
			return Decision{Reason: ReasonNoneSoon}
		}
		// Transfers per second at this many sessions: q × sessions / mean
		// session; the agents take available / mean handle per second.
		capacity := p.cfg.AgentLoad * float64(c.available()) / p.handle.meanHandle().Seconds()
		target = math.Min(target, capacity*p.session.Mean()/q)
	}
	pl, pm := p.answer.share(outLive), p.answer.share(outMachine)
	var expected float64
	for _, call := range s.Calls {
		expected += p.answer.answerChance(call.Ringing.Seconds())
	}
	d := Decision{PredictedLive: expected}
	want := int(math.Floor((target - float64(s.Sessions) - expected) / math.Max(pl+pm, 0.01)))
	if want <= 0 {
		d.Reason = ReasonEnough
		return d
	}
	d.Dial, d.Reason = limit(want, ReasonDial, c, 0, s, &p.cps)
	return d
}
