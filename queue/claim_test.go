package queue_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

func accounts(n int) []queue.Account {
	out := make([]queue.Account, n)
	for i := range out {
		out[i] = queue.Account{
			ID: fmt.Sprintf("A%05d", i), Name: "Debtor", Country: "CO", Currency: "COP",
			Phones:  []queue.Phone{{Number: fmt.Sprintf("+57300%07d", i), TimeZones: []string{"America/Bogota"}}},
			Balance: decimal.NewFromInt(int64(1000 + i)),
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

func TestLoadIsIdempotentAndClaimLeases(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	s := queue.New(queue.Options{Client: rdb, NodeID: "n1", LeaseTTL: time.Minute})
	ctx := context.Background()

	res, err := s.Load(ctx, c, accounts(10), t0)
	if err != nil || res.Inserted != 10 {
		t.Fatalf("load: %+v %v", res, err)
	}
	ls, err := s.Claim(ctx, c, 3, t0)
	if err != nil || len(ls) != 3 {
		t.Fatalf("claim: %d %v", len(ls), err)
	}
	if ls[0].Account.Phones[0].Number == "" || !ls[0].Account.Balance.Equal(decimal.NewFromInt(1000)) {
		t.Fatalf("lease carries account %+v", ls[0].Account)
	}
	// Upload again with new data: nothing is queued twice, leases and data survive.
	again := accounts(10)
	again[0].Name = "Renamed"
	res, err = s.Load(ctx, c, again, t0)
	if err != nil || res.Inserted != 0 || res.Updated != 10 {
		t.Fatalf("reload: %+v %v", res, err)
	}
	cn, _ := s.Counts(ctx, c, t0)
	if cn != (queue.Counts{Accounts: 10, Due: 7, DueNow: 7, Leased: 3, Done: 0}) {
		t.Fatalf("counts %+v", cn)
	}
	if a, _ := s.Account(ctx, c, "A00000"); a.Name != "Renamed" {
		t.Fatalf("data not updated: %q", a.Name)
	}

	if err := s.Complete(ctx, ls[0], t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, ls[0], t0); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("second complete: %v", err)
	}
	if err := s.Reschedule(ctx, ls[1], t0.Add(time.Hour), "no_answer"); err != nil {
		t.Fatal(err)
	}
	if err := s.Extend(ctx, &ls[2], t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	cn, _ = s.Counts(ctx, c, t0)
	if cn != (queue.Counts{Accounts: 10, Due: 8, DueNow: 7, Leased: 1, Done: 1}) {
		t.Fatalf("counts %+v", cn)
	}
	// Not due yet: the rescheduled one stays out until its time.
	got, _ := s.Claim(ctx, c, 100, t0)
	if len(got) != 7 {
		t.Fatalf("claimed %d, want 7", len(got))
	}
	for _, l := range append(got, ls[2]) {
		if err := s.Complete(ctx, l, t0); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = s.Claim(ctx, c, 100, t0.Add(time.Hour))
	if len(got) != 1 || got[0].Account.ID != ls[1].Account.ID {
		t.Fatalf("after an hour claimed %v", got)
	}
}

func TestExpiredLeaseComesBack(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	dead := queue.New(queue.Options{Client: rdb, NodeID: "dead", LeaseTTL: time.Minute})
	alive := queue.New(queue.Options{Client: rdb, NodeID: "alive", LeaseTTL: time.Minute})
	ctx := context.Background()
	dead.Load(ctx, c, accounts(2), t0)
	held, _ := dead.Claim(ctx, c, 2, t0)
	if len(held) != 2 {
		t.Fatalf("claimed %d", len(held))
	}
	// Before expiry nobody else gets them.
	if got, _ := alive.Claim(ctx, c, 10, t0.Add(59*time.Second)); len(got) != 0 {
		t.Fatalf("claimed %d leased contacts", len(got))
	}
	got, _ := alive.Claim(ctx, c, 10, t0.Add(61*time.Second))
	if len(got) != 2 || !strings.HasPrefix(got[0].Token, "alive:") {
		t.Fatalf("expired leases not returned: %+v", got)
	}
	// The dead node wakes up: its lease is gone, it must not complete.
	if err := dead.Complete(ctx, held[0], t0.Add(62*time.Second)); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("stale complete: %v", err)
	}
}

func TestConcurrentClaimsInProcess(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	ctx := context.Background()
	queue.New(queue.Options{Client: rdb}).Load(ctx, c, accounts(2000), t0)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := queue.New(queue.Options{Client: rdb, NodeID: fmt.Sprint("g", g)})
			for {
				ls, err := s.Claim(ctx, c, 7, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ls) == 0 {
					return
				}
				mu.Lock()
				for _, l := range ls {
					seen[l.Account.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 2000 {
		t.Fatalf("claimed %d distinct, want 2000", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", id, n)
		}
	}
}

// TestHelperClaimer runs in a child process: it claims until the queue is
// empty and prints each account id it got.
func TestHelperClaimer(t *testing.T) {
	c := os.Getenv("MARCADOR_CLAIM_HELPER")
	if c == "" {
		t.Skip("helper process only")
	}
	rdb := redistest.Client(t)
	s := queue.New(queue.Options{Client: rdb, NodeID: fmt.Sprint("pid", os.Getpid())})
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		ls, err := s.Claim(context.Background(), c, 5, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 0 {
			return
		}
		for _, l := range ls {
			fmt.Fprintln(out, "claimed", l.Account.ID)
		}
	}
}

func TestTwoProcessesNeverClaimTheSameContact(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	const n = 3000
	queue.New(queue.Options{Client: rdb}).Load(context.Background(), c, accounts(n), t0)
	outs := make([]strings.Builder, 2)
	var cmds []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClaimer$")
		cmd.Env = append(os.Environ(), "MARCADOR_CLAIM_HELPER="+c)
		cmd.Stdout = &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	seen := map[string]int{}
	per := []int{0, 0}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("claimer %d: %v", i, err)
		}
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if id, ok := strings.CutPrefix(line, "claimed "); ok {
				seen[id]++
				per[i]++
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("claimed %d distinct of %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("%s claimed by both processes", id)
		}
	}
	t.Logf("process shares: %v", per)
}

func TestCampaignDefinition(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	s := queue.New(queue.Options{Client: rdb})
	ctx := context.Background()
	if _, err := s.Campaign(ctx, c); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("missing campaign: %v", err)
	}
	got, err := s.PutCampaign(ctx, queue.Campaign{ID: c, Country: "co", TimeZone: "America/Bogota",
		Retry: queue.RetryPolicy{Delays: map[string]queue.Duration{"busy": queue.Duration(10 * time.Minute)}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != queue.ModeIVR || got.Profile != "CO" || got.Retry.MaxAttempts != 6 {
		t.Fatalf("defaults not applied: %+v", got)
	}
	back, err := s.Campaign(ctx, c)
	if err != nil || back.Retry.Delays["busy"] != queue.Duration(10*time.Minute) || !back.Created.Equal(t0) {
		t.Fatalf("read back %+v %v", back, err)
	}
	for _, bad := range []queue.Campaign{
		{ID: "has space", Country: "CO", TimeZone: "UTC"},
		{ID: "x{y}", Country: "CO", TimeZone: "UTC"},
		{ID: "ok", Country: "Colombia", TimeZone: "UTC"},
		{ID: "ok", Country: "CO", TimeZone: "Mars/Base"},
		{ID: "ok", Country: "CO", TimeZone: "UTC", Mode: "blast"},
		{ID: "ok", Country: "CO", TimeZone: "UTC", CallerID: "anonymous"},
		{ID: "ok", Country: "CO", TimeZone: "UTC", CallerID: "6015550100"},
	} {
		if _, err := s.PutCampaign(ctx, bad, t0); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// UpdateCampaign changes a stored definition in place, validated, and
// never overwrites a change saved while it ran.
func TestUpdateCampaign(t *testing.T) {
	rdb := redistest.Client(t)
	c := redistest.CampaignID(t, rdb)
	s := queue.New(queue.Options{Client: rdb})
	ctx := context.Background()
	if _, err := s.UpdateCampaign(ctx, c, t0, func(*queue.Campaign) error { return nil }); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("missing campaign: %v", err)
	}
	if _, err := s.PutCampaign(ctx, queue.Campaign{ID: c, Mode: "progressive", Country: "US", TimeZone: "America/New_York"}, t0); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	got, err := s.UpdateCampaign(ctx, c, later, func(x *queue.Campaign) error {
		x.Mode, x.TargetAbandon, x.MaxLinesPerAgent = "predictive", 0.02, 2.5
		return nil
	})
	if err != nil || got.Mode != "predictive" || got.TargetAbandon != 0.02 || !got.Updated.Equal(later) || !got.Created.Equal(t0) {
		t.Fatalf("updated %+v %v", got, err)
	}
	_, err = s.UpdateCampaign(ctx, c, later, func(x *queue.Campaign) error { x.TargetAbandon = 0.05; return nil })
	var fe *queue.FieldError
	if !errors.As(err, &fe) || fe.Field != "target_abandon" {
		t.Fatalf("4%% under the US profile: %v", err)
	}
	// A save that lands while the edit runs makes it start again on the
	// new definition.
	runs := 0
	got, err = s.UpdateCampaign(ctx, c, later, func(x *queue.Campaign) error {
		runs++
		if runs == 1 {
			y := *x
			y.Name = "renamed meanwhile"
			if _, err := s.PutCampaign(ctx, y, later); err != nil {
				t.Fatal(err)
			}
		}
		x.MaxLinesPerAgent = 4
		return nil
	})
	if err != nil || runs != 2 || got.Name != "renamed meanwhile" || got.MaxLinesPerAgent != 4 {
		t.Fatalf("concurrent save: runs %d, %+v %v", runs, got, err)
	}
	back, _ := s.Campaign(ctx, c)
	if back.Name != "renamed meanwhile" || back.MaxLinesPerAgent != 4 || back.TargetAbandon != 0.02 {
		t.Fatalf("read back %+v", back)
	}
}
