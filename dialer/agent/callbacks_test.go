package agent

import (
	"errors"
	"testing"
	"time"
)

// ReserveFor honours the account's personal call back pin in its one
// script call: the pinned agent when it is ready on the node (Pinned),
// else the longest-idle other; a lapsed or unreadable pin is dropped.
func TestReserveForPin(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	a, b, x := e.agent(c), e.agent(c), e.agent(c)
	e.must(e.p.Login(e.ctx, a, c, "n1", true)) // the longest idle
	e.clk.Add(time.Second)
	e.must(e.p.Login(e.ctx, b, c, "n1", true))
	e.must(e.p.Login(e.ctx, x, c, "n2", true)) // on another node
	pins := ck(c).callbacks()
	reserve := func(account, call string) Reservation {
		t.Helper()
		r, ok, err := e.p.ReserveFor(e.ctx, c, "n1", account, call)
		if !ok || err != nil {
			t.Fatalf("%s: nobody reserved: %v", call, err)
		}
		return r
	}
	release := func(r Reservation) {
		t.Helper()
		e.must(e.p.Release(e.ctx, r))
	}
	pin := func(account, agent string, until time.Time) {
		t.Helper()
		if err := e.p.PinCallback(e.ctx, c, account, agent, until); err != nil {
			t.Fatal(err)
		}
	}

	// No pin: the longest-idle agent.
	r := reserve("acct-0", "k0")
	if r.Agent != a || r.Pinned {
		t.Fatalf("no pin: %+v", r)
	}
	release(r)

	// Pinned to a ready agent: that one, ahead of the longest idle.
	pin("acct-1", b, e.clk.Now().Add(time.Hour))
	r = reserve("acct-1", "k1")
	if r.Agent != b || !r.Pinned || r.Call != "k1" || e.status(b).State != Reserved {
		t.Fatalf("pinned to a ready agent: %+v", r)
	}
	if got := e.idle(c, "n1"); len(got) != 1 || got[0] != a {
		t.Fatalf("idle after the pinned reserve %v", got)
	}
	if !e.rdb.HExists(e.ctx, pins, "acct-1").Val() {
		t.Fatal("the pin went at the reserve (it goes once bridged: Unpin)")
	}
	release(r)

	// Pinned to a paused agent: the longest-idle other, not pinned.
	e.must(e.p.Pause(e.ctx, b, "break"))
	if r = reserve("acct-1", "k2"); r.Agent != a || r.Pinned {
		t.Fatalf("pinned to a paused agent: %+v", r)
	}
	release(r)
	// ... and nobody when no other is ready.
	e.must(e.p.Pause(e.ctx, a, "break"))
	if r, ok, err := e.p.ReserveFor(e.ctx, c, "n1", "acct-1", "k3"); ok || err != nil {
		t.Fatalf("pinned to a paused agent, nobody else ready: %+v %v", r, err)
	}
	e.must(e.p.Ready(e.ctx, a))
	e.clk.Add(time.Second)
	e.must(e.p.Ready(e.ctx, b))

	// Pinned to an agent on another node: this node's longest idle.
	pin("acct-2", x, e.clk.Now().Add(time.Hour))
	if r = reserve("acct-2", "k4"); r.Agent != a || r.Pinned {
		t.Fatalf("pinned to another node's agent: %+v", r)
	}
	if e.status(x).State != Ready {
		t.Fatalf("another node's agent moved: %+v", e.status(x))
	}
	release(r)

	// A lapsed pin: dropped, any agent takes the call.
	pin("acct-3", b, e.clk.Now().Add(time.Minute))
	e.clk.Add(2 * time.Minute)
	if r = reserve("acct-3", "k5"); r.Pinned || r.Agent != a {
		t.Fatalf("lapsed pin: %+v", r)
	}
	if e.rdb.HExists(e.ctx, pins, "acct-3").Val() {
		t.Fatal("a lapsed pin was kept")
	}
	release(r)

	// An unreadable pin is dropped the same way.
	e.rdb.HSet(e.ctx, pins, "acct-4", "junk")
	if r := reserve("acct-4", "k6"); r.Pinned {
		t.Fatalf("unreadable pin: %+v", r)
	}
	if e.rdb.HExists(e.ctx, pins, "acct-4").Val() {
		t.Fatal("an unreadable pin was kept")
	}
}

// Unpin drops a pin: the account's next call goes to any agent.
func TestUnpin(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	a, b := e.agent(c), e.agent(c)
	e.must(e.p.Login(e.ctx, a, c, "n1", true))
	e.clk.Add(time.Second)
	e.must(e.p.Login(e.ctx, b, c, "n1", true))
	if err := e.p.PinCallback(e.ctx, c, "acct-1", b, e.clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Unpin(e.ctx, c, "acct-1"); err != nil {
		t.Fatal(err)
	}
	if r, ok, err := e.p.ReserveFor(e.ctx, c, "n1", "acct-1", "k1"); !ok || err != nil || r.Agent != a || r.Pinned {
		t.Fatalf("after Unpin: %+v %v %v", r, ok, err)
	}
	var fe *FieldError
	if err := e.p.PinCallback(e.ctx, c, "", b, e.clk.Now()); !errors.As(err, &fe) || fe.Field != "account" {
		t.Fatalf("empty account pinned: %v", err)
	}
}
