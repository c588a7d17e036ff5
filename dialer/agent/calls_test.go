package agent

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A call held by one node is found and acted on from another, through Redis:
// the holder answers, refuses with a typed error, or is gone.
func TestCallsAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var handled atomic.Int32
	holder := func(node string) *Calls {
		c, err := NewCalls(CallsOptions{Client: client(t), Node: node, Timeout: 5 * time.Second, Logger: quietLog(),
			Handle: func(ctx context.Context, cmd Command) (any, error) {
				handled.Add(1)
				switch cmd.Op {
				case "disposition":
					var in struct{ Code string }
					json.Unmarshal(cmd.Body, &in)
					if in.Code == "nope" {
						return nil, &CallError{Kind: CallInvalid, Field: "code", Reason: "unknown", Message: "code nope"}
					}
					return map[string]string{"code": in.Code, "by": node}, nil
				case "boom":
					return nil, errors.New("disk on fire")
				}
				return nil, &CallError{Kind: CallConflict, Message: "no"}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	na, nb := "n-"+rnd(), "n-"+rnd()
	a, b := holder(na), holder(nb)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	for _, c := range []*Calls{a, b} {
		go func() { c.Run(rctx); done <- struct{}{} }()
	}
	defer func() { stop(); <-done; <-done }()
	<-a.Ready()
	<-b.Ready()
	id := "call-" + rnd()
	t.Cleanup(func() { client(t).Del(context.Background(), callKey(id)) })
	if _, err := b.Get(ctx, id); !errors.Is(err, ErrCallNotFound) {
		t.Fatalf("unknown call: %v", err)
	}
	if err := a.Put(ctx, CallInfo{ID: id, Campaign: "c1", Account: "acct", Agent: "ag", State: CallTalking, Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	info, err := b.Get(ctx, id)
	if err != nil || info.Node != na || info.State != CallTalking || info.Agent != "ag" {
		t.Fatalf("from b: %+v %v", info, err)
	}
	// From the other node, through Redis.
	out, err := b.Do(ctx, id, "disposition", map[string]string{"code": "refused"})
	if err != nil || string(out) != `{"by":"`+na+`","code":"refused"}` {
		t.Fatalf("remote: %s %v", out, err)
	}
	var ce *CallError
	if _, err := b.Do(ctx, id, "disposition", map[string]string{"code": "nope"}); !errors.As(err, &ce) || ce.Kind != CallInvalid || ce.Field != "code" {
		t.Fatalf("remote refusal: %v", err)
	}
	if _, err := b.Do(ctx, id, "boom", nil); !errors.As(err, &ce) || ce.Kind != CallFailed {
		t.Fatalf("remote failure: %v", err)
	}
	// On the holder itself, without Redis.
	before := handled.Load()
	if out, err := a.Do(ctx, id, "disposition", map[string]string{"code": "paid"}); err != nil || string(out) != `{"by":"`+na+`","code":"paid"}` {
		t.Fatalf("local: %s %v", out, err)
	}
	if handled.Load() != before+1 {
		t.Fatal("local action not handled once")
	}
	// A holder that is gone: the action fails at once.
	gone := "call-" + rnd()
	t.Cleanup(func() { client(t).Del(context.Background(), callKey(gone)) })
	c, _ := NewCalls(CallsOptions{Client: client(t), Node: "n-gone-" + rnd(), Handle: func(context.Context, Command) (any, error) { return nil, nil }})
	if err := c.Put(ctx, CallInfo{ID: gone, State: CallTalking}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := b.Do(ctx, gone, "hangup", nil); !errors.As(err, &ce) || ce.Kind != CallGone || time.Since(start) > 3*time.Second {
		t.Fatalf("gone holder: %v after %s", err, time.Since(start))
	}
	// An ended call stays findable, briefly.
	if err := a.Put(ctx, CallInfo{ID: id, State: CallEnded}); err != nil {
		t.Fatal(err)
	}
	if ttl := client(t).TTL(ctx, callKey(id)).Val(); ttl > time.Hour || ttl < 50*time.Minute {
		t.Fatalf("ended call kept %s", ttl)
	}
}
