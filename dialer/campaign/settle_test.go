package campaign

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// settleCase is one claimed account of a settle test, with a runner that
// logs to logs. No call is placed: every case ends before the dial.
type settleCase struct {
	h     *harness
	r     *Runner
	logs  *logBuf
	c     queue.Campaign
	trunk *dialer.Trunk
	acct  queue.Account
}

func newSettleCase(t *testing.T, name string) *settleCase {
	t.Helper()
	ctx := context.Background()
	s := &settleCase{h: newHarness(t), logs: &logBuf{}}
	var err error
	s.trunk, err = dialer.NewTrunk(dialer.TrunkConfig{Name: "none", URI: "sip:127.0.0.1:9", CallerID: "+525550000100"})
	if err != nil {
		t.Fatal(err)
	}
	s.c, err = s.h.store.PutCampaign(ctx, queue.Campaign{ID: redistest.CampaignID(t, s.h.rdb), Mode: queue.ModeIVR, Country: "MX",
		TimeZone: "America/Mexico_City", Profile: "MX", Trunk: "none", Script: "reminder-overdue"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano() % 1e6
	s.acct = queue.Account{ID: name, NationalID: fmt.Sprint("settle", run), Country: "MX",
		Phones: []queue.Phone{{Number: fmt.Sprintf("+52558%06d1", run)}}, Balance: decimal.NewFromInt(500), Currency: "MXN"}
	s.h.fresh(ctx, []queue.Account{s.acct})
	if _, err := s.h.store.Load(ctx, s.c.ID, []queue.Account{s.acct}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	scripts, _ := script.Shipped()
	s.r = New(Options{Store: s.h.store, Gate: s.h.gate, Trunks: map[string]*dialer.Trunk{"none": s.trunk}, Writer: s.h.w,
		Scripts: scripts, Library: prompts.NewLibrary(""), Node: "settle",
		Logger: slog.New(slog.NewTextHandler(s.logs, nil))})
	t.Cleanup(s.r.Close)
	return s
}

// claim leases the account.
func (s *settleCase) claim(t *testing.T, at time.Time) queue.Lease {
	t.Helper()
	ls, err := s.h.store.Claim(context.Background(), s.c.ID, 1, at)
	if err != nil || len(ls) != 1 {
		t.Fatalf("claim: %v %v", ls, err)
	}
	return ls[0]
}

// dispositions reads the account's attempt rows back from ClickHouse.
func (s *settleCase) dispositions(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	if err := s.h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := s.h.conn.Query(ctx, "SELECT disposition FROM "+s.h.db+".contact_attempts FINAL WHERE campaign_id = ? ORDER BY disposition", s.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	return got
}

// A worker whose lease ran out (another claim took the account) still
// records its attempt, and says in one WARN line, naming the campaign and
// the account, that it could not save the outcome; the new holder's lease
// is left alone. Both ways a lease ends: rescheduled (an interrupted call
// found after a node died) and completed (every phone on the do-not-contact
// list).
func TestLostLeaseIsRecordedAndLogged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, disposition, outcome string
		setup                      func(context.Context, *settleCase) error
	}{
		{"reschedule", analytics.Interrupted, "due", func(ctx context.Context, s *settleCase) error {
			return s.h.store.InFlight(ctx, s.c.ID, s.acct.ID, "att-died", time.Now().Add(-5*time.Minute))
		}},
		{"complete", analytics.Blocked, "done", func(ctx context.Context, s *settleCase) error {
			return s.h.gate.AddDNC(ctx, compliance.DNCEntry{Phone: s.acct.Phones[0].Number, Channel: "voice", Reason: "settle test"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newSettleCase(t, "LOST-"+tc.name)
			if err := tc.setup(ctx, s); err != nil {
				t.Fatal(err)
			}
			mine := s.claim(t, time.Now())
			// The lease runs out unextended and another claim takes the account.
			theirs := s.claim(t, mine.Expires.Add(time.Second))
			if theirs.Token == mine.Token {
				t.Fatalf("the second claim got the same token %s", mine.Token)
			}
			if err := s.r.work(ctx, s.c, s.trunk, mine, nil); err != nil {
				t.Fatalf("work on a lost lease: %v (the attempt is recorded; only the outcome could not be saved)", err)
			}
			var warn string
			for _, l := range strings.Split(s.logs.String(), "\n") {
				if strings.Contains(l, "level=WARN") && strings.Contains(l, "lease lost") {
					warn = l
				}
			}
			for _, want := range []string{"campaign=" + s.c.ID, "account=" + s.acct.ID, "disposition=" + tc.disposition, "outcome=" + tc.outcome} {
				if !strings.Contains(warn, want) {
					t.Errorf("the lost-lease WARN line %q lacks %s; log:\n%s", warn, want, s.logs.String())
				}
			}
			if got := s.dispositions(t); fmt.Sprint(got) != fmt.Sprint([]string{tc.disposition}) {
				t.Errorf("attempt rows %v, want one %s", got, tc.disposition)
			}
			if d, _ := s.h.store.Dispositions(ctx, s.c.ID); d[tc.disposition] != 1 {
				t.Errorf("disposition counts %v, want one %s", d, tc.disposition)
			}
			if n, _ := s.h.store.InFlightCount(ctx, s.c.ID); n != 0 {
				t.Errorf("%d accounts still marked in flight", n)
			}
			// The new holder still holds it: its lease completes.
			if n, _ := s.h.store.Counts(ctx, s.c.ID, time.Now()); n.Leased != 1 || n.Due != 0 || n.Done != 0 {
				t.Errorf("queue %+v: the new holder's lease was disturbed", n)
			}
			if err := s.h.store.Complete(ctx, theirs, time.Now()); err != nil {
				t.Errorf("the new holder's lease: %v", err)
			}
		})
	}
}

// When Redis refuses to count an interrupted attempt, the error is
// reported with the campaign and the account instead of being dropped, and
// the account is still rescheduled and its in-flight mark cleared.
func TestInterruptedCountFailureIsReported(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSettleCase(t, "NOCOUNT")
	if err := s.h.store.InFlight(ctx, s.c.ID, s.acct.ID, "att-died", time.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A string where the counts' hash should be: HINCRBY fails (WRONGTYPE).
	if err := s.h.rdb.Set(ctx, "marcador:{"+s.c.ID+"}:dispositions", "not a hash", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	err := s.r.work(ctx, s.c, s.trunk, s.claim(t, time.Now()), nil)
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") || !strings.Contains(err.Error(), s.c.ID) ||
		!strings.Contains(err.Error(), s.acct.ID) || !strings.Contains(err.Error(), analytics.Interrupted) {
		t.Fatalf("work: %v, want the count's failure naming the campaign, the account and the disposition", err)
	}
	if got := s.dispositions(t); fmt.Sprint(got) != fmt.Sprint([]string{analytics.Interrupted}) {
		t.Errorf("attempt rows %v, want one interrupted", got)
	}
	if n, _ := s.h.store.Counts(ctx, s.c.ID, time.Now().Add(2*time.Hour)); n.Leased != 0 || n.Due != 1 || n.DueNow != 1 {
		t.Errorf("queue %+v: the account must be due again in an hour, its lease ended", n)
	}
	if n, _ := s.h.store.InFlightCount(ctx, s.c.ID); n != 0 {
		t.Errorf("%d accounts still marked in flight", n)
	}
}
