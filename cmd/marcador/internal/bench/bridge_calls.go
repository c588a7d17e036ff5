package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/amd"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// callRun places the debtor calls and bridges them.
type callRun struct {
	o                   BridgeOptions
	ep                  *dialer.Endpoint
	st                  *agent.Station
	pool                *agent.Pool
	campaign, node, run string
	log                 *slog.Logger
	waiters             waitQueue
	d2a, a2d            *histogram
	mu                  sync.Mutex
	failed              map[string]int
	immediate, waited   []time.Duration // routing times
	setup, queueWait    []time.Duration
	packetWait          []time.Duration
	firstSent, heard    []time.Duration // answer → our first packet, the debtor's first
	reserve             []time.Duration
	silentAtBridge      int
	bridged, abandoned  int
	answered, twoWay    int
	dropped             uint64
	callTime            time.Duration
	active, peak        atomic.Int64
}

func (cr *callRun) fail(why string) {
	cr.mu.Lock()
	cr.failed[why]++
	cr.mu.Unlock()
}

func (cr *callRun) all(ctx context.Context, sim string, simCPU, phonesCPU func() time.Duration, idleRate float64) (callsPhase, error) {
	ph := callsPhase{Placed: cr.o.Calls}
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "bench-bridge", URI: "sip:" + sim, CallerID: benchCallerID,
		CPS: cr.o.CPS, MaxChannels: cr.o.Calls})
	if err != nil {
		return ph, err
	}
	var wg sync.WaitGroup
	cpu0, sim0, phones0, start := selfCPU(), simCPU(), phonesCPU(), time.Now()
	var rss float64
	for i := range cr.o.Calls {
		if d := time.Until(start.Add(time.Duration(float64(i) / cr.o.CPS * float64(time.Second)))); d > 0 {
			sleepCtx(ctx, d)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() { cr.call(ctx, trunk, i) })
		if i == cr.o.Calls-1 {
			rss = selfRSS()
		}
	}
	wg.Wait()
	wall := time.Since(start)
	cpu := selfCPU() - cpu0
	ph.WallS, ph.CPUSeconds = wall.Seconds(), cpu.Seconds()
	ph.SimCPUPercent = 100 * (simCPU() - sim0).Seconds() / wall.Seconds()
	ph.PhonesCPUPercent = 100 * (phonesCPU() - phones0).Seconds() / wall.Seconds()
	ph.RSSMB = rss
	cr.mu.Lock()
	defer cr.mu.Unlock()
	ph.Answered, ph.Failed, ph.Bridged, ph.Abandoned = cr.answered, cr.failed, cr.bridged, cr.abandoned
	ph.Immediate, ph.Waited = len(cr.immediate), len(cr.waited)
	ph.PeakCalls = int(cr.peak.Load())
	ph.AnswerToBridge, ph.ReadyToBridge = spreadOf(cr.immediate), spreadOf(cr.waited)
	ph.Routing = spreadOf(append(slices.Clone(cr.immediate), cr.waited...))
	ph.Setup, ph.QueueWait = spreadOf(cr.setup), spreadOf(cr.queueWait)
	ph.PacketWait, ph.SilentAtBridge = spreadOf(cr.packetWait), cr.silentAtBridge
	ph.Reserve = spreadOf(cr.reserve)
	ph.AnswerToFirstSent, ph.AnswerToFirstHeard = spreadOf(cr.firstSent), spreadOf(cr.heard)
	ph.RelayDebtorToAgent.from(cr.d2a)
	ph.RelayAgentToDebtor.from(cr.a2d)
	ph.Dropped, ph.TwoWay = cr.dropped, cr.twoWay
	ph.CallSeconds = cr.callTime.Seconds()
	if ph.CallSeconds > 0 {
		ph.CPUPerCallSecondMS = 1000 * ph.CPUSeconds / ph.CallSeconds
		ph.NetOfIdleMS = 1000 * (ph.CPUSeconds - idleRate*wall.Seconds()) / ph.CallSeconds
	}
	return ph, ctx.Err()
}

// profiled places the calls (all), under a CPU profile when
// Options.CPUProfile asks for one.
func (cr *callRun) profiled(ctx context.Context, sim string, simCPU, phonesCPU func() time.Duration, idleRate float64,
	stderr io.Writer) (callsPhase, error) {
	o := cr.o
	how := "wait for an agent"
	if o.AbandonAfter > 0 {
		how = fmt.Sprintf("abandoned %s after answer", o.AbandonAfter)
	}
	fmt.Fprintf(stderr, "bench bridge: %d agents ready; %d calls at %g/s, held %s-%s, calls with no agent %s...\n",
		o.Agents, o.Calls, o.CPS, o.HoldMin, o.HoldMax, how)
	stopProfile, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return callsPhase{}, err
	}
	defer stopProfile()
	ph, err := cr.all(ctx, sim, simCPU, phonesCPU, idleRate)
	ph.Waiting = how
	return ph, err
}

// call is one debtor: dialled, answered, given an agent (at once or when one
// comes free), bridged, held, hung up; the agent wraps up and is ready.
func (cr *callRun) call(ctx context.Context, trunk *dialer.Trunk, i int) {
	leg, err := cr.ep.Dial(ctx, dialer.DialRequest{Trunk: trunk, To: fmt.Sprintf("+1777%07d", i), RingTimeout: queue.MinRingTimeout})
	if err != nil {
		cr.fail("dial_error")
		return
	}
	select {
	case <-leg.Ended():
		cr.fail("not answered: " + leg.Result().Disposition)
		return
	default:
	}
	n := cr.active.Add(1)
	defer cr.active.Add(-1)
	for p := cr.peak.Load(); n > p && !cr.peak.CompareAndSwap(p, n); p = cr.peak.Load() {
	}
	defer leg.Hangup(context.WithoutCancel(ctx))
	answered := leg.Result().Answered // stamped as the 200 OK is taken (ACK sent, media started)
	cr.mu.Lock()
	cr.answered++
	cr.mu.Unlock()
	callID := fmt.Sprintf("bb-%s-c%05d", cr.run, i)

	g, ok := cr.agentFor(ctx, leg, answered, callID)
	if !ok {
		return
	}
	r := g.r
	b, ok := cr.bridge(ctx, leg, r)
	if !ok {
		return
	}
	br := b.br
	if _, err := cr.pool.Connect(ctx, r); err != nil {
		cr.fail("connect_error")
	}
	select {
	case <-br.Connected():
	case <-br.Done():
	case <-time.After(5 * time.Second):
	}
	b.first = time.Unix(0, b.firstOut.Load())
	b.firstSent, b.firstHeard = leg.Session().FirstSent(), leg.Session().FirstReceived()
	if b.firstOut.Load() != 0 {
		hold := cr.o.HoldMin + time.Duration(mrand.Int64N(int64(cr.o.HoldMax-cr.o.HoldMin)+1))
		select {
		case <-time.After(hold):
		case <-br.Done():
		case <-ctx.Done():
		}
	}
	br.Stop()
	b.stopped = time.Now()
	leg.Hangup(context.WithoutCancel(ctx))
	b.stats = br.Stats()
	cr.wrapUp(ctx, r)
	cr.tally(answered, g, b)
}

// gotAgent is how a debtor got its agent.
type gotAgent struct {
	r      agent.Reservation
	from   time.Time     // the answer, or the agent coming free for a debtor that waited
	waited bool          // the debtor waited for an agent to come free
	took   time.Duration // the Reserve that got the agent
}

// agentFor reserves the longest-idle ready agent for the debtor answered
// at answered, waiting its turn for one to come free when none is ready;
// false when the call ends without one (abandoned, failed, hung up).
func (cr *callRun) agentFor(ctx context.Context, leg *dialer.Leg, answered time.Time, callID string) (gotAgent, bool) {
	from, waited := answered, false
	var r agent.Reservation
	var took time.Duration // the Reserve that got the agent
	var err error
	// The campaign's way (dialer/campaign waitForAgent): one script call
	// that takes the account's pinned agent or the longest-idle one (the
	// call id stands for the account: the bench pins nothing).
	reserve := func() (agent.Reservation, bool, error) {
		t := time.Now()
		r, ok, err := cr.pool.ReserveFor(ctx, cr.campaign, cr.node, callID, callID)
		took = time.Since(t)
		return r, ok, err
	}
	for {
		var ok bool
		r, ok, err = reserve()
		if err != nil {
			cr.fail("reserve_error")
			return gotAgent{}, false
		}
		if ok {
			break
		}
		w := cr.waiters.add()
		// An agent that came free between the Reserve and the add woke
		// nobody: look again before sleeping.
		if r, ok, err = reserve(); ok || err != nil {
			cr.waiters.drop(w)
			if err != nil {
				cr.fail("reserve_error")
				return gotAgent{}, false
			}
			break
		}
		var limit <-chan time.Time
		if cr.o.AbandonAfter > 0 {
			t := time.NewTimer(time.Until(answered.Add(cr.o.AbandonAfter)))
			defer t.Stop()
			limit = t.C
		}
		select {
		case <-w:
			from, waited = time.Now(), true
		case <-limit:
			cr.waiters.drop(w)
			cr.mu.Lock()
			cr.abandoned++
			cr.mu.Unlock()
			return gotAgent{}, false
		case <-leg.Ended():
			cr.waiters.drop(w)
			cr.fail("debtor hung up waiting")
			return gotAgent{}, false
		case <-ctx.Done():
			cr.waiters.drop(w)
			return gotAgent{}, false
		}
	}
	return gotAgent{r: r, from: from, waited: waited, took: took}, true
}

// bridged is one debtor's bridge to its agent and what call measures of it.
type bridged struct {
	br       *media.Bridge
	made     time.Time     // the bridge made
	silent   bool          // made before the debtor's first packet had arrived
	firstOut *atomic.Int64 // when the first debtor packet was forwarded to the agent (UnixNano), once it is
	first    time.Time     // firstOut as the hold began
	stopped  time.Time     // the bridge stopped
	// The debtor leg's first packet sent and first heard.
	firstSent, firstHeard time.Time
	stats                 media.BridgeStats
}

// bridge bridges the debtor's leg to the agent's, timing every packet the
// bridge relays; false when it cannot (the agent released, ready for the
// next debtor).
func (cr *callRun) bridge(ctx context.Context, leg *dialer.Leg, r agent.Reservation) (bridged, bool) {
	s, err := cr.st.Session(r.Agent)
	if err != nil {
		cr.pool.Release(context.WithoutCancel(ctx), r)
		cr.agentReady()
		cr.fail("agent leg: " + err.Error())
		return bridged{}, false
	}
	var firstOut atomic.Int64
	silent := leg.Session().Stats().Received == 0
	br, err := media.NewBridge(leg.Session(), s, media.BridgeOptions{Logger: cr.log, OnDebtorAudio: cr.amdTap(), OnRelay: func(side media.Side, rx time.Time) {
		now := time.Now()
		if side == media.Debtor {
			cr.d2a.add(now.Sub(rx))
			if firstOut.Load() == 0 {
				firstOut.CompareAndSwap(0, now.UnixNano())
			}
		} else {
			cr.a2d.add(now.Sub(rx))
		}
	}})
	made := time.Now()
	if err != nil {
		cr.pool.Release(context.WithoutCancel(ctx), r)
		cr.agentReady()
		cr.fail("bridge: " + err.Error())
		return bridged{}, false
	}
	return bridged{br: br, made: made, silent: silent, firstOut: &firstOut}, true
}

// amdTap is what a campaign with AMD gives the bridge (Options.AMD): a
// detector of the default parameters fed the debtor's decoded audio on the
// relay's path until it is done, as dialer/campaign's tap does.
func (cr *callRun) amdTap() func([]int16) {
	if !cr.o.AMD {
		return nil
	}
	d, err := amd.New(amd.Default())
	if err != nil {
		return nil
	}
	return func(pcm []int16) {
		if !d.Done() {
			d.Feed(pcm)
		}
	}
}

// wrapUp ends the agent's call: wrap-up for Options.Wrap, then ready.
func (cr *callRun) wrapUp(ctx context.Context, r agent.Reservation) {
	bctx := context.WithoutCancel(ctx)
	if _, err := cr.pool.Hangup(bctx, r); err != nil {
		cr.fail("hangup_error")
	}
	if cr.o.Wrap > 0 {
		sleepCtx(ctx, cr.o.Wrap)
	}
	if _, err := cr.pool.EndWrap(bctx, r); err != nil {
		cr.fail("end_wrap_error")
	}
	cr.agentReady()
}

// agentReady: the agent is ready again: the longest-waiting debtor looks.
func (cr *callRun) agentReady() { cr.waiters.wake() }

// tally counts a call that was bridged, answered at answered.
func (cr *callRun) tally(answered time.Time, g gotAgent, b bridged) {
	from, first, made, st := g.from, b.first, b.made, b.stats
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.dropped += st.DebtorToAgent.Dropped + st.AgentToDebtor.Dropped
	if b.firstOut.Load() == 0 {
		cr.failed["bridged, but no debtor packet reached the agent"]++
		return
	}
	cr.bridged++
	cr.callTime += b.stopped.Sub(first)
	if st.DebtorToAgent.Packets > 0 && st.AgentToDebtor.Packets > 0 {
		cr.twoWay++
	}
	cr.setup = append(cr.setup, made.Sub(from))
	cr.packetWait = append(cr.packetWait, first.Sub(made))
	cr.reserve = append(cr.reserve, g.took)
	if b.silent {
		cr.silentAtBridge++
	}
	if g.waited {
		cr.waited = append(cr.waited, first.Sub(from))
		cr.queueWait = append(cr.queueWait, from.Sub(answered))
	} else {
		cr.immediate = append(cr.immediate, first.Sub(from))
		cr.firstSent = append(cr.firstSent, b.firstSent.Sub(answered))
		cr.heard = append(cr.heard, b.firstHeard.Sub(answered))
	}
}

// waitQueue is the debtors waiting for an agent, first come first served:
// when an agent is ready again the head is woken to Reserve.
type waitQueue struct {
	mu sync.Mutex
	q  []chan struct{}
}

func (w *waitQueue) add() chan struct{} {
	c := make(chan struct{})
	w.mu.Lock()
	w.q = append(w.q, c)
	w.mu.Unlock()
	return c
}

// wake wakes the longest-waiting debtor, if any.
func (w *waitQueue) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.q) > 0 {
		close(w.q[0])
		w.q = w.q[1:]
	}
}

// drop takes c out of the queue; if it had been woken meanwhile, the wake
// goes to the next debtor.
func (w *waitQueue) drop(c chan struct{}) {
	w.mu.Lock()
	if i := slices.Index(w.q, c); i >= 0 {
		w.q = slices.Delete(w.q, i, i+1)
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.wake()
}
