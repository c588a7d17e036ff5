package agent

import (
	"context"
	"testing"
	"time"
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
