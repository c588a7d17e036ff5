package pacing

import (
	"math"
	"time"
)

// PredictiveConfig tunes the predictive pacer; zero values take the
// defaults noted.
type PredictiveConfig struct {
	// Window is the compliance window the abandon target applies to.
	// Default WindowUS (30 days); WindowUK(loc) counts per day.
	Window WindowRule
	// Patience is how long a live answer may wait for an agent before it is
	// abandoned (the safe-harbour message plays). Default 2 s.
	Patience time.Duration
	// Margin is the operating point as a share of the target abandon rate,
	// kept below 1 so that chance leaves the window under the limit.
	// Default 0.97.
	Margin float64
	// MaxLinesPerAgent caps calls in flight per available agent when the
	// campaign sets none. Default 6.
	MaxLinesPerAgent float64
	// WarmUp (DefaultWarmUp) is the number of calls with an outcome (at least a tenth of
	// them live answers) the pacer needs before it predicts; until then it
	// dials progressively. It counts busy agents as coming free only after
	// WarmUp/5 talk times and wrap-ups. Default 50.
	WarmUp int
	// Gain is how strongly the unused (or overspent) abandon budget moves
	// the dial threshold: the threshold is multiplied by e^Gain for every
	// abandon the window is under its budget. Default 0.5.
	Gain float64
	// Threshold is the starting chance of abandon a marginal call may carry.
	// Default 0.03.
	Threshold float64
	// Reserve is the number of abandons the window keeps unspent, so that a
	// burst of them (several live answers at once) does not take a small
	// team over the limit. Default 3.
	Reserve float64
	// Integral is how fast the threshold's base learns from the budget
	// (per live answer, per abandon of slack). Default 0.01.
	Integral float64
	// Step is the forecast's resolution. Default 1 s.
	Step time.Duration
	// Memory is how many calls the learned distributions remember. Default
	// 1000 for handle times, 500 for call outcomes.
	HandleMemory, OutcomeMemory float64
}

// Predictive is the model-based pacer.
//
// On every tick it builds, second by second over the next ring time, two
// forecasts: how many agents will be free (each busy agent's chance of being
// ready again, from how long it has been talking or wrapping up and the
// learned talk and wrap-up time distributions), and how many of the calls in
// flight will have been answered by a person (each call's chance from how
// long it has rung and the learned outcome shares and ring times). A live
// answer at second k is abandoned when the live answers up to k outnumber
// the agents free by k plus the patience; the pacer takes both counts as
// normal (sums of independent chances, with their variances) and adds calls
// while the next call's chance of ending abandoned (or of pushing a later
// answer out) stays under a threshold.
//
// The threshold is the feedback term: it rises while the compliance window
// has abandons to spare and falls as they are spent, so the window's rate
// settles at Margin × target whatever the errors of the model.
//
// It dials progressively until it has seen WarmUp calls, never dials with
// no agent available or likely free within the horizon, and keeps to the
// trunk's CPS and channels and the lines-per-agent cap.
type Predictive struct {
	cfg    PredictiveConfig
	handle *handleModel
	answer *answerModel
	window *AbandonWindow
	cps    cpsBucket

	// per-tick scratch, kept to avoid allocating on every tick
	muL, varL, muA, varA, gNew, cumNew []float64
	perRow                             []int32 // calls per answer-model row
	touched                            []int   // rows with calls this tick
	lastThreshold                      float64
	logBase                            float64 // the threshold's learned base (log)
	lastLive                           int64   // live answers in the window at the last tick
}

// NewPredictive returns a predictive pacer with its models at their priors.
func NewPredictive(cfg PredictiveConfig) *Predictive {
	if cfg.Patience <= 0 {
		cfg.Patience = 2 * time.Second
	}
	if cfg.Margin <= 0 {
		cfg.Margin = 0.97
	}
	if cfg.MaxLinesPerAgent <= 0 {
		cfg.MaxLinesPerAgent = 6
	}
	if cfg.WarmUp <= 0 {
		cfg.WarmUp = DefaultWarmUp
	}
	if cfg.Gain <= 0 {
		cfg.Gain = 0.5
	}
	if cfg.Threshold <= 0 {
		cfg.Threshold = 0.03
	}
	if cfg.Reserve == 0 {
		cfg.Reserve = 3
	}
	if cfg.Integral == 0 {
		cfg.Integral = 0.01
	}
	if cfg.Step <= 0 {
		cfg.Step = time.Second
	}
	if cfg.HandleMemory <= 0 {
		cfg.HandleMemory = 1000
	}
	if cfg.OutcomeMemory <= 0 {
		cfg.OutcomeMemory = 500
	}
	a := newAnswerModel()
	a.grow = 1 / (1 - 1/cfg.OutcomeMemory)
	return &Predictive{cfg: cfg, handle: newHandleModel(cfg.HandleMemory), answer: a, window: NewAbandonWindow(cfg.Window),
		perRow: make([]int32, len(a.rows.gen)), logBase: math.Log(cfg.Threshold)}
}

func (*Predictive) Name() string { return "predictive" }

// Unplaced gives back n calls of its decisions never placed (Refunder).
func (p *Predictive) Unplaced(n int) { p.cps.refund(n) }

// Window is the pacer's own count of live answers and abandons (for
// metrics: rates over 1 h, 24 h, 30 days).
func (p *Predictive) Window() *AbandonWindow { return p.window }

// Threshold is the marginal abandon chance the last tick dialled to.
func (p *Predictive) Threshold() float64 { return p.lastThreshold }

func (p *Predictive) Observe(ev Event) {
	switch ev.Kind {
	case TalkEnded, WrapEnded:
		p.handle.observe(ev)
	case AnsweredLive, AnsweredMachine, NotAnswered:
		p.answer.observe(ev)
	case Connected:
		p.window.Add(ev.At, false)
	case Abandoned:
		p.window.Add(ev.At, true)
	}
}

// warm says the answer model has seen enough calls to predict live answers.
func (p *Predictive) warm() bool {
	return p.answer.calls() >= p.cfg.WarmUp && p.answer.n[outLive] >= max(p.cfg.WarmUp/10, 1)
}

// handleWarm says the handle model has seen enough calls to predict when
// busy agents will be free; until then only ready agents count.
func (p *Predictive) handleWarm() bool { return p.handle.enough(max(p.cfg.WarmUp/5, 1)) }

// threshold is the feedback term: the chance of abandon a marginal call may
// carry. The slack is the abandon budget left in the compliance window
// (Margin × target × live answers − abandons − Reserve); the threshold is
// e^(base + Gain × slack), so every abandon over budget cuts it sharply
// and every live answer under budget raises it a little, and the base
// learns (integral term) where the threshold must sit for the slack to
// stay near zero on this campaign.
func (p *Predictive) threshold(s *Snapshot) float64 {
	live, ab := p.window.Counts(s.Now)
	if s.Window != nil {
		live, ab = s.Window.Live, s.Window.Abandoned
	}
	target := s.Settings.TargetAbandon
	if target <= 0 {
		target = 0.03
	}
	slack := p.cfg.Margin*target*float64(live) - float64(ab) - p.cfg.Reserve
	slack = math.Max(-40, math.Min(slack, 40))
	if n := live - p.lastLive; n > 0 {
		// At most 20 answers' worth a tick: a window that arrives full
		// (shared counters after a restart) must not swing the base.
		p.logBase += p.cfg.Integral * float64(min(n, 20)) * math.Max(-5, math.Min(slack, 5))
		p.logBase = math.Max(math.Log(0.0005), math.Min(p.logBase, math.Log(0.5)))
	}
	p.lastLive = live
	return math.Max(0.0005, math.Min(0.9, math.Exp(p.logBase+p.cfg.Gain*slack)))
}

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	b = b[:n]
	for i := range b {
		b[i] = 0
	}
	return b
}

func (p *Predictive) Decide(s *Snapshot) Decision {
	c := takeCensus(s)
	if c.available() == 0 {
		return Decision{Reason: ReasonNoAgents}
	}
	maxLines := s.Settings.MaxLinesPerAgent
	if maxLines <= 0 {
		maxLines = p.cfg.MaxLinesPerAgent
	}
	if !p.warm() {
		d := progressive(s, c, 1, &p.cps)
		if d.Reason == ReasonDial {
			d.Reason = ReasonWarmUp
		}
		return d
	}

	step := p.cfg.Step.Seconds()
	patience := int(math.Ceil(p.cfg.Patience.Seconds() / step))
	nb := p.answer.prepare(step) // bins in which a live answer may come
	na := nb + 1 + patience      // agents are needed up to the last bin's end plus the patience
	if !p.forecastAgents(s, c, na, step) {
		return Decision{Reason: ReasonNoneSoon, DialLevel: dialLevel(c, 0)}
	}
	p.forecastLive(s, nb)
	pl := p.newCallChance(nb, step)
	d := Decision{PredictedFree: p.muA[na-1], PredictedLive: p.muL[nb-1]}
	if pl <= 0 {
		d.Reason, d.DialLevel = ReasonEnough, dialLevel(c, 0)
		return d
	}
	n, why := p.count(s, c, maxLines, nb, patience, pl)
	p.cps.take(n)
	d.Dial, d.Reason, d.DialLevel = n, why, dialLevel(c, n)
	return d
}

// forecastAgents fills muA and varA: the expected number of agents free by
// the end of each of na bins, and its variance. false when none is ready
// and none is likely to be free within them.
func (p *Predictive) forecastAgents(s *Snapshot, c census, na int, step float64) (soon bool) {
	p.muA, p.varA = grow(p.muA, na), grow(p.varA, na)
	p.handle.prepare(na, step)
	soon = c.ready > 0
	handleWarm := p.handleWarm()
	for i := range s.Agents {
		a := s.Agents[i]
		if a.State == Ready || a.State == Paused || a.Leaving || !handleWarm {
			continue
		}
		free := p.handle.free(a)
		for k, f := range free {
			p.muA[k] += f
			p.varA[k] += f * (1 - f)
		}
		if free[na-1] > 0.02 {
			soon = true
		}
	}
	for k := range p.muA {
		p.muA[k] += float64(c.ready)
	}
	return soon
}

// forecastLive fills muL and varL from the calls in flight, grouped by
// seconds rung: the expected live answers by the end of each of nb bins
// (cumulative), and the variance.
func (p *Predictive) forecastLive(s *Snapshot, nb int) {
	p.muL, p.varL = grow(p.muL, nb), grow(p.varL, nb)
	// Calls are counted per forecast row first (rows are by half second
	// rung), so the work is per row, not per call.
	for _, call := range s.Calls {
		i := p.answer.rows.index(call.Ringing.Seconds())
		if p.perRow[i] == 0 {
			p.touched = append(p.touched, i)
		}
		p.perRow[i]++
	}
	for _, i := range p.touched {
		n := float64(p.perRow[i])
		p.perRow[i] = 0
		r, _ := p.answer.cumLive(float64(i) * p.answer.rows.res)
		for k := range nb {
			p.muL[k] += n * r[k]
			p.varL[k] += n * r[nb+k]
		}
	}
	p.touched = p.touched[:0]
}

// newCallChance fills gNew and cumNew, a new call's chance of a live answer
// in each bin and by the end of it, and returns its chance of one at all.
func (p *Predictive) newCallChance(nb int, step float64) float64 {
	p.gNew, p.cumNew = grow(p.gNew, nb), grow(p.cumNew, nb)
	pl := p.answer.liveBins(0, step, p.gNew)
	var g float64
	for k, x := range p.gNew {
		g += x
		p.cumNew[k] = g
	}
	return pl
}

// count adds calls, each to the live forecast, while the next one's
// marginal risk stays under the threshold and within the caps.
func (p *Predictive) count(s *Snapshot, c census, maxLines float64, nb, patience int, pl float64) (int, Reason) {
	theta := p.threshold(s)
	p.lastThreshold = theta
	cap, capWhy := room(c, maxLines, s)
	if r := p.cps.room(s.Now, s.Trunk.CPS); r < cap {
		cap, capWhy = r, ReasonCapCPS
	}
	waiting := float64(c.waiting)
	n := 0
	for n < cap {
		if p.marginal(waiting, nb, patience, pl) > theta {
			break
		}
		n++
		for k := range p.muL {
			g := p.cumNew[k]
			p.muL[k] += g
			p.varL[k] += g * (1 - g)
		}
	}
	switch {
	case n == cap && cap < math.MaxInt32:
		return n, capWhy
	case n > 0:
		return n, ReasonDial
	}
	return n, ReasonEnough
}

// marginal is the chance that one more call, if a person answers it, is
// abandoned or pushes a later live answer out: the answer comes in bin k
// (with the new call's own timing); from then on, if at any second the
// live answers so far reach the agents free by then plus the patience, one
// of them is abandoned. Both counts are taken as normal (sums of many
// independent chances); the chance over the seconds from k on is taken as
// the largest of the seconds' chances. The feedback term corrects the
// level of these approximations; what they must get right is which states
// are riskier than others.
func (p *Predictive) marginal(waiting float64, nb, patience int, pl float64) float64 {
	var m, suffix float64
	for k := nb - 1; k >= 0; k-- {
		j := k + 1 + patience
		mu := waiting + p.muL[k] - p.muA[j]
		sd := math.Sqrt(p.varL[k] + p.varA[j])
		var pk float64
		switch {
		case sd > 1e-6:
			pk = phi((mu + 0.5) / sd)
		case mu+0.5 > 0:
			pk = 1
		}
		suffix = math.Max(suffix, pk)
		m += p.gNew[k] * suffix
	}
	return m / pl
}

// DefaultWarmUp is how many calls with an outcome the predictive pacer
// needs before it predicts (until then it dials progressively).
const DefaultWarmUp = 50
