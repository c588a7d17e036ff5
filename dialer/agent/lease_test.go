package agent

import (
	"errors"
	"slices"
	"sort"
	"testing"
	"time"
)

// A node that stops renewing loses its agents once the lease expires; the
// reaper, run by any node any number of times, frees each once, with
// reason node_lost on the stream; a renewing node keeps its agents.
func TestLeaseExpiryAndReaper(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	talker, idle, paused, kept := e.agent(c), e.agent(c), e.agent(c), e.agent(c)
	e.must(e.p.Login(e.ctx, talker, c, "dead", true))
	r, ok, err := e.p.Reserve(e.ctx, c, "dead", "k1")
	if !ok || err != nil || r.Agent != talker {
		t.Fatal(r, ok, err)
	}
	e.must(e.p.Connect(e.ctx, r))
	e.must(e.p.Login(e.ctx, idle, c, "dead", true))
	e.must(e.p.Login(e.ctx, paused, c, "dead", false))
	e.must(e.p.Login(e.ctx, kept, c, "alive", true))

	// Halfway through the lease both nodes renew; only "alive" later.
	e.clk.Add(15 * time.Second)
	held, err := e.p.Renew(e.ctx, "dead")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range held {
		if h.Campaign == c {
			names = append(names, h.Agent)
		}
	}
	sort.Strings(names)
	want := []string{talker, idle, paused}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Fatalf("renewed %v, want %v", names, want)
	}
	e.clk.Add(25 * time.Second) // 40 s: "dead" renewed at 15 s, so its lease runs to 45 s
	if _, err := e.p.Renew(e.ctx, "alive"); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.p.ReapCampaign(e.ctx, c); len(f) != 0 {
		t.Fatalf("reaped %v before the lease expired", f)
	}
	e.clk.Add(5 * time.Second) // 45 s: expired
	other := e.pool()          // another node reaps
	last, _ := e.p.LastEventID(e.ctx, c)
	f, err := other.ReapCampaign(e.ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var freed []string
	for _, x := range f {
		if x.Node != "dead" || x.Campaign != c {
			t.Fatalf("freed %+v", x)
		}
		freed = append(freed, x.Agent)
	}
	sort.Strings(freed)
	if !slices.Equal(freed, want) {
		t.Fatalf("freed %v, want %v", freed, want)
	}
	for _, id := range want {
		st := e.status(id)
		if st.State != LoggedOut || st.Campaign != "" {
			t.Fatalf("%s after the reaper: %+v", id, st)
		}
	}
	if st := e.status(kept); st.State != Ready {
		t.Fatalf("the renewing node's agent: %+v", st)
	}
	evs, _ := e.p.Events(e.ctx, c, last, 100)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev.Kind != "reap" || ev.Reason != ReasonNodeLost || ev.To != LoggedOut || !ev.At.Equal(e.clk.Now()) {
			t.Fatalf("event %+v", ev)
		}
		if ev.Agent == talker && (ev.From != Talking || ev.Call != "k1") {
			t.Fatalf("the talker's event %+v", ev)
		}
	}
	// Nothing twice: again, on both nodes, and through Reap.
	if f, _ := e.p.ReapCampaign(e.ctx, c); len(f) != 0 {
		t.Fatalf("second reap freed %v", f)
	}
	// (Not Reap: on this clock, years ahead, it would log out every agent
	// of every campaign sharing the dev Redis, other tests' included.)
	if f, _ := other.ReapCampaign(e.ctx, c); len(f) != 0 {
		t.Fatalf("the other node's second reap freed %v", f)
	}
	if evs, _ := e.p.Events(e.ctx, c, last, 100); len(evs) != 3 {
		t.Fatalf("%d events after reaping again", len(evs))
	}
	// The dead node's keys are empty; its agents may log in elsewhere.
	if n := e.rdb.ZCard(e.ctx, ck(c).idle("dead")).Val() + e.rdb.SCard(e.ctx, ck(c).held("dead")).Val(); n != 0 {
		t.Fatalf("%d entries left in the dead node's keys", n)
	}
	if e.rdb.ZScore(e.ctx, ck(c).lease(), idle).Err() == nil {
		t.Fatal("a reaped agent's lease kept")
	}
	e.must(e.p.Login(e.ctx, idle, c, "alive", true))
	// The talk until the reaper counts in the day's figures.
	d, err := e.p.Today(e.ctx, talker)
	if err != nil || d.Calls != 1 || d.Talk != 45*time.Second {
		t.Fatalf("talker's day: %+v %v", d, err)
	}
	// A late renewal from the dead node gets nothing back.
	if held, _ := e.p.Renew(e.ctx, "dead"); len(held) != 0 {
		t.Fatalf("dead node renewed %v", held)
	}
}

// Reap runs over every campaign; concurrent reapers free each agent once.
func TestReapConcurrent(t *testing.T) {
	e := newEnv(t)
	c1, c2 := e.campaign(), e.campaign()
	var ids []string
	for _, c := range []string{c1, c1, c2, c2, c2} {
		id := e.agent(c)
		e.must(e.p.Login(e.ctx, id, c, "gone", true))
		ids = append(ids, id)
	}
	e.clk.Add(31 * time.Second)
	type res struct {
		f   []Freed
		err error
	}
	out := make(chan res, 4)
	for i := 0; i < 4; i++ {
		p := e.pool()
		go func() { f, err := p.Reap(e.ctx); out <- res{f, err} }()
	}
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		r := <-out
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, f := range r.f {
			if f.Campaign == c1 || f.Campaign == c2 {
				seen[f.Agent]++
			}
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("agent %s freed %d times", id, seen[id])
		}
	}
}

// A restarted node evicts its agents at once with its reason; others'
// agents stay.
func TestEvict(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	a, b, other := e.agent(c), e.agent(c), e.agent(c)
	e.must(e.p.Login(e.ctx, a, c, "n1", true))
	e.must(e.p.Login(e.ctx, b, c, "n1", false))
	e.must(e.p.Login(e.ctx, other, c, "n2", true))
	r, _, _ := e.p.Reserve(e.ctx, c, "n1", "k1")
	f, err := e.p.Evict(e.ctx, "n1", "node_restarted")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range f {
		if x.Campaign == c {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("evicted %+v", f)
	}
	if st := e.status(a); st.State != LoggedOut || st.Reason != "" {
		// A logged-out Status carries no campaign; the reason is on the stream.
		t.Fatalf("evicted agent %+v", st)
	}
	if st := e.status(other); st.State != Ready {
		t.Fatalf("n2's agent %+v", st)
	}
	evs := e.events(c)
	ev := evs[len(evs)-1]
	if ev.Kind != "evict" || ev.Reason != "node_restarted" {
		t.Fatalf("last event %+v", ev)
	}
	// The evicted reservation is gone: its call ops are refused.
	if _, err := e.p.Connect(e.ctx, r); !errors.Is(err, ErrTransition) {
		t.Fatalf("connect after evict: %v", err)
	}
	if f, _ := e.p.Evict(e.ctx, "n1", "node_restarted"); len(f) != 0 {
		t.Fatalf("second evict freed %v", f)
	}
}
