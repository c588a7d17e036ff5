package proctest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/polltest"
)

// Start waits for Ready, and Stop ends the whole process group: here a
// shell and the sleep it forked, which writes its pid where the test reads it.
func TestStartWaitsForReadyAndStopEndsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	p := New(t, Options{
		Bin: "sh", Install: "it comes with the system",
		Args: []string{"-c", "sleep 600 & echo $! > " + pidFile + "; wait"},
		Ready: func() error {
			if b, err := os.ReadFile(pidFile); err != nil || !strings.HasSuffix(string(b), "\n") {
				return errors.New("no pid yet")
			}
			return nil
		},
		Wait: 30 * time.Second, Poll: 10 * time.Millisecond, Addr: "none", Log: pidFile,
	})
	p.Start()
	b, _ := os.ReadFile(pidFile)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(child, 0); err != nil {
		t.Fatalf("the forked sleep %d is not running: %v", child, err)
	}
	p.Stop()
	// The shell has been reaped; its child is gone or a zombie awaiting init
	// (not ours to wait for: polled).
	if !polltest.Until(30*time.Second, func() bool { return syscall.Kill(child, 0) != nil || zombie(child) }) {
		t.Fatalf("the forked sleep %d outlived Stop", child)
	}
	p.Stop() // a second Stop is a no-op
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func TestFreePortIsFree(t *testing.T) {
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Fatalf("port %d", p)
	}
}
