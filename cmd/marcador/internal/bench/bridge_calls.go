package bench

import (
	"context"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
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

	from, waited := answered, false
	var r agent.Reservation
	var took time.Duration // the Reserve that got the agent
	reserve := func() (agent.Reservation, bool, error) {
		t := time.Now()
		r, ok, err := cr.pool.Reserve(ctx, cr.campaign, cr.node, callID)
		took = time.Since(t)
		return r, ok, err
	}
	for {
		var ok bool
		r, ok, err = reserve()
		if err != nil {
			cr.fail("reserve_error")
			return
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
				return
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
			return
		case <-leg.Ended():
			cr.waiters.drop(w)
			cr.fail("debtor hung up waiting")
			return
		case <-ctx.Done():
			cr.waiters.drop(w)
			return
		}
	}
	done := func() {
		// The agent is ready again: the longest-waiting debtor looks.
		cr.waiters.wake()
	}
	s, err := cr.st.Session(r.Agent)
	if err != nil {
		cr.pool.Release(context.WithoutCancel(ctx), r)
		done()
		cr.fail("agent leg: " + err.Error())
		return
	}
	var firstOut atomic.Int64
	silent := leg.Session().Stats().Received == 0
	br, err := media.NewBridge(leg.Session(), s, media.BridgeOptions{Logger: cr.log, OnRelay: func(side media.Side, rx time.Time) {
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
		done()
		cr.fail("bridge: " + err.Error())
		return
	}
	if _, err := cr.pool.Connect(ctx, r); err != nil {
		cr.fail("connect_error")
	}
	select {
	case <-br.Connected():
	case <-br.Done():
	case <-time.After(5 * time.Second):
	}
	first := time.Unix(0, firstOut.Load())
	if firstOut.Load() != 0 {
		hold := cr.o.HoldMin + time.Duration(mrand.Int64N(int64(cr.o.HoldMax-cr.o.HoldMin)+1))
		select {
		case <-time.After(hold):
		case <-br.Done():
		case <-ctx.Done():
		}
	}
	br.Stop()
	stopped := time.Now()
	leg.Hangup(context.WithoutCancel(ctx))
	st := br.Stats()
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
	done()

	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.dropped += st.DebtorToAgent.Dropped + st.AgentToDebtor.Dropped
	if firstOut.Load() == 0 {
		cr.failed["bridged, but no debtor packet reached the agent"]++
		return
	}
	cr.bridged++
	cr.callTime += stopped.Sub(first)
	if st.DebtorToAgent.Packets > 0 && st.AgentToDebtor.Packets > 0 {
		cr.twoWay++
	}
	cr.setup = append(cr.setup, made.Sub(from))
	cr.packetWait = append(cr.packetWait, first.Sub(made))
	cr.reserve = append(cr.reserve, took)
	if silent {
		cr.silentAtBridge++
	}
	if waited {
		cr.waited = append(cr.waited, first.Sub(from))
		cr.queueWait = append(cr.queueWait, from.Sub(answered))
	} else {
		cr.immediate = append(cr.immediate, first.Sub(from))
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
