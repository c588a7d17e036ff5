package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/pacing"
)

// The pacer's view of one node and the campaign's counts over all nodes;
// the roster of the same agents.
func TestSnapshotAndRoster(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	T, W, P, A, R, X, L := e.agent(c), e.agent(c), e.agent(c), e.agent(c), e.agent(c), e.agent(c), e.agent(c)
	at := func(s int) { e.clk.Set(base.Add(time.Duration(s) * time.Second)) }
	reserve := func(node, call, want string) Reservation {
		t.Helper()
		r, ok, err := e.p.Reserve(e.ctx, c, node, call)
		if !ok || err != nil || (want != "" && r.Agent != want) {
			t.Fatalf("reserve: %+v %v %v, want %s", r, ok, err, want)
		}
		return r
	}
	at(0)
	e.must(e.p.Login(e.ctx, T, c, "n1", true))
	rt := reserve("n1", "k1", T)
	e.must(e.p.Login(e.ctx, W, c, "n1", true))
	rw := reserve("n1", "k2", W)
	e.must(e.p.Connect(e.ctx, rw))
	e.must(e.p.Login(e.ctx, R, c, "n2", true))
	e.must(e.p.Login(e.ctx, X, c, "n2", true))
	e.must(e.p.Login(e.ctx, L, c, "n1", true))
	e.must(e.p.Logout(e.ctx, L))
	at(10)
	e.must(e.p.Login(e.ctx, P, c, "n1", false))
	at(20)
	e.must(e.p.Connect(e.ctx, rt))
	e.must(e.p.Pause(e.ctx, T, "lunch"))
	at(30)
	e.must(e.p.Hangup(e.ctx, rw))
	at(40)
	e.must(e.p.Login(e.ctx, A, c, "n1", true))
	reserve("n2", "k3", "")
	at(50)

	dst := make([]pacing.Agent, 1, 8)
	s, err := e.p.Snapshot(e.ctx, c, "n1", dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Agents) != 4 || &s.Agents[0] != &dst[0] {
		t.Fatalf("agents %+v (len %d), want 4 in dst's array", s.Agents, len(s.Agents))
	}
	want := map[pacing.Agent]bool{
		{State: pacing.Talking, InState: 30 * time.Second, Leaving: true}: true,
		{State: pacing.Wrap, InState: 20 * time.Second}:                   true,
		{State: pacing.Paused, InState: 40 * time.Second}:                 true,
		{State: pacing.Ready, InState: 10 * time.Second}:                  true,
	}
	for _, a := range s.Agents {
		if !want[a] {
			t.Fatalf("unexpected agent %+v in %+v", a, s.Agents)
		}
		delete(want, a)
	}
	wc := Counts{LoggedIn: 6, Ready: 2, Reserved: 1, Talking: 1, WrapUp: 1, Paused: 1, Leaving: 1}
	if s.Counts != wc || !s.At.Equal(base.Add(50*time.Second)) {
		t.Fatalf("counts %+v at %s, want %+v", s.Counts, s.At, wc)
	}
	if n, err := e.p.Counts(e.ctx, c); err != nil || n != wc {
		t.Fatalf("Counts %+v %v", n, err)
	}
	if s, _ := e.p.Snapshot(e.ctx, c, "n3", nil); len(s.Agents) != 0 || s.Counts != wc {
		t.Fatalf("a node with no agents: %+v", s)
	}

	roster, err := e.p.Roster(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]AgentStatus{}
	for _, x := range roster {
		by[x.ID] = x
	}
	if x := by[T]; x.Status.State != Talking || x.Status.Campaign != c || x.Status.Node != "n1" || x.InState != 30*time.Second ||
		x.Today.Calls != 1 || x.Today.Talk != 30*time.Second || x.Status.Leaving != LeavePause || x.Status.LeaveReason != "lunch" {
		t.Fatalf("talking agent: %+v", x)
	}
	if x := by[W]; x.Status.State != WrapUp || x.Today.Calls != 1 || x.Today.Talk != 30*time.Second || x.Today.Wrap != 20*time.Second {
		t.Fatalf("agent in wrap-up: %+v", x)
	}
	if x := by[P]; x.Status.State != Paused || x.Status.Reason != ReasonLogin || x.Today.Paused != 40*time.Second {
		t.Fatalf("paused agent: %+v", x)
	}
	if x := by[L]; x.Status.State != LoggedOut || x.Status.Campaign != "" || x.InState != 0 {
		t.Fatalf("logged-out agent: %+v", x)
	}
	if x := by[A]; x.Name != A || x.SIPUser != "u-"+A || x.Status.State != Ready {
		t.Fatalf("ready agent: %+v", x)
	}
}

func TestFollow(t *testing.T) {
	e := newEnv(t)
	e.p = New(Options{Client: e.rdb, Now: e.clk.Now, Logger: quietLog(), FollowBlock: 100 * time.Millisecond})
	c := e.campaign()
	id := e.agent(c)
	last, err := e.p.LastEventID(e.ctx, c)
	if err != nil || last != "0-0" {
		t.Fatalf("empty stream: %q %v", last, err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	got := make(chan Event, 10)
	done := make(chan error, 1)
	go func() { done <- e.p.Follow(ctx, c, last, func(ev Event) error { got <- ev; return nil }) }()
	e.must(e.p.Login(e.ctx, id, c, "n1", false))
	e.must(e.p.Ready(e.ctx, id))
	e.must(e.p.Logout(e.ctx, id))
	for _, want := range []string{"login", "ready", "logout"} {
		select {
		case ev := <-got:
			if ev.Kind != want || ev.Agent != id {
				t.Fatalf("got %+v, want %s", ev, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Follow returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not return after cancel")
	}
	// "" follows from now on: the old events never come. Publish (pause
	// reason changes) until the follower has seen one.
	e.must(e.p.Login(e.ctx, id, c, "n1", false))
	before, _ := e.p.LastEventID(e.ctx, c)
	first := make(chan Event, 1)
	ctx2, cancel2 := context.WithCancel(e.ctx)
	defer cancel2()
	go e.p.Follow(ctx2, c, "", func(ev Event) error {
		select {
		case first <- ev:
		default:
		}
		return errors.New("seen")
	})
	deadline := time.After(20 * time.Second)
	for seen := false; !seen; {
		e.must(e.p.Pause(e.ctx, id, "break"))
		select {
		case ev := <-first:
			if ev.Kind != "pause" || !streamAfter(ev.ID, before) {
				t.Fatalf("following from now got %+v (last id before: %s)", ev, before)
			}
			seen = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("the follower saw nothing")
		}
	}
	// fn's error ends it; "0" reads from the oldest.
	stop := errors.New("stop")
	n := 0
	err = e.p.Follow(e.ctx, c, "0", func(Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Follow from 0: %v after %d", err, n)
	}
}
