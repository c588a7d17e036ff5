package compliance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func uniq() string {
	b := make([]byte, 5)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newGate(t *testing.T, now func() time.Time) *Gate {
	t.Helper()
	g, err := NewGate(GateOptions{Client: redistest.Client(t), Calendars: calendars(t), Profiles: Builtin(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGateReserveCountsAndExplainReadsHistory(t *testing.T) {
	ctx := context.Background()
	ny := zone(t, "America/New_York")[0]
	clk := &clock{t: time.Date(2026, 11, 16, 10, 0, 0, 0, ny)}
	g := newGate(t, clk.Now)
	acct := "US-" + uniq()
	s := Subject{Phone: "+12125550" + acct[len(acct)-3:], Account: acct, TimeZone: "America/New_York"}
	p := Builtin()["US"]
	for i := range 7 {
		d, err := g.Reserve(ctx, p, s, analytics.Voice, fmt.Sprintf("att-%d", i), false)
		if err != nil || !d.Allowed {
			t.Fatalf("call %d: %+v %v", i+1, d, err)
		}
		clk.Add(24 * time.Hour)
	}
	// Day 8, 09:00: the first call (day 1, 10:00) is 7 days minus 1 h old.
	clk.Set(time.Date(2026, 11, 23, 9, 0, 0, 0, ny))
	d, err := g.Reserve(ctx, p, s, analytics.Voice, "att-8", false)
	if err != nil || d.Allowed || !strings.Contains(d.Rule, "7 voice attempts") {
		t.Fatalf("8th call: %+v %v", d, err)
	}
	if want := time.Date(2026, 11, 23, 10, 0, 0, 0, ny); !d.NextAllowed.Equal(want) {
		t.Fatalf("next allowed %s, want %s", d.NextAllowed, want)
	}
	// Explain by phone only finds the same history (through the index).
	d, err = g.Check(ctx, p, Subject{Phone: s.Phone}, analytics.Voice, clk.Now(), false)
	if err != nil || d.Allowed || !strings.Contains(d.Reason, "7 attempts already in the last 7d") {
		t.Fatalf("explain by phone: %+v %v", d, err)
	}
	// A conversation recorded now starts the 7-day quiet period.
	clk.Set(time.Date(2026, 11, 23, 10, 30, 0, 0, ny))
	if d, err := g.Reserve(ctx, p, s, analytics.Voice, "att-9", false); err != nil || !d.Allowed {
		t.Fatalf("after the window slid: %+v %v", d, err)
	}
	if err := g.Record(ctx, s, analytics.Voice, KindConversation, "att-9", clk.Now()); err != nil {
		t.Fatal(err)
	}
	d, _ = g.Check(ctx, p, Subject{Account: acct, Phone: s.Phone}, analytics.Voice, clk.Now().Add(3*24*time.Hour), false)
	if d.Allowed || !strings.Contains(d.Rule, "after a conversation") {
		t.Fatalf("after a conversation: %+v", d)
	}
}

func TestDoNotContact(t *testing.T) {
	ctx := context.Background()
	g := newGate(t, time.Now)
	num := "+5730055" + strconv.Itoa(int(time.Now().UnixNano()%100000))
	camp := "c-" + uniq()
	s := Subject{Phone: num, Campaign: camp, TimeZone: "America/Bogota"}
	p := Builtin()["MX"] // a profile whose window is wide, so only the list decides
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, zone(t, "America/Bogota")[0])
	if err := g.AddDNC(ctx, DNCEntry{Phone: num, Channel: "sms", Reason: "STOP by SMS", Source: "sms"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := g.Check(ctx, p, s, analytics.SMS, at, false); d.Allowed || d.Rule != "dnc" || !strings.Contains(d.Reason, "STOP by SMS") {
		t.Fatalf("sms after opt-out: %+v", d)
	}
	if d, _ := g.Check(ctx, p, s, analytics.Voice, at, false); !d.Allowed {
		t.Fatalf("voice is another channel: %+v", d)
	}
	if err := g.AddDNC(ctx, DNCEntry{Phone: num, Channel: "voice", Campaign: camp, Reason: "asked the agent"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := g.Check(ctx, p, s, analytics.Voice, at, false); d.Allowed || !strings.Contains(d.Reason, "campaign "+camp) {
		t.Fatalf("voice after campaign opt-out: %+v", d)
	}
	other := s
	other.Campaign = "another"
	if d, _ := g.Check(ctx, p, other, analytics.Voice, at, false); !d.Allowed {
		t.Fatalf("other campaign still calls: %+v", d)
	}
	if err := g.RemoveDNC(ctx, DNCEntry{Phone: num, Channel: "all", Campaign: camp}); err != nil {
		t.Fatal(err)
	}
	if d, _ := g.Check(ctx, p, s, analytics.Voice, at, false); !d.Allowed {
		t.Fatalf("after removal: %+v", d)
	}
	if err := g.AddDNC(ctx, DNCEntry{Phone: "3001234567", Channel: "voice"}); err == nil {
		t.Fatal("a national-format number was listed")
	}
	if err := g.AddDNC(ctx, DNCEntry{Phone: num, Channel: "fax"}); err == nil {
		t.Fatal("an unknown channel was listed")
	}
	g.RemoveDNC(ctx, DNCEntry{Phone: num, Channel: "all"})
}

// TestHelperReserver is a second dialer node for the race test: it claims
// its campaign and asks the gate for each debtor.
func TestHelperReserver(t *testing.T) {
	camp := os.Getenv("MARCADOR_TEST_RESERVE_CAMPAIGN")
	if camp == "" {
		t.Skip("helper process")
	}
	// Start together with the other process, so they really race: the
	// second to arrive releases both (bounded, should the other never come).
	ctx := context.Background()
	rdb := redistest.Client(t)
	barrier := os.Getenv("MARCADOR_TEST_RESERVE_BARRIER")
	if n, err := rdb.Incr(ctx, barrier).Result(); err != nil {
		t.Fatal(err)
	} else if n == 2 {
		rdb.RPush(ctx, barrier+":go", 1, 1)
	}
	if err := rdb.BLPop(ctx, time.Minute, barrier+":go").Err(); err != nil {
		t.Fatalf("the other process never came to the barrier: %v", err)
	}
	allowed := reserveAll(t, camp)
	fmt.Printf("ALLOWED %d\n", allowed)
}

var raceClock = time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CLT", -3*3600)) // a Tuesday

func reserveAll(t *testing.T, camp string) int {
	ctx := context.Background()
	rdb := redistest.Client(t)
	store := queue.New(queue.Options{Client: rdb, NodeID: "n-" + uniq()})
	g := newGate(t, func() time.Time { return raceClock })
	p := Builtin()["CL"]
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				leases, err := store.Claim(ctx, camp, 3, raceClock)
				if err != nil {
					t.Error(err)
					return
				}
				if len(leases) == 0 {
					return
				}
				for _, l := range leases {
					a := l.Account
					s := Subject{Phone: a.Phones[0].Number, Account: a.ID, NationalID: a.NationalID, Country: "CL", TimeZone: "America/Santiago"}
					// Every debtor is tried twice: the second must always fail.
					for try := range 2 {
						d, err := g.Reserve(ctx, p, s, analytics.Voice, fmt.Sprintf("%s-%d", l.Token, try), false)
						if err != nil {
							t.Error(err)
							return
						}
						if d.Allowed {
							allowed.Add(1)
						}
					}
					store.Complete(ctx, l, raceClock)
				}
			}
		}()
	}
	wg.Wait()
	return int(allowed.Load())
}

// Two processes, each claiming its own campaign that holds the same 40
// debtors (one national id, two accounts), reserve concurrently under CL's
// one-call-a-week cap: exactly one call per debtor gets through.
func TestTwoProcessesNeverExceedACap(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Client(t)
	store := queue.New(queue.Options{Client: rdb, NodeID: "setup"})
	run := uniq()
	var camps []string
	for c := range 2 {
		id := redistest.CampaignID(t, rdb)
		camps = append(camps, id)
		var accts []queue.Account
		for i := range 40 {
			accts = append(accts, queue.Account{ID: fmt.Sprintf("%s-%d-%d", run, c, i), NationalID: fmt.Sprintf("%s%02d", run, i),
				Phones:  []queue.Phone{{Number: fmt.Sprintf("+569%08d", 10000000+i)}},
				Balance: decimal.NewFromInt(1000), Currency: "CLP", Country: "CL"})
		}
		if _, err := store.Load(ctx, id, accts, raceClock.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	barrier := "marcador:test:barrier:" + run
	defer rdb.Del(ctx, barrier, barrier+":go")
	// Every helper is bounded: one that hangs is killed.
	hctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var outs []*strings.Builder
	var cmds []*exec.Cmd
	for _, id := range camps {
		cmd := exec.CommandContext(hctx, os.Args[0], "-test.run=^TestHelperReserver$", "-test.v")
		cmd.Env = append(os.Environ(), "MARCADOR_TEST_RESERVE_CAMPAIGN="+id, "MARCADOR_TEST_RESERVE_BARRIER="+barrier)
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	total := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v\n%s", i, err, outs[i])
		}
		var n int
		for _, line := range strings.Split(outs[i].String(), "\n") {
			if strings.HasPrefix(line, "ALLOWED ") {
				n, _ = strconv.Atoi(strings.TrimPrefix(line, "ALLOWED "))
			}
		}
		t.Logf("process %d: %d calls allowed", i, n)
		total += n
	}
	if total != 40 {
		t.Fatalf("%d calls allowed for 40 debtors under a one-call-a-week cap", total)
	}
	for i := range 40 {
		rdb.Del(ctx, historyKey(debtorKey(Subject{NationalID: fmt.Sprintf("%s%02d", run, i), Country: "CL"})))
	}
}

// An Alaskan number may be in Anchorage or on Adak: both must be in hours.
func TestZonesOfAMultiZoneNumber(t *testing.T) {
	zones, err := Zones(Subject{Phone: "+19075551234", DefaultZone: "America/New_York"})
	if err != nil || len(zones) != 2 {
		t.Fatalf("zones %v %v", zones, err)
	}
	anc := zone(t, "America/Anchorage")
	cal := calendars(t)
	d := Decide(cal, Request{Profile: Builtin()["US"], Channel: analytics.Voice, Zones: zones, At: at(t, anc, "2026-11-24 08:30")}, nil)
	if d.Allowed || !d.NextAllowed.Equal(at(t, anc, "2026-11-24 09:00")) || !strings.Contains(d.Reason, "America/Adak") {
		t.Fatalf("08:30 Anchorage: %+v", d)
	}
	if d := Decide(cal, Request{Profile: Builtin()["US"], Channel: analytics.Voice, Zones: zones, At: at(t, anc, "2026-11-24 20:59")}, nil); !d.Allowed {
		t.Fatalf("20:59 Anchorage: %+v", d)
	}
	// The account's own zone wins over the number's.
	if zones, _ := Zones(Subject{Phone: "+19075551234", TimeZone: "America/Anchorage"}); len(zones) != 1 {
		t.Fatalf("account zone: %v", zones)
	}
	// Neither says: the campaign's.
	if zones, _ := Zones(Subject{Phone: "+999", DefaultZone: "America/Lima"}); len(zones) != 1 || zones[0].String() != "America/Lima" {
		t.Fatalf("campaign zone: %v", zones)
	}
	if _, err := Zones(Subject{Phone: "+999"}); err == nil {
		t.Fatal("no zone at all accepted")
	}
}

// A call that was never placed gives its reservation back: CL's one call a
// week is still there for the next try, and only that attempt is removed.
func TestGateReleaseGivesTheCapBack(t *testing.T) {
	ctx := context.Background()
	scl := zone(t, "America/Santiago")[0]
	clk := &clock{t: time.Date(2026, 11, 17, 11, 0, 0, 0, scl)} // a Tuesday
	g := newGate(t, clk.Now)
	acct := "CL-" + uniq()
	s := Subject{Phone: "+5622" + fmt.Sprint(time.Now().UnixNano()%1e7), Account: acct, TimeZone: "America/Santiago"}
	p := Builtin()["CL"]
	if d, err := g.Reserve(ctx, p, s, analytics.Voice, "att-local", false); err != nil || !d.Allowed {
		t.Fatalf("first call: %+v %v", d, err)
	}
	if d, err := g.Reserve(ctx, p, s, analytics.Voice, "att-2", false); err != nil || d.Allowed {
		t.Fatalf("second call the same week allowed before the release: %+v %v", d, err)
	}
	if ok, err := g.Release(ctx, s, "att-local"); err != nil || !ok {
		t.Fatalf("release: %v %v", ok, err)
	}
	if ok, err := g.Release(ctx, s, "att-local"); err != nil || ok {
		t.Fatalf("second release found something: %v %v", ok, err)
	}
	d, err := g.Reserve(ctx, p, s, analytics.Voice, "att-3", false)
	if err != nil || !d.Allowed {
		t.Fatalf("after the release: %+v %v", d, err)
	}
	// att-3 holds the week now; releasing an id that is not there changes nothing.
	if ok, _ := g.Release(ctx, s, "att-3x"); ok {
		t.Fatal("released an attempt that was never reserved")
	}
	if d, _ := g.Reserve(ctx, p, s, analytics.Voice, "att-4", false); d.Allowed {
		t.Fatalf("att-3's reservation is gone: %+v", d)
	}
}
