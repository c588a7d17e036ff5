// Package sim is a discrete-event simulation of a predictive-dialing
// campaign (agents, calls that ring and are answered by people or machines
// or not at all, talk and wrap-up, abandons) that drives the real pacers of
// dialer/pacing on a simulated clock. A run is deterministic for its seed.
package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/marcador/marcador/dialer/pacing"
)

// Params describe one simulated shift.
type Params struct {
	Agents      int           // logged in at the start, ready
	AnswerRate  float64       // share of calls a person answers
	MachineRate float64       // share of calls a machine answers; the rest ring out
	RingMean    time.Duration // a person answers after this mean ring time (lognormal)
	RingCV      float64       // its coefficient of variation
	RingTimeout time.Duration // an unanswered call is cancelled after this
	AHT         time.Duration // mean talk time (lognormal)
	AHTCV       float64       // its coefficient of variation
	Wrap        time.Duration // wrap-up after each call
	WrapCV      float64       // 0: every wrap-up lasts Wrap exactly
	Hours       float64       // shift length
	Patience    time.Duration // a live answer with no agent within this is abandoned
	AMD         time.Duration // a machine holds its line this long after answering
	Tick        time.Duration // the pacer decides this often
	CPS         float64       // trunk calls per second; 0 no limit
	Channels    int           // trunk channels; 0 no limit
	Settings    pacing.Settings
	Seed        uint64
	Start       time.Time // wall-clock instant of the shift start (the pacers see it)
	Scenario    *Scenario
}

// Defaults are the figures of the standard runs: talk lognormal 150 s
// (cv 1) plus 30 s wrap-up, people answer after 10 s (cv 0.5), machines
// after 15 s, unanswered calls ring 30 s, 25% machines, 2 s to reach an
// agent, 4 hours, a tick every 500 ms.
func Defaults() Params {
	return Params{
		Agents: 25, AnswerRate: 0.10, MachineRate: 0.25,
		RingMean: 10 * time.Second, RingCV: 0.5, RingTimeout: 30 * time.Second,
		AHT: 150 * time.Second, AHTCV: 1, Wrap: 30 * time.Second,
		Hours: 4, Patience: 2 * time.Second, AMD: 3 * time.Second, Tick: 500 * time.Millisecond,
		Settings: pacing.Settings{TargetAbandon: 0.03},
		Seed:     1,
		Start:    time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC),
	}
}

// Result is one run's figures.
type Result struct {
	Pacer                string  `json:"pacer"`
	Agents               int     `json:"agents"`
	AnswerRate           float64 `json:"answer_rate"`
	Seed                 uint64  `json:"seed"`
	Occupancy            float64 `json:"occupancy"`
	TalkMinPerAgentHour  float64 `json:"talk_min_per_agent_hour"`
	AbandonRate          float64 `json:"abandon_rate"`
	AbandonRateWorstHour float64 `json:"abandon_rate_worst_hour"`
	ConnectsPerAgentHour float64 `json:"connects_per_agent_hour"`
	AgentWaitS           float64 `json:"agent_wait_s"`
	Dials                int     `json:"dials"`

	// Counts behind the figures (not in the JSON line).
	Live, Abandoned, Connects int     `json:"-"`
	AgentHours                float64 `json:"-"`
	// DialsWithoutAgents counts calls placed on ticks when no agent was
	// ready or coming back to ready (none logged in, all paused or leaving).
	DialsWithoutAgents int `json:"-"`
	// MaxLines is the most channels in use at once.
	MaxLines int `json:"-"`
}

type callState uint8

const (
	ringing callState = iota
	waiting           // answered by a person, waiting for an agent
	talking
	amd // answered by a machine, being hung up
	done
)

const (
	outLive uint8 = iota
	outMachine
	outNone
)

type call struct {
	dialed   int64
	answered int64
	ringEnd  int64
	outcome  uint8
	state    callState
	pos      int32 // index in ringing while ringing
}

type waiter struct {
	id       int32
	answered int64
}

type agentState uint8

const (
	aOut agentState = iota // logged out
	aReady
	aTalking
	aWrap
	aPaused
)

const (
	leaveNone uint8 = iota
	leavePause
	leaveLogout
)

type agent struct {
	state    agentState
	since    int64
	leaving  uint8
	breakFor int64
	call     int32
	callEnd  int64
}

// world is one run's state.
type world struct {
	p     Params
	pacer pacing.Pacer
	rng   *rand.Rand
	now   int64
	end   int64
	seq   uint64
	q     events

	calls    []call
	free     []int32 // reusable call slots
	ringing  []int32
	waitQ    []waiter // live answers in arrival order (stale entries skipped)
	nWaiting int
	lines    int // channels in use
	agents   []agent

	// current parameters (scenario changes move them)
	answerRate, machineRate float64
	aht                     time.Duration

	// accounting
	stateTime             [5]int64
	live, aband, connects int
	dials, dialsNoAgent   int
	maxLines              int
	hourLive, hourAband   []int

	snap   pacing.Snapshot
	agBuf  []pacing.Agent
	callBf []pacing.Call
}

// Run simulates one shift with the pacer.
func Run(p Params, pacer pacing.Pacer) Result {
	w := &world{p: p, pacer: pacer, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)),
		answerRate: p.AnswerRate, machineRate: p.MachineRate, aht: p.AHT}
	w.end = int64(p.Hours * float64(time.Hour))
	hours := int(math.Ceil(p.Hours))
	w.hourLive, w.hourAband = make([]int, hours), make([]int, hours)
	for range p.Agents {
		w.agents = append(w.agents, agent{state: aReady, call: -1})
	}
	w.schedule(0, evTick, 0)
	if p.Scenario != nil {
		for i, e := range p.Scenario.Events {
			w.schedule(int64(e.At), evScenario, int32(i))
		}
	}
	for len(w.q) > 0 {
		e := w.q.pop()
		if e.at >= w.end {
			break
		}
		w.now = e.at
		w.handle(e)
	}
	w.now = w.end
	for i := range w.agents {
		w.account(i)
	}
	return w.result()
}

func (w *world) schedule(at int64, k evKind, id int32) {
	w.seq++
	w.q.push(event{at: at, seq: w.seq, kind: k, id: id})
}

func (w *world) wall(t int64) time.Time { return w.p.Start.Add(time.Duration(t)) }

func (w *world) observe(k pacing.EventKind, d int64) {
	w.pacer.Observe(pacing.Event{Kind: k, At: w.wall(w.now), Duration: time.Duration(d)})
}

func (w *world) handle(e event) {
	switch e.kind {
	case evTick:
		w.tick()
		w.schedule(w.now+int64(w.p.Tick), evTick, 0)
	case evRingEnd:
		w.ringEnd(e.id)
	case evAbandon:
		// The slot may hold a later call by now: only the wait that ends now.
		c := &w.calls[e.id]
		if c.state == waiting && c.answered+int64(w.p.Patience) <= w.now {
			c.state = done
			w.nWaiting--
			w.lines--
			w.aband++
			w.hourAband[w.hour(c.answered)]++
			w.observe(pacing.Abandoned, w.now-c.answered)
			w.release(e.id)
		}
	case evTalkEnd:
		a := &w.agents[e.id]
		c := &w.calls[a.call]
		c.state = done
		w.lines--
		w.release(a.call)
		a.call = -1
		w.observe(pacing.TalkEnded, w.now-a.since)
		w.setState(int(e.id), aWrap)
		w.schedule(w.now+w.draw(w.p.Wrap, w.p.WrapCV), evWrapEnd, e.id)
	case evWrapEnd:
		a := &w.agents[e.id]
		w.observe(pacing.WrapEnded, w.now-a.since)
		switch a.leaving {
		case leavePause:
			w.pause(int(e.id))
		case leaveLogout:
			w.setState(int(e.id), aOut)
		default:
			w.setState(int(e.id), aReady)
			w.serveWaiting(int(e.id))
		}
		a.leaving = leaveNone
	case evMachineEnd:
		w.calls[e.id].state = done
		w.lines--
		w.release(e.id)
	case evScenario:
		w.apply(&w.p.Scenario.Events[e.id])
	case evBreakEnd:
		if w.agents[e.id].state == aPaused {
			w.setState(int(e.id), aReady)
			w.serveWaiting(int(e.id))
		}
	}
}

func (w *world) hour(t int64) int { return min(int(t/int64(time.Hour)), len(w.hourLive)-1) }

// draw is a lognormal duration with this mean and cv (cv 0: the mean).
func (w *world) draw(mean time.Duration, cv float64) int64 {
	if cv <= 0 {
		return int64(mean)
	}
	s2 := math.Log(1 + cv*cv)
	x := math.Exp(math.Log(float64(mean)) - s2/2 + math.Sqrt(s2)*w.rng.NormFloat64())
	return int64(x)
}

func (w *world) newCall() int32 {
	if n := len(w.free); n > 0 {
		id := w.free[n-1]
		w.free = w.free[:n-1]
		return id
	}
	w.calls = append(w.calls, call{})
	return int32(len(w.calls) - 1)
}

func (w *world) release(id int32) { w.free = append(w.free, id) }

func (w *world) dial() {
	id := w.newCall()
	c := &w.calls[id]
	*c = call{dialed: w.now, state: ringing, pos: int32(len(w.ringing))}
	w.ringing = append(w.ringing, id)
	w.lines++
	w.maxLines = max(w.maxLines, w.lines)
	w.dials++
	u := w.rng.Float64()
	timeout := int64(w.p.RingTimeout)
	switch {
	case u < w.answerRate:
		c.outcome = outLive
		c.ringEnd = w.draw(w.p.RingMean, w.p.RingCV)
	case u < w.answerRate+w.machineRate:
		c.outcome = outMachine
		c.ringEnd = w.draw(w.p.RingMean*3/2, 0.3)
	default:
		c.outcome = outNone
		c.ringEnd = timeout
	}
	if c.ringEnd >= timeout { // answered too late: we cancelled first
		c.outcome, c.ringEnd = outNone, timeout
	}
	w.schedule(w.now+c.ringEnd, evRingEnd, id)
}

func (w *world) ringEnd(id int32) {
	c := &w.calls[id]
	// out of the ringing list (swap with the last)
	last := w.ringing[len(w.ringing)-1]
	w.ringing[c.pos] = last
	w.calls[last].pos = c.pos
	w.ringing = w.ringing[:len(w.ringing)-1]
	switch c.outcome {
	case outNone:
		c.state = done
		w.lines--
		w.observe(pacing.NotAnswered, c.ringEnd)
		w.release(id)
	case outMachine:
		c.state = amd
		w.observe(pacing.AnsweredMachine, c.ringEnd)
		w.schedule(w.now+int64(w.p.AMD), evMachineEnd, id)
	case outLive:
		c.answered = w.now
		w.live++
		w.hourLive[w.hour(w.now)]++
		w.observe(pacing.AnsweredLive, c.ringEnd)
		if a := w.longestIdle(); a >= 0 {
			w.connect(a, id)
			return
		}
		c.state = waiting
		w.nWaiting++
		w.waitQ = append(w.waitQ, waiter{id, w.now})
		w.schedule(w.now+int64(w.p.Patience), evAbandon, id)
	}
}

func (w *world) longestIdle() int {
	best := -1
	for i := range w.agents {
		if w.agents[i].state == aReady && (best < 0 || w.agents[i].since < w.agents[best].since) {
			best = i
		}
	}
	return best
}

func (w *world) connect(ai int, id int32) {
	c := &w.calls[id]
	if c.state == waiting {
		w.nWaiting--
	}
	c.state = talking
	w.connects++
	w.observe(pacing.Connected, w.now-c.answered)
	w.setState(ai, aTalking)
	a := &w.agents[ai]
	a.call = id
	w.schedule(w.now+w.draw(w.aht, w.p.AHTCV), evTalkEnd, int32(ai))
}

// serveWaiting gives a newly ready agent the oldest live answer waiting.
func (w *world) serveWaiting(ai int) {
	for len(w.waitQ) > 0 {
		wt := w.waitQ[0]
		w.waitQ = w.waitQ[1:]
		if c := &w.calls[wt.id]; c.state == waiting && c.answered == wt.answered {
			w.connect(ai, wt.id)
			return
		}
	}
}

// account adds the time since the agent's last change to its state's total.
func (w *world) account(i int) {
	a := &w.agents[i]
	if a.state != aOut {
		w.stateTime[a.state] += w.now - a.since
	}
	a.since = w.now
}

func (w *world) setState(i int, s agentState) {
	w.account(i)
	w.agents[i].state = s
}

func (w *world) pause(i int) {
	a := &w.agents[i]
	w.setState(i, aPaused)
	w.schedule(w.now+a.breakFor, evBreakEnd, int32(i))
}

func (w *world) tick() {
	s := &w.snap
	s.Now = w.wall(w.now)
	w.agBuf = w.agBuf[:0]
	for i := range w.agents {
		a := &w.agents[i]
		var st pacing.AgentState
		switch a.state {
		case aOut:
			continue
		case aReady:
			st = pacing.Ready
		case aTalking:
			st = pacing.Talking
		case aWrap:
			st = pacing.Wrap
		case aPaused:
			st = pacing.Paused
		}
		w.agBuf = append(w.agBuf, pacing.Agent{State: st, InState: time.Duration(w.now - a.since), Leaving: a.leaving != leaveNone})
	}
	w.callBf = w.callBf[:0]
	for _, id := range w.ringing {
		w.callBf = append(w.callBf, pacing.Call{Ringing: time.Duration(w.now - w.calls[id].dialed)})
	}
	s.Agents, s.Calls, s.Waiting = w.agBuf, w.callBf, w.nWaiting
	s.Trunk = pacing.Trunk{CPS: w.p.CPS, FreeChannels: pacing.NoLimit}
	if w.p.Channels > 0 {
		s.Trunk.FreeChannels = max(w.p.Channels-w.lines, 0)
	}
	s.Settings = w.p.Settings
	d := w.pacer.Decide(s)
	available := false
	for _, a := range w.agBuf {
		available = available || (a.State != pacing.Paused && !a.Leaving)
	}
	if !available {
		w.dialsNoAgent += d.Dial
	}
	for range d.Dial {
		w.dial()
	}
}

func (w *world) result() Result {
	worked := w.stateTime[aTalking] + w.stateTime[aWrap]
	logged := worked + w.stateTime[aReady]
	hrs := float64(logged) / float64(time.Hour)
	r := Result{Pacer: w.pacer.Name(), Agents: w.p.Agents, AnswerRate: w.p.AnswerRate, Seed: w.p.Seed,
		Dials: w.dials, Live: w.live, Abandoned: w.aband, Connects: w.connects, AgentHours: hrs,
		DialsWithoutAgents: w.dialsNoAgent, MaxLines: w.maxLines}
	if logged > 0 {
		r.Occupancy = float64(worked) / float64(logged)
		r.TalkMinPerAgentHour = float64(w.stateTime[aTalking]) / float64(time.Minute) / hrs
		r.ConnectsPerAgentHour = float64(w.connects) / hrs
	}
	if w.connects > 0 {
		r.AgentWaitS = float64(w.stateTime[aReady]) / float64(time.Second) / float64(w.connects)
	}
	if w.live > 0 {
		r.AbandonRate = float64(w.aband) / float64(w.live)
	}
	for h := range w.hourLive {
		if w.hourLive[h] > 0 {
			r.AbandonRateWorstHour = math.Max(r.AbandonRateWorstHour, float64(w.hourAband[h])/float64(w.hourLive[h]))
		}
	}
	return r
}
