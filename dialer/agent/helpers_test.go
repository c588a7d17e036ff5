package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/queue/redistest"
)

// clock is the injected clock tests drive.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// base is a Tuesday in 2030: timestamps of 13 digits in ms, as for decades.
var base = time.Date(2030, 3, 12, 9, 0, 0, 0, time.UTC)

// hashTag is the part of a key Redis Cluster hashes.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

// slotCheck fails the test when a script is run with keys of more than one
// hash slot (by tag), i.e. when it would fail on Redis Cluster.
type slotCheck struct{ t testing.TB }

func (h slotCheck) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h slotCheck) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.check(cmd)
		return next(ctx, cmd)
	}
}
func (h slotCheck) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.check(c)
		}
		return next(ctx, cmds)
	}
}

func (h slotCheck) check(cmd redis.Cmder) {
	name := strings.ToLower(cmd.Name())
	if name != "eval" && name != "evalsha" && name != "eval_ro" && name != "evalsha_ro" {
		return
	}
	a := cmd.Args()
	n, _ := a[2].(int)
	tag := ""
	for i := 0; i < n; i++ {
		k := fmt.Sprint(a[3+i])
		if i == 0 {
			tag = hashTag(k)
		} else if hashTag(k) != tag {
			h.t.Errorf("script keys in two slots: %v", a[3:3+n])
		}
		if !strings.HasPrefix(k, "marcador:{") {
			h.t.Errorf("key %q: not under marcador: with a tag", k)
		}
	}
}

// client is a connection to the dev Redis with the slot check.
// agentRedis is this package's tests' Redis database. Their pools run on
// a clock in 2030 and reap every campaign's expired leases: on the other
// packages' database they logged out the agents of tests running at the
// same time (dialer/campaign's predictive run lost its six agents
// mid-run in fresh-clone CI).
func agentRedis(t testing.TB) redis.UniversalClient { return redistest.ClientDB(t, 1) }

func client(t testing.TB) redis.UniversalClient {
	c := agentRedis(t)
	c.AddHook(slotCheck{t})
	return c
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type env struct {
	t   *testing.T
	ctx context.Context
	rdb redis.UniversalClient
	clk *clock
	p   *Pool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	rdb := client(t)
	clk := newClock(base)
	p := New(Options{Client: rdb, Now: clk.Now, Logger: quietLog(), LeaseTTL: 30 * time.Second})
	return &env{t: t, ctx: ctx, rdb: rdb, clk: clk, p: p}
}

// pool is another Pool (another process) on its own connection, same clock.
func (e *env) pool() *Pool {
	return New(Options{Client: client(e.t), Now: e.clk.Now, Logger: quietLog(), LeaseTTL: 30 * time.Second})
}

func rnd() string {
	b := make([]byte, 5)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// campaign is a fresh campaign id whose keys go when the test ends.
func (e *env) campaign() string {
	id := redistest.CampaignID(e.t, e.rdb)
	e.t.Cleanup(func() { e.rdb.SRem(context.Background(), campaignsKey, id) })
	return id
}

const testPassword = "s3cret-Pa55word"

// agent defines a fresh agent allowed in campaigns; it is deleted when the
// test ends.
func (e *env) agent(campaigns ...string) string {
	e.t.Helper()
	id := "a-" + rnd()
	e.forget(id)
	if _, _, err := e.p.Put(e.ctx, Definition{ID: id, SIPUser: "u-" + id, Password: testPassword, Campaigns: campaigns}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// forget deletes an agent's directory entries when the test ends.
func (e *env) forget(id string) {
	e.t.Cleanup(func() {
		ctx := context.Background()
		sip, _ := e.rdb.HGet(ctx, defKey(id), "sip_user").Result()
		e.rdb.Del(ctx, defKey(id))
		e.rdb.SRem(ctx, idsKey, id)
		e.rdb.HDel(ctx, whereKey, id)
		e.rdb.HDel(ctx, gensKey, id)
		if sip != "" && e.rdb.HGet(ctx, sipUsersKey, sip).Val() == id {
			e.rdb.HDel(ctx, sipUsersKey, sip)
		}
	})
}

func (e *env) must(st Status, err error) Status {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) status(id string) Status {
	e.t.Helper()
	return e.must(e.p.Status(e.ctx, id))
}

func (e *env) events(campaign string) []Event {
	e.t.Helper()
	evs, err := e.p.Events(e.ctx, campaign, "", 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// idle lists the ready agents of campaign held by node, longest idle first.
func (e *env) idle(campaign, node string) []string {
	e.t.Helper()
	v, err := e.rdb.ZRange(e.ctx, ck(campaign).idle(node), 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}
