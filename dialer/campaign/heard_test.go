package campaign

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/queue"
)

// mutedLibrary has every shipped prompt, as long as the real one and
// silent: an IVR that runs its script but sends silence.
func mutedLibrary(t *testing.T) *prompts.Library {
	t.Helper()
	dir := t.TempDir()
	for _, lang := range []string{"es", "en"} {
		for _, name := range prompts.Shipped(lang) {
			p, err := prompts.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, filepath.FromSlash(name)+".wav")
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, media.EncodeWAV(make([]int16, len(p.Samples))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return prompts.NewLibrary(dir)
}

// The debtors of the end-to-end tests listen: a Marcador that runs the
// script but sends silence gets no key (the person hangs up when their
// patience runs out), and the check every IVR test makes fails.
func TestMutedIVRGetsNoKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	line := newSimLine(t, simcarrier.Options{ByLastDigit: true,
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: time.Minute, Max: time.Minute},
		Digits: "1/1/2", DigitsAfter: time.Second, Patience: 3 * time.Second, Record: true},
		media.PortRange{Min: 45000, Max: 45499}, 50, 5)
	sim := line.sim
	id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) { c.MaxConcurrent, c.Retry = 1, queue.RetryPolicy{MaxAttempts: 1} })
	num := fmt.Sprintf("+5255%07d0", time.Now().UnixNano()%1e7) // ends in 0: a person
	acct := queue.Account{ID: "MUTE", NationalID: fmt.Sprint("mu", time.Now().UnixNano()), Country: "MX", Phones: []queue.Phone{{Number: num}},
		Balance: decimal.NewFromInt(1500), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23}
	h.load(t, ctx, id, []queue.Account{acct})
	opt := h.runnerOptions(line, "muted")
	opt.Library = mutedLibrary(t)
	r := New(opt)
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.settleOne(t, ctx, r, id)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := sim.CheckHeard(sctx, time.Second)
	if n != 1 || err == nil || !strings.Contains(err.Error(), "nobody spoke") {
		t.Fatalf("CheckHeard on a muted IVR: %d people, %v", n, err)
	}
	if st := sim.Stats(); st.Unheard != 1 {
		t.Fatalf("simulator %+v: want the person to hang up unspoken to", st)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var disp, dtmf string
	if err := h.conn.QueryRow(ctx, "SELECT disposition, dtmf FROM "+h.db+".contact_attempts FINAL WHERE campaign_id = ?", id).Scan(&disp, &dtmf); err != nil {
		t.Fatal(err)
	}
	// Answered, and nobody proved who they are: not_verified.
	if disp != analytics.NotVerified || dtmf != "" {
		t.Fatalf("attempt %s with keys %q, want not_verified with none", disp, dtmf)
	}
}
