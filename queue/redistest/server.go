package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a private redis-server process with its data in a temp dir, for
// tests that stop, restart or empty Redis (never the shared one).
type Server struct {
	Addr string
	dir  string
	port int
	aof  bool
	cmd  *exec.Cmd
	t    testing.TB
}

// StartServer starts a private server on a free loopback port without
// persistence: Restart brings it back empty, as a Redis without AOF or a
// snapshot comes back after a crash. It is stopped when the test ends.
func StartServer(t testing.TB) *Server { return start(t, false) }

// StartServerAOF is StartServer with appendonly yes, appendfsync everysec
// (the deployment's setting): Restart keeps the data.
func StartServerAOF(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, aof bool) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not installed (apt-get install redis-server): %v", err)
	}
	s := &Server{dir: t.TempDir(), port: freePort(t), aof: aof, t: t}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.port)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start launches the server (again) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port), "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"), "--save", ""}
	if s.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.cmd = exec.Command("redis-server", args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	s.t.Fatalf("private redis-server on %s did not come up: %s", s.Addr, b)
}

// Stop terminates the server (SIGTERM; with AOF it flushes first) and waits
// for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// Restart stops and starts the server on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Client connects to the private server; closed when the test ends.
func (s *Server) Client() redis.UniversalClient {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{s.Addr}})
	s.t.Cleanup(func() { c.Close() })
	return c
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
