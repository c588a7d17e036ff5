package agent

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/analytics/proctest"
)

// startCluster starts a private one-node Redis Cluster (every slot on one
// server). Cluster mode refuses a script whose keys are in two slots
// (CROSSSLOT) and, since Redis 7, a script touching a key outside its
// declared keys' slot: what a real cluster would do.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	dir, port := t.TempDir(), proctest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	one := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { one.Close() })
	ctx := context.Background()
	proctest.New(t, proctest.Options{
		Bin: "redis-server", Install: "apt-get install redis-server",
		Args: []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log")},
		Ready: func() error { return one.Ping(ctx).Err() }, Wait: 30 * time.Second, Poll: 50 * time.Millisecond,
		Addr: addr, Log: filepath.Join(dir, "redis.log"),
	}).Start()
	if err := one.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	var info string
	if !polltest.Until(30*time.Second, func() bool {
		info, _ = one.ClusterInfo(ctx).Result()
		return strings.Contains(info, "cluster_state:ok")
	}) {
		t.Fatalf("cluster state: %s", info)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
	t.Cleanup(func() { c.Close() })
	return c
}

// Every operation of the pool runs on Redis Cluster.
func TestOnRedisCluster(t *testing.T) {
	rdb := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The check works: a script over two slots is refused.
	err := redis.NewScript(`return 1`).Run(ctx, rdb, []string{"marcador:{a}:x", "marcador:{b}:x"}).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("cross-slot script: %v", err)
	}
	err = redis.NewScript(`return redis.call('GET', 'marcador:{b}:x')`).Run(ctx, rdb, []string{"marcador:{a}:x"}).Err()
	if err == nil {
		t.Fatal("a script reached an undeclared key in another slot")
	}

	clk := newClock(base)
	p := New(Options{Client: rdb, Now: clk.Now, Logger: quietLog(), FollowBlock: 100 * time.Millisecond})
	must := func(st Status, err error) Status {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for _, id := range []string{"ana", "bea"} {
		if _, _, err := p.Put(ctx, Definition{ID: id, SIPUser: id, Password: testPassword, Campaigns: []string{"c1", "c2"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Credentials(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	must(p.Login(ctx, "ana", "c1", "n1", true))
	must(p.Login(ctx, "bea", "c2", "n1", false))
	if _, err := p.Login(ctx, "bea", "c1", "n1", false); !errors.Is(err, ErrTransition) {
		t.Fatalf("second campaign: %v", err)
	}
	r, ok, err := p.Reserve(ctx, "c1", "n1", "k1")
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	must(p.Connect(ctx, r))
	must(p.Pause(ctx, "ana", "lunch"))
	must(p.Hangup(ctx, r))
	must(p.EndWrap(ctx, r))
	must(p.Ready(ctx, "ana"))
	r, _, _ = p.Reserve(ctx, "c1", "n1", "k2")
	must(p.Release(ctx, r))
	must(p.Disconnect(ctx, "ana", ""))
	must(p.Logout(ctx, "ana"))
	if err := p.Count(ctx, "c1", Live, nil); err != nil {
		t.Fatal(err)
	}
	if r, err := p.Rates(ctx, "c1", nil); err != nil || r.Rolling.Live != 1 {
		t.Fatalf("rates %+v %v", r, err)
	}
	if s, err := p.Snapshot(ctx, "c2", "n1", nil); err != nil || len(s.Agents) != 1 {
		t.Fatalf("snapshot %+v %v", s, err)
	}
	if _, err := p.Roster(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Today(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Renew(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if f, err := p.Reap(ctx); err != nil || len(f) != 1 || f[0].Agent != "bea" {
		t.Fatalf("reap %+v %v", f, err)
	}
	must(p.Login(ctx, "bea", "c1", "n2", true))
	if f, err := p.Evict(ctx, "n2", "node_restarted"); err != nil || len(f) != 1 {
		t.Fatalf("evict %+v %v", f, err)
	}
	evs, err := p.Events(ctx, "c1", "", 100)
	if err != nil || len(evs) < 10 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	stop := errors.New("stop")
	if err := p.Follow(ctx, "c1", "0", func(Event) error { return stop }); !errors.Is(err, stop) {
		t.Fatal(err)
	}
}
