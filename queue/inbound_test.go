package queue_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// Failed identifications are counted per calling number and per source in
// Redis, so the limits hold across calls (and nodes), and forgotten once
// they are older than the window.
func TestIdentityLimitsAcrossCalls(t *testing.T) {
	rdb := redistest.Client(t)
	s := queue.New(queue.Options{Client: rdb, NodeID: "n1"})
	ctx := context.Background()
	run := time.Now().UnixNano()
	num1, num2, src := fmt.Sprintf("+5255%08d", run%1e8), fmt.Sprintf("+5281%08d", run%1e8), fmt.Sprintf("test-src-%d", run)
	lim := queue.IdentityLimits{PerNumber: 2, PerSource: 3, Window: time.Hour}
	now := time.Now()
	locked := func(num, src string, at time.Time) string {
		t.Helper()
		by, err := s.IdentityLocked(ctx, num, src, lim, at)
		if err != nil {
			t.Fatal(err)
		}
		return by
	}
	fail := func(num string, at time.Time) {
		t.Helper()
		if err := s.IdentityFailed(ctx, num, src, fmt.Sprint("f", at.UnixNano()), lim, at); err != nil {
			t.Fatal(err)
		}
	}
	if by := locked(num1, src, now); by != "" {
		t.Fatalf("fresh number locked by %s", by)
	}
	fail(num1, now)
	fail(num1, now.Add(time.Second))
	if by := locked(num1, src, now.Add(2*time.Second)); by != "number" {
		t.Fatalf("two failures: locked by %q, want number", by)
	}
	if by := locked(num2, src, now.Add(2*time.Second)); by != "" {
		t.Fatalf("another number, source at 2 of 3: locked by %q", by)
	}
	fail(num2, now.Add(3*time.Second))
	if by := locked(num2, src, now.Add(4*time.Second)); by != "source" {
		t.Fatalf("third failure from the source: locked by %q, want source", by)
	}
	if by := locked(num2, "another-source", now.Add(4*time.Second)); by != "" {
		t.Fatalf("one failure of num2 from another source: locked by %q", by)
	}
	// An hour after the first failure it no longer counts.
	if by := locked(num1, "another-source", now.Add(time.Hour+500*time.Millisecond)); by != "" {
		t.Fatalf("after the window: locked by %q", by)
	}
	// No limit at all.
	if by, _ := s.IdentityLocked(ctx, num1, src, queue.IdentityLimits{PerNumber: -1, PerSource: -1}, now.Add(5*time.Second)); by != "" {
		t.Fatalf("no limits: locked by %q", by)
	}
	// The keys expire a window after the last failure.
	ttl, err := rdb.PTTL(ctx, "marcador:idfail:{number:"+num1+"}").Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("ttl %s %v", ttl, err)
	}
}

// A call back brings a queued account forward, and never reopens one that
// is done or touches one being dialled.
func TestCallBackOnlyMovesQueuedAccountsForward(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	s := queue.New(queue.Options{Client: rdb, NodeID: "n1"})
	ctx := context.Background()
	accts := []queue.Account{{ID: "Q", Phones: []queue.Phone{{Number: "+525512345678"}}}, {ID: "D", Phones: []queue.Phone{{Number: "+525512345679"}}},
		{ID: "L", Phones: []queue.Phone{{Number: "+525512345670"}}}}
	later := t0.Add(24 * time.Hour)
	if _, err := s.Load(ctx, c, accts[2:], t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, c, 1, t0); err != nil { // L is being dialled
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, c, accts[:2], later); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(ctx, c, "D", t0, "promise"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"Q": true, "D": false, "L": false, "nobody": false} {
		queued, err := s.CallBack(ctx, c, id, t0.Add(time.Minute), "call back asked")
		if err != nil || queued != want {
			t.Errorf("%s: queued %v %v, want %v", id, queued, err, want)
		}
	}
	if at, ok, _ := s.DueAt(ctx, c, "Q"); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Q due at %s %v", at, ok)
	}
	if _, ok, _ := s.DueAt(ctx, c, "D"); ok {
		t.Fatal("a finished account was reopened")
	}
	// Never later than it already was.
	if _, err := s.CallBack(ctx, c, "Q", later, "again"); err != nil {
		t.Fatal(err)
	}
	if at, _, _ := s.DueAt(ctx, c, "Q"); !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Q pushed back to %s", at)
	}
}
