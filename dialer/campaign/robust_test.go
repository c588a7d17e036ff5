package campaign

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// logBuf collects a runner's log lines from its goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// poll waits for cond with this package's generous deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Eventually(t, 60*time.Second, cond, what)
}

// A running campaign whose definition disappears is stopped once, with one
// ERROR line, instead of logging "not found" every tick forever.
func TestCampaignGoneStopsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	id := redistest.CampaignID(t, h.rdb)
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", Profile: "MX",
		TimeZone: "America/Mexico_City", Trunk: "sim", Script: "reminder-overdue"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	trunk, _ := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:127.0.0.1:9", CallerID: "+525550000100"})
	scripts, _ := script.Shipped()
	logs := &logBuf{}
	r := New(Options{Store: h.store, Gate: h.gate, Trunks: map[string]*dialer.Trunk{"sim": trunk}, Writer: h.w, Scripts: scripts,
		Library: prompts.NewLibrary(""), Node: "gone", Tick: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	poll(t, "the loop to start", func() bool { return strings.Contains(logs.String(), "campaign running") })
	if err := h.rdb.Del(ctx, "marcador:{"+id+"}:campaign").Err(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the campaign to stop", func() bool { return !r.Running(id) })
	out := logs.String()
	if n := strings.Count(out, "level=ERROR"); n != 1 || !strings.Contains(out, "campaign definition is gone") {
		t.Fatalf("%d ERROR lines, want one saying the definition is gone:\n%s", n, out)
	}
	if strings.Contains(out, "level=WARN") || strings.Count(out, id) != 2 { // running, gone, and nothing else
		t.Fatalf("more lines about the campaign than running and gone:\n%s", out)
	}
	if st, _ := h.store.Status(ctx, id); st != queue.StatusStopped {
		t.Errorf("status %q, want stopped (a restart must not resume it)", st)
	}
}

// An account without a currency makes the script fail at the first amount:
// the call is recorded ivr_error with the reason and the account is due
// again after the retry delay, not done.
func TestScriptErrorIsIVRErrorAndRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	line := newSimLine(t, simcarrier.Options{ByLastDigit: true,
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 30 * time.Second, Max: 30 * time.Second},
		DigitsAfter: time.Second, Digits: "1", Proof: h.proof, Record: true},
		media.PortRange{Min: 45000, Max: 45499}, 50, 5)
	sim := line.sim
	id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) {
		c.MaxConcurrent = 1
		c.Retry = queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{"default": queue.Duration(2 * time.Hour)}}
	})
	num := fmt.Sprintf("+5255%07d1", time.Now().UnixNano()%1e7) // ends in 1: a human
	acct := queue.Account{ID: "NOCUR", NationalID: fmt.Sprint("nc", time.Now().UnixNano()), Country: "MX",
		Phones: []queue.Phone{{Number: num}}, Balance: decimal.NewFromInt(1500), DueDate: "2026-11-01", DaysPastDue: 23} // no currency
	h.load(t, ctx, id, []queue.Account{acct})
	r := New(h.runnerOptions(line, "ivrerr"))
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.settleOne(t, ctx, r, id)
	if d, _ := h.store.Dispositions(ctx, id); d[analytics.IVRError] != 1 || len(d) != 1 {
		t.Fatalf("dispositions %v, want one ivr_error", d)
	}
	n, _ := h.store.Counts(ctx, id, time.Now().Add(2*time.Hour+time.Minute))
	if n.Done != 0 || n.Due != 1 || n.DueNow != 1 {
		t.Fatalf("queue %+v: the account must be due again in 2h, not done", n)
	}
	if n, _ := h.store.Counts(ctx, id, time.Now().Add(time.Hour)); n.DueNow != 0 {
		t.Fatalf("queue %+v: due before the retry delay", n)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var disp, reason string
	var code uint16
	if err := h.conn.QueryRow(ctx, "SELECT disposition, reason, sip_code FROM "+h.db+".contact_attempts FINAL WHERE campaign_id = ?", id).
		Scan(&disp, &reason, &code); err != nil {
		t.Fatal(err)
	}
	if disp != "ivr_error" || code != 200 || !strings.Contains(reason, "currency") {
		t.Fatalf("row: %s %d %q", disp, code, reason)
	}
	// The debtor proved who they are (1, the id's last four); the amount
	// failed at once and Marcador hung up before their menu key.
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := sim.Settle(sctx); err != nil {
		t.Fatal(err)
	}
	if calls := sim.Calls(); len(calls) != 1 || calls[0].Unheard || len(calls[0].Turns) != 3 || calls[0].Turns[0].Keys != "1" ||
		calls[0].Turns[2].Keys != "" {
		t.Fatalf("the person's record %+v", calls)
	}
}
