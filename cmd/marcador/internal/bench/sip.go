package bench

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// benchCallerID is the caller id of benchmark calls (every call needs one).
const benchCallerID = "+525550000100"

// sipBench is what `marcador bench sip` measures.
type sipBench struct {
	CPS       cpsPhase      `json:"cps"`
	Engines   []engineRun   `json:"engines"` // today's per-call engine first when both ran
	Ratios    *engineRatios `json:"new_over_old,omitempty"`
	Baseline  *sippBaseline `json:"baseline_sipp,omitempty"`
	SimNice   int           `json:"simcarrier_nice"`
	SimPinned int           `json:"simcarrier_cpu"` // -1: not pinned
}

type cpsPhase struct {
	TargetCPS    float64        `json:"target_cps"`
	AchievedCPS  float64        `json:"achieved_cps"`
	DurationS    float64        `json:"duration_s"`
	HoldS        float64        `json:"hold_s"`
	Calls        int            `json:"calls"`
	Answered     int            `json:"answered"`
	Failed       int            `json:"failed"`
	Failures     map[string]int `json:"failures,omitempty"`
	PeakActive   int            `json:"peak_active_calls"`
	SetupP50MS   float64        `json:"setup_p50_ms"`
	SetupP99MS   float64        `json:"setup_p99_ms"`
	CPUPercent   float64        `json:"cpu_percent"` // of one core, this process
	SimCPU       float64        `json:"simcarrier_cpu_percent"`
	RSSMB        float64        `json:"rss_mb"`
	CPUmsPerCall float64        `json:"cpu_ms_per_call"`
}

type concurrentPhase struct {
	Target        int     `json:"target_calls"`
	Up            int     `json:"calls_up"`
	TwoWay        int     `json:"calls_with_two_way_audio"`
	HoldS         float64 `json:"measured_s"`
	PacketsSent   uint64  `json:"packets_sent"`
	IntervalP50MS float64 `json:"send_interval_p50_ms"`
	IntervalP99MS float64 `json:"send_interval_p99_ms"`
	IntervalP999  float64 `json:"send_interval_p999_ms"`
	IntervalMaxMS float64 `json:"send_interval_max_ms"`
	WithinGoal    bool    `json:"p99_within_20ms_pm_2ms"`
	CPUPercent    float64 `json:"cpu_percent"`
	SimCPU        float64 `json:"simcarrier_cpu_percent"`
	RSSMB         float64 `json:"rss_mb"`
	KBPerCall     float64 `json:"rss_kb_per_call"`
	CPUPer1000    float64 `json:"cpu_percent_per_1000_calls"`
	RecvBatch     float64 `json:"datagrams_per_recvmmsg,omitempty"` // shared sockets only
}

// sippBaseline is sipp's own uac scenario against the same simulator at the
// same rate and hold: an independent C++ SIP stack, signalling only.
type sippBaseline struct {
	AchievedCPS  float64 `json:"achieved_cps"`
	Calls        int     `json:"calls"`
	Failed       int     `json:"failed"`
	CPUmsPerCall float64 `json:"cpu_ms_per_call"`
	// Ratios: ours / sipp's.
	CPSRatio float64 `json:"cps_ratio"`
	CPURatio float64 `json:"cpu_per_call_ratio"`
}

// SIPOptions of `bench sip`.
type SIPOptions struct {
	Config     config.Config // sip.rtp_ports is used for our side
	CPS        float64       // calls per second to originate in the CPS phase
	Duration   time.Duration // length of the CPS phase
	Hold       time.Duration // each CPS-phase call holds two-way audio this long, then we hang up
	Concurrent int           // calls held at once in the concurrency phase (0 skips it)
	Measure    time.Duration // how long the concurrency phase measures once every call is up
	Baseline   bool          // also run sipp's uac scenario at the same rate, when sipp is installed
	JSON       bool          // also print the result as JSON
	CPUProfile string        // write a CPU profile of the dialer side to this file
	SimCPU     int           // pin the simulator to this CPU with one Go thread (-1: share every CPU with the dialer); DefaultSimCPU
	SimNice    int           // the simulator's niceness (0: the dialer's priority); DefaultSimNice
	Bridged    int           // bridges held at once in the bridged phase, two legs each (0 skips it)
	OldEngine  bool          // also run today's engine (a socket per call) first, as the same-run baseline
	Version    string
}

// DefaultSimNice is the simulator's niceness unless told: it stands in
// for the far side of a network, so it yields to the dialer.
const DefaultSimNice = 10

// DefaultSimCPU is the CPU the simulator is pinned to unless told: the
// last one.
func DefaultSimCPU() int { return runtime.NumCPU() - 1 }

// SIP originates calls against the carrier simulator, a child process of
// this binary (`marcador simcarrier`), at a rate and then held at once, and
// measures calls/s, setup time, RTP send intervals, CPU and memory, with
// sipp's uac scenario at the same rate as the baseline.
func SIP(ctx context.Context, o SIPOptions, stdout, stderr io.Writer) error {
	stopProfile, err := startCPUProfile(o.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	res := sipBench{SimNice: o.SimNice, SimPinned: o.SimCPU}
	engines := []int{o.Config.SIP.RTPSockets}
	if o.OldEngine && engines[0] > 0 {
		engines = []int{0, engines[0]} // today's engine first, as the baseline
	}
	for i, sockets := range engines {
		run, err := runEngine(ctx, o, sockets, i == len(engines)-1, &res, stderr)
		if err != nil {
			return err
		}
		res.Engines = append(res.Engines, run)
	}
	res.setRatios()
	printSIPBench(stdout, res)
	if o.JSON {
		return printJSON(stdout, res)
	}
	return nil
}

// runEngine runs the phases on one media engine (sockets shared sockets;
// 0, a socket per call), against a simulator of its own using the same
// engine; last runs the CPS phase and sipp's baseline too.
func runEngine(ctx context.Context, o SIPOptions, sockets int, last bool, res *sipBench, stderr io.Writer) (engineRun, error) {
	run := engineRun{Engine: engineName(sockets), Sockets: sockets, LoadBefore: loadAvg()}
	cfg := o.Config
	cfg.Log.Level = "error"
	cfg.SIP.RTPSockets = sockets
	sim, err := startSimProcess(ctx, o.SimCPU, o.SimNice, sockets, stderr)
	if err != nil {
		return run, err
	}
	defer sim.stop()
	simAddr, simCPU := sim.addr, sim.cpu
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Endpoint, Logger: app.NewLogger(cfg.Log, stderr), Version: o.Version,
		SIPListen: "127.0.0.1:0"})
	if err != nil {
		return run, err
	}
	defer a.Close()
	ep := a.Endpoint
	audio := &media.Prompt{Name: "bench", Samples: simcarrier.Voice(10*time.Second, 200, 9)}
	if last && o.CPS > 0 && o.Duration > 0 {
		fmt.Fprintf(stderr, "bench sip: %s: CPS phase, %g calls/s for %s, %s each...\n", run.Engine, o.CPS, o.Duration, o.Hold)
		if res.CPS, err = benchCPS(ctx, ep, simAddr, simCPU, o.CPS, o.Duration, o.Hold, audio); err != nil {
			return run, err
		}
	}
	if o.Concurrent > 0 {
		fmt.Fprintf(stderr, "bench sip: %s: concurrency phase, %d calls held, measured for %s...\n", run.Engine, o.Concurrent, o.Measure)
		if run.Concurrent, err = benchConcurrent(ctx, ep, simAddr, simCPU, o.Concurrent, o.Measure, audio); err != nil {
			return run, err
		}
	}
	if o.Bridged > 0 {
		fmt.Fprintf(stderr, "bench sip: %s: bridged phase, %d bridges (%d legs), measured for %s...\n", run.Engine, o.Bridged, 2*o.Bridged, o.Measure)
		b, err := benchBridged(ctx, ep, sim, o.Bridged, o.Measure, audio)
		if err != nil {
			return run, err
		}
		run.Bridged = &b
	}
	if _, err := exec.LookPath("sipp"); err == nil && last && o.Baseline && o.CPS > 0 && o.Duration > 0 {
		fmt.Fprintf(stderr, "bench sip: baseline, sipp uac at %g calls/s for %s...\n", o.CPS, o.Duration)
		b, err := benchSipp(ctx, simAddr, o.CPS, o.Duration, o.Hold)
		if err != nil {
			fmt.Fprintf(stderr, "bench sip: sipp baseline failed: %v\n", err)
		} else {
			if b.AchievedCPS > 0 {
				b.CPSRatio = res.CPS.AchievedCPS / b.AchievedCPS
			}
			if b.CPUmsPerCall > 0 {
				b.CPURatio = res.CPS.CPUmsPerCall / b.CPUmsPerCall
			}
			res.Baseline = &b
		}
	}
	run.LoadAfter = loadAvg()
	return run, nil
}

func benchCPS(ctx context.Context, ep *dialer.Endpoint, sim string, simCPU func() time.Duration, cps float64,
	dur, hold time.Duration, audio *media.Prompt) (cpsPhase, error) {
	ph := cpsPhase{TargetCPS: cps, DurationS: dur.Seconds(), HoldS: hold.Seconds(), Failures: map[string]int{}}
	maxCh := int(cps*(hold.Seconds()+2)*2) + 100
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "bench", URI: "sip:" + sim, CallerID: benchCallerID, CPS: cps * 1.05, MaxChannels: maxCh})
	if err != nil {
		return ph, err
	}
	var setup histogram
	var mu sync.Mutex
	var wg sync.WaitGroup
	var active, peak atomic.Int64
	n := int(cps * dur.Seconds())
	cpu0, sim0, start := selfCPU(), simCPU(), time.Now()
	var lastLaunch time.Time
	for i := range n {
		// Absolute schedule: call i at start + i/cps.
		if d := time.Until(start.Add(time.Duration(float64(i) / cps * float64(time.Second)))); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ph, ctx.Err()
			}
		}
		lastLaunch = time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := active.Add(1)
			defer active.Add(-1)
			for p := peak.Load(); a > p && !peak.CompareAndSwap(p, a); p = peak.Load() {
			}
			disp, setupTime := benchCall(ctx, ep, trunk, fmt.Sprintf("+1555%07d", i), hold, audio, nil, nil)
			mu.Lock()
			defer mu.Unlock()
			ph.Calls++
			if disp == analytics.Answered {
				ph.Answered++
				setup.add(setupTime)
			} else {
				ph.Failed++
				ph.Failures[disp]++
			}
		}()
	}
	launchWindow := lastLaunch.Sub(start)
	rss := selfRSS()
	wg.Wait()
	wall := time.Since(start)
	ph.AchievedCPS = float64(n-1) / launchWindow.Seconds()
	ph.PeakActive = int(peak.Load())
	ph.SetupP50MS, ph.SetupP99MS = setup.quantile(0.50), setup.quantile(0.99)
	cpu := selfCPU() - cpu0
	ph.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	ph.SimCPU = 100 * (simCPU() - sim0).Seconds() / wall.Seconds()
	ph.RSSMB = rss
	ph.CPUmsPerCall = float64(cpu.Milliseconds()) / float64(max(1, n))
	return ph, nil
}

// benchCall places one call and holds it for hold (or until release closes),
// playing audio; it returns the disposition and the INVITE→200 time. up, if
// set, is called with the answered session.
func benchCall(ctx context.Context, ep *dialer.Endpoint, trunk *dialer.Trunk, to string, hold time.Duration,
	audio *media.Prompt, onSend func(time.Duration), up func(*media.Session) <-chan struct{}) (string, time.Duration) {
	leg, err := ep.Dial(ctx, dialer.DialRequest{Trunk: trunk, To: to, RingTimeout: queue.MinRingTimeout, OnSend: onSend})
	if err != nil {
		return "dial_error", 0
	}
	select {
	case <-leg.Ended():
		r := leg.Result()
		return r.Disposition, 0
	default:
	}
	s := leg.Session()
	var release <-chan struct{}
	if up != nil {
		release = up(s)
	}
	hctx, cancel := context.WithCancel(ctx)
	if release == nil {
		hctx, cancel = context.WithTimeout(ctx, hold)
	} else {
		go func() {
			select {
			case <-release:
			case <-hctx.Done():
			}
			cancel()
		}()
	}
	defer cancel()
	for hctx.Err() == nil {
		if _, err := s.Play(hctx, false, audio); err != nil && hctx.Err() == nil {
			break // the far end hung up
		}
	}
	gone := false
	select {
	case <-leg.Ended():
		gone = true // ended before we hung up: the carrier dropped it
	default:
	}
	res := leg.Hangup(context.WithoutCancel(ctx))
	if gone || res.Disposition != analytics.Answered {
		return "dropped: " + res.Reason, 0
	}
	return analytics.Answered, res.Answered.Sub(res.Started)
}

func benchConcurrent(ctx context.Context, ep *dialer.Endpoint, sim string, simCPU func() time.Duration, n int,
	measure time.Duration, audio *media.Prompt) (concurrentPhase, error) {
	ph := concurrentPhase{Target: n, HoldS: measure.Seconds()}
	var intervals histogram
	var measuring atomic.Bool
	onSend := func(d time.Duration) {
		if measuring.Load() {
			intervals.add(d)
		}
	}
	h, err := holdCalls(ctx, ep, sim, numbers("+1666", n), audio, onSend)
	if err != nil {
		return ph, err
	}
	defer h.release()
	sleepCtx(ctx, 2*time.Second) // let the last calls' audio settle
	ph.Up = len(h.sessions)
	before := make([]media.Stats, len(h.sessions))
	for i, s := range h.sessions {
		before[i] = s.Stats()
	}
	cpu0, sim0, mst0, start := selfCPU(), simCPU(), ep.MediaStats(), time.Now()
	measuring.Store(true)
	sleepCtx(ctx, measure)
	measuring.Store(false)
	wall := time.Since(start)
	cpu := selfCPU() - cpu0
	if mst := ep.MediaStats(); mst.Reads > mst0.Reads {
		ph.RecvBatch = float64(mst.Received-mst0.Received) / float64(mst.Reads-mst0.Reads)
	}
	ph.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	ph.SimCPU = 100 * (simCPU() - sim0).Seconds() / wall.Seconds()
	ph.RSSMB = selfRSS()
	ph.KBPerCall = ph.RSSMB * 1024 / float64(max(1, ph.Up))
	ph.CPUPer1000 = ph.CPUPercent * 1000 / float64(max(1, ph.Up))
	ph.TwoWay = twoWay(h.sessions, before, uint64(wall/media.FrameDuration))
	ph.setIntervals(&intervals)
	return ph, nil
}

// heldCalls are calls answered and held until release.
type heldCalls struct {
	sessions []*media.Session // in the order they were answered
	numbers  []string         // called, as sessions
	failed   int
	release  func() // hangs every call up and waits for them
}

// numbers are n numbers under prefix.
func numbers(prefix string, n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = fmt.Sprintf("%s%07d", prefix, i)
	}
	return l
}

// holdCalls calls each number of to at sim and returns once each is
// answered or failed; every answered call plays audio until released.
func holdCalls(ctx context.Context, ep *dialer.Endpoint, sim string, to []string, audio *media.Prompt,
	onSend func(time.Duration)) (*heldCalls, error) {
	n := len(to)
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "bench-hold", URI: "sip:" + sim, CallerID: benchCallerID, CPS: 200, MaxChannels: max(1, n)})
	if err != nil {
		return nil, err
	}
	rel := make(chan struct{})
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int64
	h := &heldCalls{}
	h.release = sync.OnceFunc(func() { close(rel); wg.Wait() })
	upAll := make(chan struct{}, n)
	for _, number := range to {
		wg.Add(1)
		go func() {
			defer wg.Done()
			disp, _ := benchCall(ctx, ep, trunk, number, 0, audio, onSend, func(s *media.Session) <-chan struct{} {
				mu.Lock()
				h.sessions = append(h.sessions, s)
				h.numbers = append(h.numbers, number)
				mu.Unlock()
				upAll <- struct{}{}
				return rel
			})
			if disp != analytics.Answered {
				failed.Add(1)
				upAll <- struct{}{} // counted, so the wait below ends
			}
		}()
	}
	for range n {
		select {
		case <-upAll:
		case <-ctx.Done():
			h.release()
			return nil, ctx.Err()
		}
	}
	mu.Lock()
	defer mu.Unlock()
	h.failed = int(failed.Load())
	return h, nil
}

// twoWay counts the sessions that sent and received at least 90% of the
// expected packets since before.
func twoWay(sessions []*media.Session, before []media.Stats, expect uint64) int {
	n := 0
	for i, s := range sessions {
		st := s.Stats()
		if st.Received-before[i].Received >= expect*9/10 && st.Sent-before[i].Sent >= expect*9/10 {
			n++
		}
	}
	return n
}

// setIntervals takes the RTP send-interval figures from h.
func (ph *concurrentPhase) setIntervals(h *histogram) {
	ph.PacketsSent = h.n.Load()
	ph.IntervalP50MS, ph.IntervalP99MS, ph.IntervalP999 = h.quantile(0.5), h.quantile(0.99), h.quantile(0.999)
	ph.IntervalMaxMS = float64(h.maxv.Load()) / 1e6
	ph.WithinGoal = ph.IntervalP99MS >= 18 && ph.IntervalP99MS <= 22 && ph.IntervalP50MS >= 18
}

func printSIPBench(w io.Writer, r sipBench) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := r.CPS
	if c.Calls > 0 {
		fmt.Fprintf(tw, "CPS phase\t%g calls/s target for %gs, %gs of two-way audio each\n", c.TargetCPS, c.DurationS, c.HoldS)
		fmt.Fprintf(tw, "  achieved\t%.1f calls/s, %d calls, %d answered, %d failed %v\n", c.AchievedCPS, c.Calls, c.Answered, c.Failed, c.Failures)
		fmt.Fprintf(tw, "  peak concurrent\t%d\n", c.PeakActive)
		fmt.Fprintf(tw, "  setup (INVITE→200)\tp50 %.2f ms, p99 %.2f ms\n", c.SetupP50MS, c.SetupP99MS)
		fmt.Fprintf(tw, "  CPU\tdialer %.0f%% of a core (%.2f ms/call), simcarrier %.0f%%; dialer RSS %.0f MB\n", c.CPUPercent, c.CPUmsPerCall, c.SimCPU, c.RSSMB)
	}
	if b := r.Baseline; b != nil {
		fmt.Fprintf(tw, "baseline: sipp uac\t%.1f calls/s, %d calls, %d failed, %.2f ms CPU/call (signalling only, no RTP)\n", b.AchievedCPS, b.Calls, b.Failed, b.CPUmsPerCall)
		fmt.Fprintf(tw, "  ratio ours/sipp\tCPS %.2f, CPU per call %.2f\n", b.CPSRatio, b.CPURatio)
	}
	pin := "not pinned"
	if r.SimPinned >= 0 {
		pin = fmt.Sprintf("pinned to CPU %d with one Go thread", r.SimPinned)
	}
	fmt.Fprintf(tw, "simulator\tnice %d (lower scheduling priority than the dialer's 0), %s, on the engine under test, pacing on %d shards (ours %d) so that its packets do not arrive in step with our ticks\n",
		r.SimNice, pin, simPacerShards, media.DefaultPacerShards)
	for _, e := range r.Engines {
		printEngine(tw, e)
	}
	if x := r.Ratios; x != nil {
		fmt.Fprintf(tw, "new engine / today's\t")
		if x.IntervalP99 > 0 {
			fmt.Fprintf(tw, "send interval p99 %.2f×, CPU per call %.2f× ", x.IntervalP99, x.CPUPerCall)
		}
		if x.BridgedCPU > 0 {
			fmt.Fprintf(tw, "bridged CPU per bridge %.2f×, relay latency p99 %.2f×", x.BridgedCPU, x.BridgedRelay99)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
