package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/queue/redistest"
)

// An agent's screen gets its own events, live and after reconnecting with
// the last id it saw; another node publishes them.
func TestDeskDeliversAnAgentsEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hub := NewDesk(DeskOptions{Client: client(t), Block: 200 * time.Millisecond, Logger: quietLog()})
	other := NewDesk(DeskOptions{Client: client(t)}) // another node: publishes only
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { hub.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()
	a, b := "a-"+rnd(), "a-"+rnd()
	sctx, unsub := context.WithCancel(ctx)
	evs, err := hub.Subscribe(sctx, a, "")
	if err != nil {
		t.Fatal(err)
	}
	next := func(ch <-chan DeskEvent) DeskEvent {
		t.Helper()
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("subscription closed")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return DeskEvent{}
	}
	// The hub may start reading after the first publish: publish until it
	// arrives (each is a distinct call).
	var first DeskEvent
	for i := 0; first.ID == ""; i++ {
		other.Publish(ctx, b, DeskCall, "not-a's", nil)
		if _, err := other.Publish(ctx, a, DeskCall, "k1", map[string]string{"account": "acct-1"}); err != nil {
			t.Fatal(err)
		}
		select {
		case first = <-evs:
		case <-time.After(500 * time.Millisecond):
		}
	}
	if first.Agent != a || first.Kind != DeskCall || first.Call != "k1" || string(first.Data) != `{"account":"acct-1"}` {
		t.Fatalf("first %+v", first)
	}
	for len(evs) > 0 { // other copies of the retry
		<-evs
	}
	id2, _ := other.Publish(ctx, a, DeskCallEnded, "k1", nil)
	if ev := next(evs); ev.ID != id2 || ev.Kind != DeskCallEnded {
		t.Fatalf("second %+v, want %s", ev, id2)
	}
	unsub()
	// Gone meanwhile: two events; back with the last id seen, it gets both,
	// then the live ones, each once.
	id3, _ := other.Publish(ctx, a, DeskWrapEnded, "k1", map[string]string{"code": "refused"})
	other.Publish(ctx, b, DeskCall, "k9", nil)
	id4, _ := other.Publish(ctx, a, DeskCall, "k2", nil)
	evs, err = hub.Subscribe(ctx, a, id2)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(evs); ev.ID != id3 {
		t.Fatalf("resumed with %+v, want %s", ev, id3)
	}
	if ev := next(evs); ev.ID != id4 {
		t.Fatalf("then %+v, want %s", ev, id4)
	}
	id5, _ := other.Publish(ctx, a, DeskCallEnded, "k2", nil)
	if ev := next(evs); ev.ID != id5 {
		t.Fatalf("live after resume %+v, want %s", ev, id5)
	}
	if _, err := hub.Subscribe(ctx, a, "junk"); err == nil {
		t.Fatal("a junk Last-Event-ID was taken")
	}
}

// Last-Event-ID comes from a client: only a stream id passes, and the
// order of ids is Redis's.
func FuzzStreamID(f *testing.F) {
	for _, s := range []string{"1-0", "1700000000000-5", "0-0", "-", "1-", "a-b", "18446744073709551616-0", "1-2-3", ""} {
		f.Add(s, "1700000000000-1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !validStreamID(a) || !validStreamID(b) {
			return
		}
		if streamAfter(a, b) && streamAfter(b, a) {
			t.Fatalf("%q and %q both after the other", a, b)
		}
		if streamAfter(a, a) {
			t.Fatalf("%q after itself", a)
		}
	})
}

// Events published between two of the hub's reads are not lost: once a
// hub reads (its 1 ms blocking reads time out all the time), every event
// of a burst reaches the screen, in order, the first included. Following
// "$" anew on each read, as the hub did until its first event, lost an
// event added while no read was waiting: about one hub in five lost the
// first of its burst, so twenty hubs are started one after the other.
func TestDeskMissesNothingBetweenReads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	other := NewDesk(DeskOptions{Client: client(t)})
	for range 20 {
		deskBurst(ctx, t, other)
	}
}

// deskBurst starts a hub, waits until it reads, publishes a burst through
// other and checks the hub's screen gets all of it.
func deskBurst(ctx context.Context, t *testing.T, other *Desk) {
	t.Helper()
	name := "desk-" + rnd()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{redistest.Addr()}, DB: 1, ClientName: name}) // agentRedis's database
	defer rdb.Close()
	hub := NewDesk(DeskOptions{Client: rdb, Block: time.Millisecond, Buffer: 64, Logger: quietLog()})
	a := "a-" + rnd()
	sctx, unsub := context.WithCancel(ctx)
	defer unsub()
	evs, err := hub.Subscribe(sctx, a, "")
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { hub.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()
	// The hub is reading once its connection's last command is an XREAD.
	polltest.Eventually(t, 10*time.Second, func() bool {
		list, _ := other.rdb.ClientList(ctx).Result()
		for _, l := range strings.Split(list, "\n") {
			if strings.Contains(l, " name="+name+" ") && strings.Contains(l, " cmd=xread") {
				return true
			}
		}
		return false
	}, "the hub's first read")
	ids := make([]string, 5)
	for i := range ids {
		if ids[i], err = other.Publish(ctx, a, DeskCallEnded, fmt.Sprintf("c%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		select {
		case ev := <-evs:
			if ev.ID != id {
				t.Fatalf("event %d is %q (%s), want %s: the ones before it were lost", i, ev.ID, ev.Call, id)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d events arrived", i, len(ids))
		}
	}
}
