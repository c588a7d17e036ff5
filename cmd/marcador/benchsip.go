package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// benchCallerID is the caller id of benchmark calls (every call needs one).
const benchCallerID = "+525550000100"

// sipBench is what `marcador bench sip` measures.
type sipBench struct {
	CPS        cpsPhase        `json:"cps"`
	Concurrent concurrentPhase `json:"concurrent"`
	Baseline   *sippBaseline   `json:"baseline_sipp,omitempty"`
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

func benchSIP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench sip", "bench sip [-config FILE] [-cps 200] [-duration 60s] [-hold 2s] [-concurrent 1000] [-measure 30s] [-json]", stderr)
	cfgPath := fs.String("config", "", "YAML config file (sip.rtp_ports is used for our side)")
	cps := fs.Float64("cps", 200, "calls per second to originate in the CPS phase")
	dur := fs.Duration("duration", 60*time.Second, "length of the CPS phase")
	hold := fs.Duration("hold", 2*time.Second, "each CPS-phase call holds two-way audio this long, then we hang up")
	conc := fs.Int("concurrent", 1000, "calls held at once in the concurrency phase (0 skips it)")
	measure := fs.Duration("measure", 30*time.Second, "how long the concurrency phase measures once every call is up")
	baseline := fs.Bool("baseline", true, "also run sipp's uac scenario at the same rate, when sipp is installed")
	asJSON := fs.Bool("json", false, "also print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the dialer side to this file")
	simCPUPin := fs.Int("sim-cpu", runtime.NumCPU()-1, "pin the simulator to this CPU with one Go thread (-1: share every CPU with the dialer)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg.Log.Level = "error"
	log := newLogger(cfg.Log, stderr)

	simAddr, stopSim, simCPU, err := startSimProcess(ctx, *simCPUPin, stderr)
	if err != nil {
		return err
	}
	defer stopSim()
	ep, err := newEndpoint(cfg, "127.0.0.1:0", log, nil, dialer.InboundPolicy{})
	if err != nil {
		return err
	}
	defer ep.Close()
	audio := &media.Prompt{Name: "bench", Samples: simcarrier.Voice(10*time.Second, 200, 9)}
	var res sipBench
	if *cps > 0 && *dur > 0 {
		fmt.Fprintf(stderr, "bench sip: CPS phase, %g calls/s for %s, %s each...\n", *cps, *dur, *hold)
		res.CPS, err = benchCPS(ctx, ep, simAddr, simCPU, *cps, *dur, *hold, audio)
		if err != nil {
			return err
		}
	}
	if *conc > 0 {
		fmt.Fprintf(stderr, "bench sip: concurrency phase, %d calls held, measured for %s...\n", *conc, *measure)
		res.Concurrent, err = benchConcurrent(ctx, ep, simAddr, simCPU, *conc, *measure, audio)
		if err != nil {
			return err
		}
	}
	if _, err := exec.LookPath("sipp"); err == nil && *baseline && *cps > 0 && *dur > 0 {
		fmt.Fprintf(stderr, "bench sip: baseline, sipp uac at %g calls/s for %s...\n", *cps, *dur)
		b, err := benchSipp(ctx, simAddr, *cps, *dur, *hold)
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
	printSIPBench(stdout, res)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return nil
}

// startSimProcess runs `marcador simcarrier` as a child, so its CPU is not
// ours: every number answered at once by a human who talks continuously.
func startSimProcess(ctx context.Context, pin int, stderr io.Writer) (addr string, stop func(), cpu func() time.Duration, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, nil, err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	addr = pc.LocalAddr().String()
	pc.Close()
	simArgs := []string{"simcarrier", "-listen", addr, "-by-last-digit=false", "-mix", "human=1",
		"-ring", "0s", "-talk", "1h", "-continuous", "-rtp-ports", "40000-59999", "-log", "error"}
	cmd := exec.Command(exe, simArgs...)
	if pin >= 0 {
		// The simulator stands in for the far side of a network: confined to
		// one CPU (and one Go thread) it competes less with the dialer, whose
		// pacing is what is measured.
		if ts, err := exec.LookPath("taskset"); err == nil {
			cmd = exec.Command(ts, append([]string{"-c", strconv.Itoa(pin), exe}, simArgs...)...)
			cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		}
	}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, nil, fmt.Errorf("start simcarrier: %w", err)
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "answering on") {
		stop()
		return "", nil, nil, fmt.Errorf("simcarrier did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	pid := cmd.Process.Pid
	return addr, stop, func() time.Duration { return procCPU(pid) }, nil
}

// procCPU is a process's user+system CPU time from /proc.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfRSS is the resident set in MB now.
func selfRSS() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}

// histogram counts durations in 10 µs buckets up to 200 ms; safe for
// concurrent use from every call's sender.
type histogram struct {
	b    [20001]atomic.Uint64
	n    atomic.Uint64
	maxv atomic.Int64
}

func (h *histogram) add(d time.Duration) {
	i := min(int(d/(10*time.Microsecond)), len(h.b)-1)
	h.b[i].Add(1)
	h.n.Add(1)
	for {
		m := h.maxv.Load()
		if int64(d) <= m || h.maxv.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (h *histogram) reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
	h.n.Store(0)
	h.maxv.Store(0)
}

// quantile in milliseconds.
func (h *histogram) quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	want := uint64(q * float64(n))
	var c uint64
	for i := range h.b {
		if c += h.b[i].Load(); c > want {
			return float64(i) * 0.01
		}
	}
	return float64(len(h.b)) * 0.01
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
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "bench-hold", URI: "sip:" + sim, CallerID: benchCallerID, CPS: 200, MaxChannels: n})
	if err != nil {
		return ph, err
	}
	var intervals histogram
	var measuring atomic.Bool
	onSend := func(d time.Duration) {
		if measuring.Load() {
			intervals.add(d)
		}
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var sessions []*media.Session
	var wg sync.WaitGroup
	var failed atomic.Int64
	upAll := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			disp, _ := benchCall(ctx, ep, trunk, fmt.Sprintf("+1666%07d", i), 0, audio, onSend, func(s *media.Session) <-chan struct{} {
				mu.Lock()
				sessions = append(sessions, s)
				mu.Unlock()
				upAll <- struct{}{}
				return release
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
			close(release)
			return ph, ctx.Err()
		}
	}
	time.Sleep(2 * time.Second) // let the last calls' audio settle
	mu.Lock()
	ph.Up = len(sessions)
	before := make([]media.Stats, len(sessions))
	for i, s := range sessions {
		before[i] = s.Stats()
	}
	mu.Unlock()
	cpu0, sim0, start := selfCPU(), simCPU(), time.Now()
	measuring.Store(true)
	select {
	case <-time.After(measure):
	case <-ctx.Done():
	}
	measuring.Store(false)
	wall := time.Since(start)
	cpu := selfCPU() - cpu0
	ph.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	ph.SimCPU = 100 * (simCPU() - sim0).Seconds() / wall.Seconds()
	ph.RSSMB = selfRSS()
	ph.KBPerCall = ph.RSSMB * 1024 / float64(max(1, ph.Up))
	expect := uint64(wall / media.FrameDuration)
	mu.Lock()
	for i, s := range sessions {
		st := s.Stats()
		if st.Received-before[i].Received >= expect*9/10 && st.Sent-before[i].Sent >= expect*9/10 {
			ph.TwoWay++
		}
	}
	mu.Unlock()
	ph.PacketsSent = intervals.n.Load()
	ph.IntervalP50MS, ph.IntervalP99MS, ph.IntervalP999 = intervals.quantile(0.5), intervals.quantile(0.99), intervals.quantile(0.999)
	ph.IntervalMaxMS = float64(intervals.maxv.Load()) / 1e6
	ph.WithinGoal = ph.IntervalP99MS >= 18 && ph.IntervalP99MS <= 22 && ph.IntervalP50MS >= 18
	close(release)
	wg.Wait()
	return ph, nil
}

// benchSipp runs sipp's built-in uac scenario against the simulator.
func benchSipp(ctx context.Context, sim string, cps float64, dur, hold time.Duration) (sippBaseline, error) {
	var b sippBaseline
	dir, err := os.MkdirTemp("", "marcador-bench-sipp")
	if err != nil {
		return b, err
	}
	defer os.RemoveAll(dir)
	n := int(cps * dur.Seconds())
	cmd := exec.CommandContext(ctx, "sipp", sim, "-sn", "uac", "-i", "127.0.0.1", "-p", "0", "-r", strconv.Itoa(int(cps)),
		"-m", strconv.Itoa(n), "-d", strconv.Itoa(int(hold.Milliseconds())), "-l", strconv.Itoa(n), "-nostdin",
		"-timeout", strconv.Itoa(int(dur.Seconds())+60)+"s", "-trace_stat", "-stf", filepath.Join(dir, "stat.csv"),
		"-fd", "1000")
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		return b, fmt.Errorf("sipp: %w", err)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	stat, _ := os.ReadFile(filepath.Join(dir, "stat.csv"))
	ok, failed := sippCounts(stat)
	if ok+failed == 0 {
		return b, fmt.Errorf("sipp reported no calls: %v\n%s", err, tail(out, 800))
	}
	b.Calls, b.Failed = ok+failed, failed
	launch := wall - hold
	b.AchievedCPS = float64(ok+failed) / max(launch.Seconds(), dur.Seconds())
	b.CPUmsPerCall = float64(cpu.Milliseconds()) / float64(max(1, ok+failed))
	return b, nil
}

// sippCounts reads SuccessfulCall(C) and FailedCall(C) from the last line
// of sipp's -trace_stat CSV.
func sippCounts(csv []byte) (ok, failed int) {
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	if len(lines) < 2 {
		return 0, 0
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if i >= len(last) {
			break
		}
		switch h {
		case "SuccessfulCall(C)":
			ok, _ = strconv.Atoi(last[i])
		case "FailedCall(C)":
			failed, _ = strconv.Atoi(last[i])
		}
	}
	return ok, failed
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
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
	k := r.Concurrent
	if k.Target > 0 {
		fmt.Fprintf(tw, "concurrency phase\t%d calls up of %d, %d with two-way audio, measured %gs\n", k.Up, k.Target, k.TwoWay, k.HoldS)
		fmt.Fprintf(tw, "  RTP send interval\tp50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms over %d packets (goal p99 in 20±2 ms: %v)\n",
			k.IntervalP50MS, k.IntervalP99MS, k.IntervalP999, k.IntervalMaxMS, k.PacketsSent, k.WithinGoal)
		fmt.Fprintf(tw, "  CPU\tdialer %.0f%% of a core, simcarrier %.0f%%; dialer RSS %.0f MB (%.0f KB/call)\n", k.CPUPercent, k.SimCPU, k.RSSMB, k.KBPerCall)
	}
	tw.Flush()
}
