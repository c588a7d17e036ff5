package epoch_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/marcador/marcador/queue/epoch"
	"github.com/marcador/marcador/queue/redistest"
)

// syncBuf is a log sink several goroutines write to.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func node(t *testing.T, srv *redistest.Server, name, dir string, logs *syncBuf) *epoch.Guard {
	t.Helper()
	return epoch.New(epoch.Options{Client: srv.Client(), File: filepath.Join(dir, name+".redis-epoch"), Node: name,
		Interval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
}

// gauge reads a one-gauge collector (marcador_redis_data_ok).
func gauge(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two nodes share a Redis that restarts empty: each detects the loss on its
// own (one by a health check, one by its periodic check), a third node's
// first start on the empty Redis does not clear it, and an operator's
// restore lets both resume.
func TestLossDetectedByEveryNodeUntilRestore(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	dir := t.TempDir()
	logs := &syncBuf{}
	a, b := node(t, srv, "a", dir, logs), node(t, srv, "b", dir, logs)
	if err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Known().ID == "" || a.Known() != b.Known() || a.Known().Origin != epoch.FirstStart {
		t.Fatalf("first start: a %+v b %+v", a.Known(), b.Known())
	}
	if a.Err() != nil || b.Err() != nil || gauge(t, a.Collector()) != 1 {
		t.Fatalf("healthy start: %v %v", a.Err(), b.Err())
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Run(rctx)

	srv.Restart() // no AOF, no snapshot: empty

	err := a.Check(ctx)
	if !errors.Is(err, epoch.ErrDataLost) || !strings.Contains(err.Error(), "missing since") ||
		!strings.Contains(err.Error(), "marcador redis restore") {
		t.Fatalf("a after the restart: %v", err)
	}
	if gauge(t, a.Collector()) != 0 {
		t.Fatal("marcador_redis_data_ok is not 0")
	}
	waitFor(t, "b's periodic check to notice", func() bool { return errors.Is(b.Err(), epoch.ErrDataLost) })

	// A node that never ran starts on the empty Redis: for it this is a
	// first start, for a and b it is not.
	c := node(t, srv, "c", dir, logs)
	if err := c.Init(ctx); err != nil || c.Err() != nil {
		t.Fatalf("c's first start: %v %v", err, c.Err())
	}
	if err := a.Check(ctx); !errors.Is(err, epoch.ErrDataLost) {
		t.Fatalf("a after c's first start: %v", err)
	}
	// The old marker coming back is not an operator's word either.
	lost := a.Known()
	if err := epoch.Write(ctx, srv.Client(), lost); err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); !errors.Is(err, epoch.ErrDataLost) {
		t.Fatalf("a after its old marker came back: %v", err)
	}
	if n := strings.Count(logs.String(), "REDIS DATA LOST"); n != 2 {
		t.Fatalf("%d loss lines, want one per node:\n%s", n, logs.String())
	}

	m, err := epoch.Confirm(ctx, srv.Client(), filepath.Join(dir, "operator.redis-epoch"), "ops", epoch.Restore, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(ctx); err != nil || a.Known().ID != m.ID {
		t.Fatalf("a after the restore: %v %+v", err, a.Known())
	}
	waitFor(t, "b to adopt the restored epoch", func() bool { return b.Err() == nil })
	if gauge(t, a.Collector()) != 1 {
		t.Fatal("marcador_redis_data_ok is not 1 after the restore")
	}
	// a restarted later reads the restored epoch from its file: fine.
	a2 := node(t, srv, "a", dir, logs)
	if err := a2.Init(ctx); err != nil || a2.Err() != nil || a2.Known().ID != m.ID {
		t.Fatalf("a restarted: %v %v %+v", err, a2.Err(), a2.Known())
	}
}

// A node that restarts after Redis lost its data starts held.
func TestRestartedNodeStartsHeld(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServer(t)
	dir := t.TempDir()
	logs := &syncBuf{}
	a := node(t, srv, "a", dir, logs)
	if err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	a2 := node(t, srv, "a", dir, logs)
	if err := a2.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(a2.Err(), epoch.ErrDataLost) {
		t.Fatalf("restarted node on an emptied Redis: %v", a2.Err())
	}
	if _, present, _ := epoch.Read(ctx, srv.Client()); present {
		t.Fatal("a held node wrote a marker")
	}
	if _, err := epoch.Confirm(ctx, srv.Client(), "", "ops", epoch.AcceptEmpty, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := a2.Check(ctx); err != nil {
		t.Fatalf("after accept-empty: %v", err)
	}
}

// With the deployment's appendonly yes / appendfsync everysec, a restart
// keeps the marker (and everything else).
func TestAOFRestartKeepsEpoch(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartServerAOF(t)
	logs := &syncBuf{}
	a := node(t, srv, "a", t.TempDir(), logs)
	if err := a.Init(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Restart() // SIGTERM: Redis writes the AOF before it exits
	if err := a.Check(ctx); err != nil {
		t.Fatalf("after an AOF restart: %v", err)
	}
}
