package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/queue/redistest"
)

// Reserve takes the longest-idle ready agent; a release keeps the agent's
// place, the end of a wrap-up sends it to the back.
func TestLongestIdleOrder(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	a, b, d := e.agent(c), e.agent(c), e.agent(c)
	// Logged in paused in order d, a, b; made ready in order a, b, d.
	for _, id := range []string{d, a, b} {
		e.must(e.p.Login(e.ctx, id, c, "n1", false))
		e.clk.Add(time.Second)
	}
	for _, id := range []string{a, b, d} {
		e.must(e.p.Ready(e.ctx, id))
		e.clk.Add(time.Second)
	}
	reserve := func(call string) Reservation {
		t.Helper()
		r, ok, err := e.p.Reserve(e.ctx, c, "n1", call)
		if err != nil || !ok {
			t.Fatalf("reserve %s: %v %v", call, ok, err)
		}
		return r
	}
	r1 := reserve("k1")
	if r1.Agent != a || !r1.IdleSince.Equal(base.Add(3*time.Second)) || !r1.At.Equal(e.clk.Now()) {
		t.Fatalf("first reservation %+v, want %s idle since %s", r1, a, base.Add(3*time.Second))
	}
	// The call fails before the bridge: a keeps its place at the head.
	e.clk.Add(time.Second)
	st := e.must(e.p.Release(e.ctx, r1))
	if st.State != Ready || !st.IdleSince.Equal(r1.IdleSince) {
		t.Fatalf("released: %+v", st)
	}
	if got := e.idle(c, "n1"); fmt.Sprint(got) != fmt.Sprint([]string{a, b, d}) {
		t.Fatalf("idle after release %v, want %v", got, []string{a, b, d})
	}
	r1 = reserve("k2")
	r2 := reserve("k3")
	if r1.Agent != a || r2.Agent != b {
		t.Fatalf("reserved %s, %s; want %s, %s", r1.Agent, r2.Agent, a, b)
	}
	// a talks and wraps up: back of the queue, behind d.
	e.must(e.p.Connect(e.ctx, r1))
	e.must(e.p.Hangup(e.ctx, r1))
	e.clk.Add(time.Second)
	e.must(e.p.EndWrap(e.ctx, r1))
	if got := e.idle(c, "n1"); fmt.Sprint(got) != fmt.Sprint([]string{d, a}) {
		t.Fatalf("idle after wrap-up %v, want %v", got, []string{d, a})
	}
	if r := reserve("k4"); r.Agent != d {
		t.Fatalf("reserved %s, want %s", r.Agent, d)
	}
	if r := reserve("k5"); r.Agent != a {
		t.Fatalf("reserved %s, want %s", r.Agent, a)
	}
	if _, ok, err := e.p.Reserve(e.ctx, c, "n1", "k6"); ok || err != nil {
		t.Fatalf("reserve with nobody ready: %v %v", ok, err)
	}
}

// A node reserves only agents it holds.
func TestReserveNodeScope(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	a, b := e.agent(c), e.agent(c)
	e.must(e.p.Login(e.ctx, a, c, "n1", true))
	e.clk.Add(time.Second)
	e.must(e.p.Login(e.ctx, b, c, "n2", true))
	r, ok, _ := e.p.Reserve(e.ctx, c, "n2", "k1")
	if !ok || r.Agent != b {
		t.Fatalf("n2 reserved %+v, want %s", r, b)
	}
	if _, ok, _ := e.p.Reserve(e.ctx, c, "n2", "k2"); ok {
		t.Fatal("n2 reserved n1's agent")
	}
	if r, ok, _ := e.p.Reserve(e.ctx, c, "n1", "k3"); !ok || r.Agent != a {
		t.Fatalf("n1 reserved %+v, want %s", r, a)
	}
	// A stale idle entry (an agent no longer ready) is skipped and dropped.
	e.rdb.ZAdd(e.ctx, ck(c).idle("n1"), redis.Z{Score: 0, Member: b})
	if _, ok, _ := e.p.Reserve(e.ctx, c, "n1", "k4"); ok {
		t.Fatal("reserved through a stale idle entry")
	}
	if n := e.rdb.ZCard(e.ctx, ck(c).idle("n1")).Val(); n != 0 {
		t.Fatalf("stale idle entry kept (%d)", n)
	}
}

// Debtors answered at the same instant, on several goroutines of two
// processes (two Redis clients): no agent is reserved twice, no reservation
// is lost.
func TestConcurrentReserve(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	const agents, workers, tries = 20, 8, 15 // 120 attempts for 20 agents
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = e.agent(c)
		e.must(e.p.Login(e.ctx, ids[i], c, "n1", true))
	}
	pools := []*Pool{e.pool(), e.pool()}
	var mu sync.Mutex
	got := map[string]string{} // agent → call
	var calls atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pools[w%2]
			<-start
			for i := 0; i < tries; i++ {
				call := fmt.Sprintf("w%d-%d", w, i)
				r, ok, err := p.Reserve(e.ctx, c, "n1", call)
				if err != nil {
					t.Error(err)
					return
				}
				calls.Add(1)
				if !ok {
					continue
				}
				mu.Lock()
				if prev, dup := got[r.Agent]; dup {
					t.Errorf("agent %s reserved twice: %s and %s", r.Agent, prev, call)
				}
				got[r.Agent] = call
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(got) != agents {
		t.Fatalf("%d agents reserved of %d ready (%d attempts)", len(got), agents, calls.Load())
	}
	// Each reservation is recorded with its call.
	for a, call := range got {
		st := e.status(a)
		if st.State != Reserved || st.Call != call {
			t.Fatalf("agent %s: %s for %q, reserved for %q", a, st.State, st.Call, call)
		}
	}
	evs := e.events(c)
	n := 0
	for _, ev := range evs {
		if ev.Kind == "reserve" {
			n++
		}
	}
	if n != agents {
		t.Fatalf("%d reserve events for %d reservations", n, agents)
	}
}

// Agents cycle through calls while several goroutines of two processes
// reserve: at no time does an agent have two calls, and every reservation
// ends in exactly one agent's talk.
func TestConcurrentReserveCycles(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	const agents, workers, rounds = 6, 6, 25
	for i := 0; i < agents; i++ {
		id := e.agent(c)
		e.must(e.p.Login(e.ctx, id, c, "n1", true))
	}
	pools := []*Pool{e.pool(), e.pool()}
	var mu sync.Mutex
	holder := map[string]string{}
	var connected atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pools[w%2]
			for i := 0; i < rounds; i++ {
				call := fmt.Sprintf("w%d-%d", w, i)
				r, ok, err := p.Reserve(e.ctx, c, "n1", call)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					continue
				}
				mu.Lock()
				if h := holder[r.Agent]; h != "" {
					t.Errorf("agent %s reserved for %s while it has %s", r.Agent, call, h)
				}
				holder[r.Agent] = call
				mu.Unlock()
				// The holder is cleared before the step that makes the agent
				// ready again (Release, EndWrap), never after.
				free := func() {
					mu.Lock()
					holder[r.Agent] = ""
					mu.Unlock()
				}
				if i%3 == 0 {
					free()
					if _, err := p.Release(e.ctx, r); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				if _, err := p.Connect(e.ctx, r); err != nil {
					t.Error(err)
					return
				}
				connected.Add(1)
				if _, err := p.Hangup(e.ctx, r); err != nil {
					t.Error(err)
					return
				}
				free()
				if _, err := p.EndWrap(e.ctx, r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// The day's calls add up to the connects.
	var calls int64
	roster, err := e.p.Roster(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, as := range roster {
		if slices.Contains(as.Campaigns, c) {
			calls += as.Today.Calls
		}
	}
	if calls != connected.Load() {
		t.Fatalf("agents' calls today %d, connects %d", calls, connected.Load())
	}
	if s, _ := e.p.Counts(e.ctx, c); s.Ready != agents {
		t.Fatalf("after the cycles %+v, want all %d ready", s, agents)
	}
}

// Two operating-system processes (this test binary, run again as
// reservers) reserve from one campaign at once: no agent twice, none lost.
func TestReserveTwoProcesses(t *testing.T) {
	if os.Getenv("AGENT_RESERVER") != "" {
		t.Skip("a reserver does not start reservers")
	}
	e := newEnv(t)
	c := e.campaign()
	const agents, procs, tries = 30, 2, 40
	for i := 0; i < agents; i++ {
		e.must(e.p.Login(e.ctx, e.agent(c), c, "n1", true))
	}
	// Each reserver connects, says "ready" and waits for its stdin to
	// close: both start reserving together.
	type proc struct {
		cmd   *exec.Cmd
		out   *bufio.Reader
		stdin io.WriteCloser
		errs  *bytes.Buffer
	}
	ps := make([]proc, procs)
	for i := range ps {
		cmd := exec.CommandContext(e.ctx, os.Args[0], "-test.run=^TestReserverProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "AGENT_RESERVER="+c, fmt.Sprintf("AGENT_RESERVER_ID=p%d", i),
			fmt.Sprintf("AGENT_RESERVER_TRIES=%d", tries))
		ps[i].errs = &bytes.Buffer{}
		cmd.Stderr = ps[i].errs
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if ps[i].stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		ps[i].cmd, ps[i].out = cmd, bufio.NewReader(out)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ps {
		for {
			line, err := ps[i].out.ReadString('\n')
			if err != nil {
				t.Fatalf("reserver %d: %v\n%s", i, err, ps[i].errs)
			}
			if line == "ready\n" {
				break
			}
		}
	}
	for i := range ps {
		ps[i].stdin.Close()
	}
	got := map[string]string{}
	per := make([]int, procs)
	for i := range ps {
		rest, _ := io.ReadAll(ps[i].out)
		if err := ps[i].cmd.Wait(); err != nil {
			t.Fatalf("reserver %d: %v\n%s%s", i, err, rest, ps[i].errs)
		}
		for _, line := range strings.Split(string(rest), "\n") {
			agent, call, ok := strings.Cut(strings.TrimPrefix(line, "reserved "), " ")
			if !ok || !strings.HasPrefix(line, "reserved ") {
				continue
			}
			if prev, dup := got[agent]; dup {
				t.Errorf("agent %s reserved twice: %s and %s", agent, prev, call)
			}
			got[agent] = call
			per[i]++
		}
	}
	t.Logf("reservations per process: %v", per)
	if len(got) != agents {
		t.Fatalf("%d agents reserved of %d", len(got), agents)
	}
	for a, call := range got {
		if st := e.status(a); st.State != Reserved || st.Call != call {
			t.Fatalf("agent %s: %s for %q, process said %q", a, st.State, st.Call, call)
		}
	}
}

// TestReserverProcess is the child of TestReserveTwoProcesses.
func TestReserverProcess(t *testing.T) {
	c := os.Getenv("AGENT_RESERVER")
	if c == "" {
		t.Skip("run by TestReserveTwoProcesses")
	}
	tries, _ := strconv.Atoi(os.Getenv("AGENT_RESERVER_TRIES"))
	p := New(Options{Client: client(t), Now: newClock(base).Now, Logger: quietLog()})
	ctx := context.Background()
	if err := p.rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for i := 0; i < tries; i++ {
		call := fmt.Sprintf("%s-%d", os.Getenv("AGENT_RESERVER_ID"), i)
		r, ok, err := p.Reserve(ctx, c, "n1", call)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			fmt.Printf("reserved %s %s\n", r.Agent, call)
		}
	}
}

// BenchmarkReserve measures one reservation (one script call) with 50
// agents ready on the node; each is released (a second call, not timed
// separately) so the queue never empties.
func BenchmarkReserve(b *testing.B) {
	e := &env{ctx: context.Background(), rdb: agentRedis(b), clk: newClock(base)}
	e.p = New(Options{Client: e.rdb, Now: e.clk.Now, Logger: quietLog()})
	c := redistest.CampaignID(b, e.rdb)
	b.Cleanup(func() { e.rdb.SRem(context.Background(), campaignsKey, c) })
	for i := 0; i < 50; i++ {
		id := "a-" + rnd()
		b.Cleanup(func() {
			ctx := context.Background()
			e.rdb.Del(ctx, defKey(id))
			e.rdb.SRem(ctx, idsKey, id)
			e.rdb.HDel(ctx, whereKey, id)
			e.rdb.HDel(ctx, gensKey, id)
			e.rdb.HDel(ctx, sipUsersKey, "u-"+id)
		})
		if _, _, err := e.p.Put(e.ctx, Definition{ID: id, SIPUser: "u-" + id, Password: testPassword, Campaigns: []string{c}}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.p.Login(e.ctx, id, c, "n1", true); err != nil {
			b.Fatal(err)
		}
	}
	var reserve time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r, ok, err := e.p.Reserve(e.ctx, c, "n1", "k"+strconv.Itoa(i))
		reserve += time.Since(t0)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
		if _, err := e.p.Release(e.ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(reserve.Microseconds())/float64(b.N), "µs/reserve")
}

// ReserveAgent (a preview dial) takes one given agent only when it is
// ready on the node.
func TestReserveAgent(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	a, b := e.agent(c), e.agent(c)
	e.must(e.p.Login(e.ctx, a, c, "n1", true))
	e.clk.Add(time.Second)
	e.must(e.p.Login(e.ctx, b, c, "n1", true))
	if _, ok, err := e.p.ReserveAgent(e.ctx, c, "n2", b, "k1"); ok || err != nil {
		t.Fatalf("another node reserved b: %v %v", ok, err)
	}
	r, ok, err := e.p.ReserveAgent(e.ctx, c, "n1", b, "k1")
	if !ok || err != nil || r.Agent != b || r.Call != "k1" {
		t.Fatalf("reserve b: %+v %v %v", r, ok, err)
	}
	if _, ok, _ := e.p.ReserveAgent(e.ctx, c, "n1", b, "k2"); ok {
		t.Fatal("b reserved twice")
	}
	// The idle queue lost b, not a: the longest-idle pick takes a.
	if r, ok, _ := e.p.Reserve(e.ctx, c, "n1", "k3"); !ok || r.Agent != a {
		t.Fatalf("then reserved %+v", r)
	}
	if got := e.idle(c, "n1"); len(got) != 0 {
		t.Fatalf("idle %v", got)
	}
}
