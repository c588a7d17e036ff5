// Package proctest runs a private server process for a test (redis-server,
// clickhouse-server) that the test may stop and start again: on a free
// loopback port, in a process group of its own, ready when a probe answers,
// stopped with SIGTERM (SIGKILL if it hangs). queue/redistest and
// analytics/chtest build their servers on it; it lives under analytics, the
// package every other one may import, so both can.
package proctest

import (
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Options describe one server process.
type Options struct {
	// Bin is the program and Install how to get it, for the error when it is
	// not installed.
	Bin, Install string
	Args         []string
	// Ready answers nil once the server serves.
	Ready func() error
	// Wait is how long Start waits for Ready (a loaded machine starts
	// servers slowly); Poll how often it asks.
	Wait, Poll time.Duration
	// Addr names the server in errors; Log is the file whose contents
	// explain a server that did not come up.
	Addr, Log string
}

// Process is a server process a test starts and stops; it is stopped when
// the test ends.
type Process struct {
	o   Options
	t   testing.TB
	cmd *exec.Cmd
}

// New checks that the program is installed and returns the process, not
// yet started.
func New(t testing.TB, o Options) *Process {
	t.Helper()
	if _, err := exec.LookPath(o.Bin); err != nil {
		t.Fatalf("%s not installed (%s): %v", o.Bin, o.Install, err)
	}
	p := &Process{o: o, t: t}
	t.Cleanup(p.Stop)
	return p
}

// Start launches the server (again) and waits until it answers.
func (p *Process) Start() {
	p.t.Helper()
	p.cmd = exec.Command(p.o.Bin, p.o.Args...)
	// Its own group, so Stop reaches any child it forks.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.o.Bin, err)
	}
	deadline := time.Now().Add(p.o.Wait)
	for time.Now().Before(deadline) {
		if p.o.Ready() == nil {
			return
		}
		time.Sleep(p.o.Poll)
	}
	b, _ := os.ReadFile(p.o.Log)
	p.t.Fatalf("private %s on %s did not come up: %s", p.o.Bin, p.o.Addr, b)
}

// Stop terminates the server (SIGTERM, so it may flush what it persists)
// and waits for it to exit.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	p.cmd = nil
}

// Restart stops and starts the server with the same arguments.
func (p *Process) Restart() {
	p.t.Helper()
	p.Stop()
	p.Start()
}

// FreePort is a loopback TCP port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
