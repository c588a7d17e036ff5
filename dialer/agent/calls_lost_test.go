package agent

import (
	"context"
	"testing"
	"time"
)

// A node dies with calls up: once its agents' lease has expired, another
// node's station reaps the agents and ends the dead node's live calls
// (state ended, reason node_lost); its ended calls and other nodes' calls
// are left alone, and a second pass ends nobody twice. A node that starts
// again ends the calls its last run left (node_restarted).
func TestCallsOfALostNodeEnd(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	dead, alive := "dead-"+rnd(), "alive-"+rnd()
	talker := e.agent(c)
	e.must(e.p.Login(e.ctx, talker, c, dead, true))
	r, ok, err := e.p.Reserve(e.ctx, c, dead, "k-"+rnd())
	if !ok || err != nil {
		t.Fatal(r, ok, err)
	}
	e.must(e.p.Connect(e.ctx, r))
	calls := func(node string) *Calls {
		cs, err := NewCalls(CallsOptions{Client: e.rdb, Node: node, Logger: quietLog(),
			Handle: func(context.Context, Command) (any, error) { return nil, nil }})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	deadCalls, aliveCalls := calls(dead), calls(alive)
	talking, waiting, ended, theirs := "call-"+rnd(), "call-"+rnd(), "call-"+rnd(), "call-"+rnd()
	for _, x := range []struct {
		cs    *Calls
		id    string
		state string
	}{{deadCalls, talking, CallTalking}, {deadCalls, waiting, CallWaiting}, {deadCalls, ended, CallEnded}, {aliveCalls, theirs, CallTalking}} {
		if err := x.cs.Put(e.ctx, CallInfo{ID: x.id, Campaign: c, Account: "a", Agent: talker, State: x.state, Since: time.Now()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.rdb.Del(context.Background(), callKey(x.id)) })
	}
	t.Cleanup(func() { e.rdb.Del(context.Background(), heldKey(dead), heldKey(alive)) })
	var lost []string
	s := &Station{opt: StationOptions{OnNodeLost: func(ctx context.Context, node string) {
		lost = append(lost, node)
		if _, err := aliveCalls.EndNode(ctx, node, ReasonNodeLost); err != nil {
			t.Error(err)
		}
	}}, pool: e.p, node: alive, log: quietLog(), legs: map[string]*held{}}
	// What the station's tick does after its renewal, on this campaign only:
	// the test clock is years ahead, and a reap of every campaign would
	// log out the agents of everything else sharing the dev Redis.
	reap := func() {
		freed, err := e.p.ReapCampaign(e.ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		s.nodesLost(e.ctx, freed)
	}
	reap()
	if len(lost) != 0 {
		t.Fatalf("lost %v before the lease expired", lost)
	}
	e.clk.Add(31 * time.Second) // the dead node's lease runs out
	reap()
	if len(lost) != 1 || lost[0] != dead {
		t.Fatalf("lost nodes %v, want [%s]", lost, dead)
	}
	for id, want := range map[string]string{talking: ReasonNodeLost, waiting: ReasonNodeLost, ended: ""} {
		info, err := aliveCalls.Get(e.ctx, id)
		if err != nil || info.State != CallEnded || info.Reason != want || info.Node != dead {
			t.Fatalf("%s: %+v %v", id, info, err)
		}
	}
	if info, _ := aliveCalls.Get(e.ctx, theirs); info.State != CallTalking {
		t.Fatalf("a live node's call: %+v", info)
	}
	if ids, err := aliveCalls.EndNode(e.ctx, dead, ReasonNodeLost); err != nil || len(ids) != 0 {
		t.Fatalf("a second pass ended %v %v", ids, err)
	}
	// The live node restarts: its own last run's calls end.
	if ids, err := calls(alive).EndNode(e.ctx, alive, ReasonNodeRestarted); err != nil || len(ids) != 1 || ids[0] != theirs {
		t.Fatalf("restart ended %v %v", ids, err)
	}
	if info, _ := aliveCalls.Get(e.ctx, theirs); info.State != CallEnded || info.Reason != ReasonNodeRestarted {
		t.Fatalf("after the restart: %+v", info)
	}
}
