package bench

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
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// simProcess is `marcador simcarrier` running as a child, so its CPU is
// not ours: every number answered at once by a human who talks
// continuously, and numbers under tonePrefix answered by tone lines
// (simcarrier.ToneNumber).
type simProcess struct {
	addr string
	stop func()
	cpu  func() time.Duration
	mu   sync.Mutex
	tone map[string]float64 // what each tone line reported hearing
}

// simPacerShards paces the simulator's streams on a tick grid that does
// not lock in phase with the dialer's (media.DefaultPacerShards, 16): a
// carrier's packets do not arrive in step with our ticks. On identical
// grids both sides tick every 1.25 ms at a relative phase fixed for the
// whole run, and that phase decided a 1,000-call run's figures: p99
// 20.8 ms or 23.3 ms, CPU 62% or 73% of a core, by the luck of the start.
const simPacerShards = 13

// tonePrefix is the numbers the bench's simulator answers with tone lines.
const tonePrefix = "+1778"

// heard is the tone a tone line reported hearing (ok false: none yet).
func (p *simProcess) heard(number string) (hz float64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hz, ok = p.tone[number]
	return hz, ok
}

// startSimProcess starts the simulator: pin and nice as for farCmd;
// rtpSockets > 0 carries its RTP on that many shared sockets.
func startSimProcess(ctx context.Context, pin, nice, rtpSockets int, stderr io.Writer) (*simProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	simArgs := []string{"simcarrier", "-listen", addr, "-by-last-digit=false", "-mix", "human=1",
		"-ring", "0s", "-talk", "1h", "-continuous", "-rtp-ports", "40000-59999", "-log", "error", "-rtp-sockets", strconv.Itoa(rtpSockets),
		"-tone-prefix", tonePrefix, "-pacer-shards", strconv.Itoa(simPacerShards)}
	cmd := farCmd(exe, simArgs, pin, nice)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start simcarrier: %w", err)
	}
	p := &simProcess{addr: addr, tone: map[string]float64{}}
	p.stop = func() {
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
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.Contains(lines.Text(), "answering on") {
		p.stop()
		return nil, fmt.Errorf("simcarrier did not start: %q %v", lines.Text(), lines.Err())
	}
	go p.read(lines)
	pid := cmd.Process.Pid
	p.cpu = func() time.Duration { return procCPU(pid) }
	return p, nil
}

// read takes the tone lines' reports from the simulator's output until it ends.
func (p *simProcess) read(lines *bufio.Scanner) {
	for lines.Scan() {
		var number string
		var hz float64
		if _, err := fmt.Sscanf(lines.Text(), "simcarrier: tone heard on %s %f Hz", &number, &hz); err == nil {
			p.mu.Lock()
			p.tone[strings.TrimSuffix(number, ":")] = hz
			p.mu.Unlock()
		}
	}
}

// farCmd runs this binary with args as a child standing in for the far
// side of a network (the carrier, the agents' phones). The simulator stands
// in for other machines, so it may be made to compete less with what is
// measured: pin >= 0 confines it to that CPU with one Go thread (taskset),
// nice > 0 lowers its scheduling priority (nice), when those tools are
// installed. Both exec the binary, so the child's pid is the binary's.
func farCmd(exe string, args []string, pin, nice int) *exec.Cmd {
	argv := append([]string{exe}, args...)
	oneThread := false
	if pin >= 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = append([]string{ts, "-c", strconv.Itoa(pin)}, argv...)
			oneThread = true
		}
	}
	if nice > 0 {
		if n, err := exec.LookPath("nice"); err == nil {
			argv = append([]string{n, "-n", strconv.Itoa(nice)}, argv...)
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if oneThread {
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	}
	return cmd
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

// histogram counts durations in buckets of unit (default 10 µs) up to
// 20,000 units (200 ms), then in buckets 100 units wide up to 1,020,000
// units (10.2 s); longer ones count in the last, and a quantile that falls
// there is the maximum seen. Safe for concurrent use from every call's
// sender.
type histogram struct {
	unit time.Duration
	b    [histFine]atomic.Uint64
	over [histCoarse]atomic.Uint64
	n    atomic.Uint64
	maxv atomic.Int64
}

const (
	histFine   = 20000
	histCoarse = 10000
	histStep   = 100 // fine buckets per coarse one
)

func (h *histogram) width() time.Duration {
	if h.unit > 0 {
		return h.unit
	}
	return 10 * time.Microsecond
}

func (h *histogram) add(d time.Duration) {
	if i := int(max(d, 0) / h.width()); i < histFine {
		h.b[i].Add(1)
	} else {
		h.over[min((i-histFine)/histStep, histCoarse-1)].Add(1)
	}
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
	for i := range h.over {
		h.over[i].Store(0)
	}
	h.n.Store(0)
	h.maxv.Store(0)
}

// quantile in milliseconds: the lower edge of the bucket it falls in.
func (h *histogram) quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	want := uint64(q * float64(n))
	var c uint64
	for i := range h.b {
		if c += h.b[i].Load(); c > want {
			return float64(time.Duration(i)*h.width()) / 1e6
		}
	}
	for i := range h.over {
		if c += h.over[i].Load(); c > want && i < histCoarse-1 {
			return float64(time.Duration(histFine+i*histStep)*h.width()) / 1e6
		}
	}
	return float64(h.maxv.Load()) / 1e6
}

// startCPUProfile writes this process's CPU profile to path until stop
// (which may be called more than once); with no path it does nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return sync.OnceFunc(func() {
		pprof.StopCPUProfile()
		f.Close()
	}), nil
}

// printJSON writes a bench's result as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
