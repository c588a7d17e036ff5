package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// BridgeOptions of `bench bridge`.
type BridgeOptions struct {
	Config config.Config // redis and sip.rtp_ports are used
	Agents int           // agents' phones registered and logged in
	Calls  int           // debtor calls placed
	CPS    float64       // rate the calls are placed at
	// HoldMin and HoldMax: each bridged call is held for a uniform sample
	// of this range, then hung up.
	HoldMin, HoldMax time.Duration
	Wrap             time.Duration // wrap-up after each call before the agent is ready again
	// AbandonAfter: a call with no agent this long after its answer is
	// hung up and counted as abandoned; 0 makes calls wait for an agent.
	AbandonAfter time.Duration
	// Measure is the length of each phase of the same-socket baseline
	// (phones only, bare forwarder, bridge); 0 skips it.
	Measure    time.Duration
	FarNice    int    // niceness of the simulator's and the phones' processes
	JSON       bool   // also print the result as JSON
	CPUProfile string // CPU profile of the node's process during the calls
	Version    string
}

// bridgeBench is what `marcador bench bridge` measures.
type bridgeBench struct {
	// Campaign and Node are the run's own ids (its keys in Redis are
	// removed at the end, and its agents are bb-<run>-a001...).
	Campaign string         `json:"campaign"`
	Node     string         `json:"node"`
	Machine  machineLoad    `json:"machine"`
	Agents   agentsPhase    `json:"agents"`
	Calls    callsPhase     `json:"calls"`
	Baseline *relayBaseline `json:"baseline,omitempty"`
}

type machineLoad struct {
	CPUs      int    `json:"cpus"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
	FarNice   int    `json:"far_side_nice"`
}

type agentsPhase struct {
	Agents     int     `json:"agents"`
	LoginP50MS float64 `json:"login_p50_ms"`
	LoginP99MS float64 `json:"login_p99_ms"`
	// IdleCPUPercent is the node's CPU with every leg up and no call: the
	// nailed-up legs' silence both ways, keep-alives, leases.
	IdleCPUPercent float64 `json:"idle_cpu_percent"`
}

// spread is a distribution in milliseconds.
type spread struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

type callsPhase struct {
	Placed    int            `json:"placed"`
	Answered  int            `json:"answered"`
	Failed    map[string]int `json:"failed,omitempty"`
	Bridged   int            `json:"bridged"`
	Immediate int            `json:"bridged_at_answer"`  // an agent was ready at answer
	Waited    int            `json:"bridged_after_wait"` // waited for an agent to come free
	Abandoned int            `json:"abandoned"`
	Waiting   string         `json:"waiting"` // what a call with no agent does
	PeakCalls int            `json:"peak_calls"`
	// AnswerToBridge: the debtor's 200 OK received → the first debtor RTP
	// packet forwarded to the agent, for calls an agent was ready for.
	AnswerToBridge spread `json:"answer_to_bridge"`
	// ReadyToBridge: for a call that waited, its agent coming free (ready
	// again after the previous call) → the first debtor packet forwarded.
	ReadyToBridge spread `json:"ready_to_bridge"`
	// Routing is both together: what the node takes to put a debtor
	// through once there is an agent.
	Routing spread `json:"routing"`
	// Setup is the node's part of Routing: the same start → the bridge
	// made (agent reserved in Redis, its leg's session, media.NewBridge).
	// The rest is the wait for the debtor's next packet (one every 20 ms).
	Setup spread `json:"setup"`
	// PacketWait is the rest: the bridge made → the debtor's next packet
	// forwarded. SilentAtBridge counts the bridges made before the
	// debtor's first packet had arrived at all (the far end had not
	// started sending yet).
	PacketWait spread `json:"packet_wait"`
	// Reserve is the Redis round trip of the Pool.Reserve that got the
	// agent (part of Setup).
	Reserve        spread `json:"reserve"`
	SilentAtBridge int    `json:"bridged_before_first_debtor_packet"`
	// QueueWait: answer → an agent free, for the calls that waited.
	QueueWait spread `json:"queue_wait"`
	// RelayDebtorToAgent: per packet, read on the debtor leg's socket →
	// written to the agent's (BridgeOptions.OnRelay); microseconds here.
	RelayDebtorToAgent latencyUS `json:"relay_debtor_to_agent"`
	RelayAgentToDebtor latencyUS `json:"relay_agent_to_debtor"`
	Dropped            uint64    `json:"relay_dropped"`
	TwoWay             int       `json:"bridges_with_audio_both_ways"`
	CallSeconds        float64   `json:"bridged_call_seconds"`
	WallS              float64   `json:"wall_s"`
	CPUSeconds         float64   `json:"cpu_s"`
	// CPUPerCallSecond is the node's CPU over the calls (SIP, Redis,
	// waiting debtors, idle legs, bridges) per bridged call-second: ms of
	// CPU a bridged call costs each second it lasts. NetOfIdle takes off
	// what the node spends with the legs up and no call.
	CPUPerCallSecondMS float64 `json:"cpu_ms_per_call_second"`
	NetOfIdleMS        float64 `json:"cpu_ms_per_call_second_net_of_idle"`
	SimCPUPercent      float64 `json:"simcarrier_cpu_percent"`
	PhonesCPUPercent   float64 `json:"phones_cpu_percent"`
	RSSMB              float64 `json:"rss_mb"`
}

type latencyUS struct {
	Packets uint64  `json:"packets"`
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
	Max     float64 `json:"max_us"`
}

func (l *latencyUS) from(h *histogram) {
	l.Packets = h.n.Load()
	l.P50, l.P99, l.P999 = h.quantile(0.5)*1000, h.quantile(0.99)*1000, h.quantile(0.999)*1000
	l.Max = float64(h.maxv.Load()) / 1e3
}

// relayLatency is the 1 µs histogram the relay's per-packet latency goes in.
func relayLatency() *histogram { return &histogram{unit: time.Microsecond} }

// Bridge runs `marcador bench bridge`: a node (endpoint, registrar, agent
// pool and station) with Agents agents' phones registered and logged in
// (their nailed-up legs up), and Calls debtor calls to the carrier
// simulator; each answered debtor gets the longest-idle ready agent
// (Pool.Reserve) and is bridged to its leg (media.NewBridge), held, hung
// up, and the agent wraps up and is ready again. Then the same-socket
// baseline: a bare UDP forwarder against the bridge.
func Bridge(ctx context.Context, o BridgeOptions, stdout, stderr io.Writer) error {
	if o.Agents < 1 || o.Calls < 1 || o.CPS <= 0 || o.HoldMin <= 0 || o.HoldMax < o.HoldMin {
		return errors.New("bench bridge: want -agents and -calls at least 1, -cps above 0, 0 < hold min <= max")
	}
	// The children's stderr is copied in by goroutines of os/exec when it
	// is not a file: one lock for every writer.
	stderr = &lockedWriter{w: stderr}
	res := bridgeBench{Machine: machineLoad{CPUs: runtime.NumCPU(), LoadStart: loadAvg(), FarNice: o.FarNice}}
	run := randHex(4)
	campaign, node := "bench-bridge-"+run, "bench-"+run
	res.Campaign, res.Node = campaign, node
	cfg := o.Config
	cfg.Log.Level = "error"
	cfg.NodeID = node
	log := app.NewLogger(cfg.Log, stderr)

	// Redis for the definitions and the clean-up, on its own connection:
	// the node's closes with the node, before the clean-up.
	keep, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Redis, Logger: log})
	if err != nil {
		return err
	}
	defer keep.Close()
	pool := agent.New(agent.Options{Client: keep.Redis, Realm: cfg.Registrar.Realm, Logger: log})
	ids := make([]string, o.Agents)
	creds := make([]phoneCreds, o.Agents)
	defer cleanUpBridge(keep, pool, campaign, ids, stderr)
	for i := range ids {
		id := fmt.Sprintf("bb-%s-a%03d", run, i+1)
		creds[i] = phoneCreds{User: id, Password: randHex(12)}
		if _, _, err := pool.Put(ctx, agent.Definition{ID: id, Name: "bench agent", SIPUser: id, Password: creds[i].Password,
			Campaigns: []string{campaign}}); err != nil {
			return err
		}
		ids[i] = id
	}

	simAddr, stopSim, simCPU, err := startSimProcess(ctx, -1, o.FarNice, stderr)
	if err != nil {
		return err
	}
	defer stopSim()
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Agents, Logger: log, Version: o.Version, SIPListen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)
	fmt.Fprintf(stderr, "bench bridge: node %s, campaign %s; %d phones register (simulator and phones at nice %d)...\n",
		node, campaign, o.Agents, o.FarNice)
	stopPhones, phonesCPU, err := startPhonesProcess(ctx, phonesSpec{Registrar: a.Endpoint.Addr(), RTPPorts: phonesRTP, Phones: creds},
		o.FarNice, stderr)
	if err != nil {
		return err
	}
	defer stopPhones()
	// Agents out first (their legs hung up while the phones still answer),
	// then the phones unregister while the node still answers.
	defer logOutAll(a.Station, ids)

	res.Agents, err = logInAll(ctx, a.Station, ids, campaign)
	if err != nil {
		return err
	}
	cpu0, t0 := selfCPU(), time.Now()
	sleepCtx(ctx, 3*time.Second)
	idleRate := float64(selfCPU()-cpu0) / float64(time.Since(t0))
	res.Agents.IdleCPUPercent = 100 * idleRate

	how := "wait for an agent"
	if o.AbandonAfter > 0 {
		how = fmt.Sprintf("abandoned %s after answer", o.AbandonAfter)
	}
	fmt.Fprintf(stderr, "bench bridge: %d agents ready; %d calls at %g/s, held %s-%s, calls with no agent %s...\n",
		o.Agents, o.Calls, o.CPS, o.HoldMin, o.HoldMax, how)
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cr := &callRun{o: o, ep: a.Endpoint, st: a.Station, pool: a.Agents, campaign: campaign, node: node, run: run, log: log,
		d2a: relayLatency(), a2d: relayLatency(), failed: map[string]int{}}
	res.Calls, err = cr.all(ctx, simAddr, simCPU, phonesCPU, idleRate)
	if err != nil {
		return err
	}
	res.Calls.Waiting = how
	pprof.StopCPUProfile()

	if o.Measure > 0 {
		fmt.Fprintf(stderr, "bench bridge: baseline, %d socket pairs, phones only / bare forwarder / bridge, %s each...\n", o.Agents, o.Measure)
		b, err := baseline(ctx, cfg.RTPPorts(), o.Agents, o.Measure, log)
		if err != nil {
			return err
		}
		if b.Bare.Latency.P99 > 0 {
			b.CallsRelayP99Ratio = res.Calls.RelayDebtorToAgent.P99 / b.Bare.Latency.P99
		}
		res.Baseline = &b
	}
	res.Machine.LoadEnd = loadAvg()
	printBridgeBench(stdout, o, res)
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return nil
}

// lockedWriter serialises writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// logInAll logs every agent in (the node calls its phone, which answers by
// itself) and times each login.
func logInAll(ctx context.Context, st *agent.Station, ids []string, campaign string) (agentsPhase, error) {
	ph := agentsPhase{Agents: len(ids)}
	lat := make([]time.Duration, len(ids))
	err := parallel(ctx, len(ids), 10, func(i int) error {
		t := time.Now()
		s, err := st.Login(ctx, ids[i], campaign)
		if err != nil {
			return err
		}
		if s.State != agent.Ready {
			return fmt.Errorf("agent %s is %s after login", ids[i], s.State)
		}
		lat[i] = time.Since(t)
		return nil
	})
	if err != nil {
		return ph, err
	}
	sp := spreadOf(lat)
	ph.LoginP50MS, ph.LoginP99MS = sp.P50, sp.P99
	return ph, nil
}

func logOutAll(st *agent.Station, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	parallel(ctx, len(ids), 10, func(i int) error {
		if ids[i] != "" {
			st.Logout(ctx, ids[i])
		}
		return nil
	})
}

// cleanUpBridge removes what the run put in Redis: its campaign's keys
// (states, events, counters: the campaign is its own), the campaign from
// the lease loops' set, and its agents.
func cleanUpBridge(a *app.App, pool *agent.Pool, campaign string, ids []string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	if err := pool.Forget(ctx, campaign); err != nil {
		errs = append(errs, err)
	}
	iter := a.Redis.Scan(ctx, 0, "marcador:{"+campaign+"}:*", 100).Iterator()
	for iter.Next(ctx) {
		if err := a.Redis.Del(ctx, iter.Val()).Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := iter.Err(); err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := pool.Delete(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "bench bridge: clean-up incomplete: %v\n", err)
	}
}

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

// spreadOf is the distribution of ds (nearest rank).
func spreadOf(ds []time.Duration) spread {
	if len(ds) == 0 {
		return spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := max(0, int(math.Ceil(p*float64(len(s))))-1)
		return float64(s[i]) / 1e6
	}
	return spread{N: len(s), P50: q(0.5), P99: q(0.99), Max: float64(s[len(s)-1]) / 1e6}
}

func printBridgeBench(w io.Writer, o BridgeOptions, r bridgeBench) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Machine
	fmt.Fprintf(tw, "machine\t%d CPUs, load average %s at start, %s at end; simulator and phones in their own processes at nice %d\n",
		m.CPUs, m.LoadStart, m.LoadEnd, m.FarNice)
	ag := r.Agents
	fmt.Fprintf(tw, "agents\t%d registered (digest) and logged in, nailed-up legs up; login p50 %.1f ms, p99 %.1f ms; node idle with the legs up: %.1f%% of a core\n",
		ag.Agents, ag.LoginP50MS, ag.LoginP99MS, ag.IdleCPUPercent)
	c := r.Calls
	fmt.Fprintf(tw, "calls\t%d placed at %g/s, %d answered, %d bridged (%d at answer, %d after waiting), %d abandoned, failed %v; peak %d calls up; no agent: %s\n",
		c.Placed, o.CPS, c.Answered, c.Bridged, c.Immediate, c.Waited, c.Abandoned, c.Failed, c.PeakCalls, c.Waiting)
	sp := func(name string, s spread) {
		if s.N > 0 {
			fmt.Fprintf(tw, "  %s\tp50 %.2f ms, p99 %.2f ms, max %.2f ms (%d calls)\n", name, s.P50, s.P99, s.Max, s.N)
		}
	}
	sp("answer → bridged", c.AnswerToBridge)
	sp("agent free → bridged", c.ReadyToBridge)
	sp("routing (both)", c.Routing)
	sp("  of which setup", c.Setup)
	sp("    of which Redis reserve", c.Reserve)
	sp("  then the next debtor packet", c.PacketWait)
	if c.SilentAtBridge > 0 {
		fmt.Fprintf(tw, "  \t%d bridges were made before the debtor's first packet had arrived\n", c.SilentAtBridge)
	}
	sp("queue wait", c.QueueWait)
	lat := func(name string, l latencyUS) {
		fmt.Fprintf(tw, "  %s\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs over %d packets\n", name, l.P50, l.P99, l.P999, l.Max, l.Packets)
	}
	lat("relay debtor → agent", c.RelayDebtorToAgent)
	lat("relay agent → debtor", c.RelayAgentToDebtor)
	fmt.Fprintf(tw, "  bridges\t%d with audio both ways, %d packets dropped, %.0f call-seconds bridged\n", c.TwoWay, c.Dropped, c.CallSeconds)
	fmt.Fprintf(tw, "  CPU\tnode %.2f s over %.1f s: %.2f ms per bridged call-second (%.2f net of idle); simulator %.0f%%, phones %.0f%% of a core; node RSS %.0f MB\n",
		c.CPUSeconds, c.WallS, c.CPUPerCallSecondMS, c.NetOfIdleMS, c.SimCPUPercent, c.PhonesCPUPercent, c.RSSMB)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(tw, "baseline\t%d socket pairs, %.0f packets/s each way, %gs per phase, same sockets for both forwarders\n", b.Pairs, b.PacketsPerS/2, b.MeasureS)
		for _, f := range []struct {
			name string
			p    forwarderPhase
		}{{"bare forwarder", b.Bare}, {"bridge", b.Relay}} {
			fmt.Fprintf(tw, "  %s\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs; CPU %.2f µs per packet (over the phones-only phase)\n",
				f.name, f.p.Latency.P50, f.p.Latency.P99, f.p.Latency.P999, f.p.Latency.Max, f.p.CPUusPerPacket)
		}
		fmt.Fprintf(tw, "  bridge / bare\tlatency p99 %.2f×, CPU per packet %.2f× (goal: within 2×); the calls' relay p99 is %.2f× this bare p99\n",
			b.LatencyP99Ratio, b.CPURatio, b.CallsRelayP99Ratio)
	}
	tw.Flush()
}
