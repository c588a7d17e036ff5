package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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
