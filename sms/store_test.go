package sms

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/marcador/marcador/queue/redistest"
)

func TestRateWaitSpacesMessages(t *testing.T) {
	st := NewStore(StoreOptions{Client: redistest.Client(t)})
	ctx := context.Background()
	sender := fmt.Sprintf("+1500555%04d", time.Now().UnixNano()%10000)
	// Each call reserves a slot 100 ms after the last (or now, if that is
	// past) and says how long until it: the slot is when the call ran plus
	// its wait, and the call ran between before and after it was made. So
	// however slow the calls, consecutive slots are 100 ms apart within
	// what the calls took, with no window a loaded machine can miss.
	const gap = 100 * time.Millisecond
	var prevEarliest, prevLatest time.Time
	for i := range 5 {
		before := time.Now()
		w, err := st.RateWait(ctx, sender, 10)
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if w < 0 || w > time.Duration(i)*gap+time.Millisecond {
			t.Fatalf("slot %d: wait %v, want 0-%v", i, w, time.Duration(i)*gap)
		}
		earliest, latest := before.Add(w), after.Add(w)
		if i > 0 {
			// At least gap after the last slot (the redis clock has microseconds;
			// allow 1 ms for it against ours), exactly gap while the queue holds.
			if latest.Sub(prevEarliest) < gap-time.Millisecond || w > 0 && earliest.Sub(prevLatest) > gap+time.Millisecond {
				t.Fatalf("slot %d: wait %v, %v-%v after the last slot, want %v", i, w, earliest.Sub(prevLatest), latest.Sub(prevEarliest), gap)
			}
		}
		prevEarliest, prevLatest = earliest, latest
	}
}

// Texts wait in marcador:sms:outbox unless a store is given its own key;
// stores with different keys never see each other's items.
func TestOutboxKey(t *testing.T) {
	rdb := redistest.Client(t)
	ctx := context.Background()
	item := []byte(fmt.Sprintf(`{"key":"outbox-key-test-%d"}`, time.Now().UnixNano()))
	never := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC) // nobody's sender claims it meanwhile
	shared := NewStore(StoreOptions{Client: rdb})
	if err := shared.OutboxAdd(ctx, item, never); err != nil {
		t.Fatal(err)
	}
	defer shared.OutboxDone(ctx, item)
	if err := rdb.ZScore(ctx, "marcador:sms:outbox", string(item)).Err(); err != nil {
		t.Fatalf("not in marcador:sms:outbox: %v", err)
	}
	own := NewStore(StoreOptions{Client: rdb, OutboxKey: redistest.Key(t, rdb, "marcador:sms:outbox")})
	if got, _ := own.OutboxClaim(ctx, never, 1000, time.Minute); len(got) != 0 {
		t.Fatalf("a store with its own outbox claimed %d items of the shared one", len(got))
	}
}

func TestOutboxLeaseAndSendRecord(t *testing.T) {
	rdb := redistest.Client(t)
	st := NewStore(StoreOptions{Client: rdb, OutboxKey: redistest.Key(t, rdb, "marcador:sms:outbox")})
	ctx := context.Background()
	now := time.Now()
	item := []byte(fmt.Sprintf(`{"key":"outbox-test-%d"}`, now.UnixNano()))
	defer st.OutboxDone(ctx, item)
	if err := st.OutboxAdd(ctx, item, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	has := func(items [][]byte) bool {
		for _, it := range items {
			if string(it) == string(item) {
				return true
			}
		}
		return false
	}
	if got, _ := st.OutboxClaim(ctx, now, 100, time.Minute); len(got) != 0 {
		t.Fatal("claimed before it was due")
	}
	later := now.Add(2 * time.Hour)
	if got, _ := st.OutboxClaim(ctx, later, 1000, time.Minute); len(got) != 1 || !has(got) {
		t.Fatalf("claimed %q when due", got)
	}
	if got, _ := st.OutboxClaim(ctx, later.Add(30*time.Second), 1000, time.Minute); len(got) != 0 {
		t.Fatal("claimed twice within the lease")
	}
	if got, _ := st.OutboxClaim(ctx, later.Add(2*time.Minute), 1000, time.Minute); len(got) != 1 || !has(got) {
		t.Fatalf("claimed %q after the lease ran out", got)
	}

	key := string(item)
	defer st.ReleaseSend(ctx, key)
	if _, claimed, _ := st.ClaimSend(ctx, key, time.Minute); !claimed {
		t.Fatal("first claim refused")
	}
	if rec, claimed, _ := st.ClaimSend(ctx, key, time.Minute); claimed || rec.State != "claimed" {
		t.Fatalf("second claim: %v %+v", claimed, rec)
	}
	sid := fmt.Sprintf("SMtest%d", now.UnixNano())
	// Two statuses arrive before the send is saved: they are parked on the
	// SID and handed back, in order, by SaveSend.
	for _, e := range []EarlyStatus{{"sent", 0}, {"undelivered", 30003}} {
		if _, known, _, err := st.AdvanceStatus(ctx, sid, e, StatusRank(e.Status)); err != nil || known {
			t.Fatalf("early %v: known %v %v", e, known, err)
		}
	}
	early, err := st.SaveSend(ctx, key, SendRecord{State: "sent", SID: sid, Attempt: []byte{1, 2}, Rank: 1, Ver: 1}, time.Minute)
	if err != nil || !slices.Equal(early, []EarlyStatus{{"sent", 0}, {"undelivered", 30003}}) {
		t.Fatalf("saved: early %v %v", early, err)
	}
	for _, c := range []struct {
		rank    int
		changed bool
		ver     uint64
	}{{4, true, 2}, {3, false, 0}, {4, false, 0}, {5, true, 3}} {
		rec, known, changed, err := st.AdvanceStatus(ctx, sid, EarlyStatus{Status: "x"}, c.rank)
		if err != nil || !known || changed != c.changed || (changed && rec.Ver != c.ver) {
			t.Fatalf("rank %d: known %v changed %v ver %d %v", c.rank, known, changed, rec.Ver, err)
		}
	}
	if _, known, _, _ := st.AdvanceStatus(ctx, "SMnope"+sid, EarlyStatus{Status: "sent"}, 4); known {
		t.Fatal("unknown sid known")
	}
}

// ForgetTemplatesOf drops the template marks of the debtors named, in one
// pass, and leaves the others'.
func TestForgetTemplatesOf(t *testing.T) {
	rdb := redistest.Client(t)
	st := NewStore(StoreOptions{Client: rdb})
	ctx := context.Background()
	id := fmt.Sprint(time.Now().UnixNano())
	a, b, other := "fa-"+id, "fb-"+id, "fo-"+id
	for _, d := range []string{a, b, other} {
		for _, tpl := range []string{"payment-link", "missed-call"} {
			if err := rdb.Set(ctx, templateKey(d, tpl), "1", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rdb.Del(context.Background(), templateKey(d, tpl)) })
		}
	}
	if err := st.ForgetTemplatesOf(ctx, map[string]bool{a: true, b: true}); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]int64{a: 0, b: 0, other: 2} {
		n, err := rdb.Exists(ctx, templateKey(d, "payment-link"), templateKey(d, "missed-call")).Result()
		if err != nil || n != want {
			t.Errorf("%s: %d marks left, want %d (%v)", d, n, want, err)
		}
	}
}
