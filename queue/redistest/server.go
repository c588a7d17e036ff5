package redistest

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics/proctest"
)

// Server is a private redis-server process with its data in a temp dir, for
// tests that stop, restart or empty Redis (never the shared one). Start,
// Stop and Restart come from proctest.Process; Stop is SIGTERM, so with AOF
// it flushes first.
type Server struct {
	*proctest.Process
	Addr string
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
	dir, port := t.TempDir(), proctest.FreePort(t)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), t: t}
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"), "--save", ""}
	if aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	s.Process = proctest.New(t, proctest.Options{
		Bin: "redis-server", Install: "apt-get install redis-server", Args: args,
		Ready: s.ping, Wait: 30 * time.Second, Poll: 50 * time.Millisecond,
		Addr: s.Addr, Log: filepath.Join(dir, "redis.log"),
	})
	s.Start()
	return s
}

func (s *Server) ping() error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

// Client connects to the private server; closed when the test ends.
func (s *Server) Client() redis.UniversalClient {
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{s.Addr}})
	s.t.Cleanup(func() { c.Close() })
	return c
}
