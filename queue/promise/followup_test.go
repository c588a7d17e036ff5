package promise

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// A promise not paid by its date plus grace days is broken: a broken row
// (keeping its attempt) and the account back at the front of its queue; a
// promise due tomorrow gets one reminder.
func TestFollowUpBreaksUnpaidPromises(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	acct := fmt.Sprint("FU-", time.Now().UnixNano())
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id, Country: "MX", Currency: "MXN", TimeZone: "America/Mexico_City"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Load(ctx, id, []queue.Account{{ID: acct, Country: "MX", Phones: []queue.Phone{{Number: "+525512349990"}},
		Balance: decimal.NewFromInt(900), Currency: "MXN"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Finish(ctx, id, acct, time.Now(), "promise"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 20, 12, 0, 0, 0, time.UTC)
	r := h.newLedger(t, with{now: func() time.Time { return now }})
	for i, due := range []time.Time{time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 21, 0, 0, 0, 0, time.UTC)} {
		if _, err := r.Capture(ctx, Record{ID: fmt.Sprintf("%s-p%d", acct, i), Campaign: id, Account: acct,
			Attempt: fmt.Sprint("att-", i), Channel: analytics.PromiseIVR, Amount: decimal.NewFromInt(300), Currency: "MXN", Due: due, Grace: 2,
			Created: due.AddDate(0, 0, -5)}); err != nil {
			t.Fatal(err)
		}
	}
	var rem reminders
	reminded, broken, err := r.FollowUp(ctx, &rem)
	if err != nil || reminded != 1 || broken != 1 {
		t.Fatalf("follow-up: reminded %d broken %d %v", reminded, broken, err)
	}
	if reminded, broken, _ := r.FollowUp(ctx, &rem); reminded != 0 || broken != 0 {
		t.Fatalf("second follow-up repeated work: %d %d", reminded, broken)
	}
	if len(rem.got) != 1 || rem.got[0] != acct+"-p1 "+id+" "+acct {
		t.Errorf("reminders sent %q, want the one for %s-p1 with its campaign and account", rem.got, acct)
	}
	if n, _ := h.store.Counts(ctx, id, time.Now()); n.DueNow != 1 || n.Done != 0 {
		t.Errorf("broken promise's account not requeued: %+v", n)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var status, attempt string
	if err := h.conn.QueryRow(ctx, "SELECT status, attempt_id FROM "+h.db+".promises FINAL WHERE promise_id = ?", acct+"-p0").
		Scan(&status, &attempt); err != nil || status != "broken" || attempt != "att-0" {
		t.Errorf("broken row: %q %q %v", status, attempt, err)
	}
}

// reminders records the reminders a follow-up sends.
type reminders struct {
	mu  sync.Mutex
	got []string // promise campaign account
	err error    // what Remind answers
}

func (r *reminders) Remind(_ context.Context, p Record, c queue.Campaign, a queue.Account) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, p.ID+" "+c.ID+" "+a.ID)
	return r.err
}

// A reminder whose mark could not be saved is not sent that sweep and is
// logged; the next sweep sends it, once (the failed mark used to be
// dropped and the reminder sent anyway).
func TestFollowUpRetriesAReminderItCouldNotMark(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	rdb, f := faultyClient(t)
	var log logs
	now := time.Date(2026, 12, 19, 12, 0, 0, 0, time.UTC)
	l := h.newLedger(t, with{redis: rdb, log: &log, now: func() time.Time { return now }})
	c, acct := h.campaignWith(t, "MARK")
	id := acct + "-p"
	if _, err := l.Capture(ctx, Record{ID: id, Campaign: c, Account: acct, Amount: decimal.NewFromInt(100), Currency: "MXN",
		Due: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	var rem reminders
	f.failOn(failing("hset", l.keys.all))
	if n, _, err := l.FollowUp(ctx, &rem); err != nil || n != 0 || len(rem.got) != 0 {
		t.Fatalf("follow-up with the mark failing: reminded %d %q %v", n, rem.got, err)
	}
	if log.line("promise="+id, "not reminded yet") == "" {
		t.Errorf("unsaved mark not logged with the promise:\n%s", log.String())
	}
	f.failOn(nil)
	for range 2 {
		if _, _, err := l.FollowUp(ctx, &rem); err != nil {
			t.Fatal(err)
		}
	}
	if len(rem.got) != 1 {
		t.Errorf("reminders %q, want one", rem.got)
	}
}

// A promise whose broken row the writer refuses stays open (it used to be
// taken off first, so it was never broken), the error and an ERROR line
// name it, and the next follow-up breaks it: the row is read back.
func TestFollowUpKeepsAPromiseWhoseBrokenRowIsRefused(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var log logs
	w := &refusing{w: h.w}
	now := time.Date(2026, 12, 30, 12, 0, 0, 0, time.UTC)
	l := h.newLedger(t, with{writer: w, log: &log, now: func() time.Time { return now }})
	c, acct := h.campaignWith(t, "BRK")
	id := acct + "-p"
	if _, err := l.Capture(ctx, Record{ID: id, Campaign: c, Account: acct, Amount: decimal.NewFromInt(100), Currency: "MXN",
		Due: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), Grace: 2}); err != nil {
		t.Fatal(err)
	}
	w.set(true)
	if _, broken, err := l.FollowUp(ctx, nil); broken != 0 || err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("follow-up with the row refused: broken %d %v", broken, err)
	}
	if log.line("level=ERROR", "promise="+id, "not recorded") == "" {
		t.Errorf("refused broken row not logged with the promise:\n%s", log.String())
	}
	w.set(false)
	if _, broken, err := l.FollowUp(ctx, nil); broken != 1 || err != nil {
		t.Fatalf("next follow-up: broken %d %v", broken, err)
	}
	if p, err := l.get(ctx, id); err != nil || p.Status != Broken {
		t.Errorf("broken promise's record: %+v %v", p, err)
	}
	if err := h.rdb.ZScore(ctx, l.keys.due, id).Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("broken promise still due: %v", err)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := h.conn.QueryRow(ctx, "SELECT status FROM "+h.db+".promises FINAL WHERE promise_id = ?", id).Scan(&status); err != nil || status != Broken {
		t.Errorf("row: %q %v", status, err)
	}
}

// A due record that does not decode is logged with its id and taken off
// the due set; the follow-up goes on.
func TestFollowUpDropsACorruptRecord(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	var log logs
	now := time.Date(2026, 12, 30, 12, 0, 0, 0, time.UTC)
	l := h.newLedger(t, with{log: &log, now: func() time.Time { return now }})
	bad := fmt.Sprint("CORRUPT-", time.Now().UnixNano())
	h.rdb.HSet(ctx, l.keys.all, bad, "{not json")
	h.rdb.ZAdd(ctx, l.keys.due, redis.Z{Score: float64(ms(now.Add(-time.Hour))), Member: bad})
	if _, broken, err := l.FollowUp(ctx, nil); err != nil || broken != 0 {
		t.Fatalf("follow-up: broken %d %v", broken, err)
	}
	if log.line("level=ERROR", "promise="+bad, "does not decode") == "" {
		t.Errorf("corrupt record not logged with its id:\n%s", log.String())
	}
	if err := h.rdb.ZScore(ctx, l.keys.due, bad).Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("corrupt record still due: %v", err)
	}
}
