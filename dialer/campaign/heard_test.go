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
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
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
	ctx := context.Background()
	h := newHarness(t)
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, RTPPorts: media.PortRange{Min: 45000, Max: 45499},
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: time.Minute, Max: time.Minute},
		Digits: "1/1/2", DigitsAfter: time.Second, Patience: 3 * time.Second, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 45500, Max: 45999}})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	trunk, _ := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + sim.Addr(), CPS: 50, MaxChannels: 5, CallerID: "+525550000100"})
	id := redistest.CampaignID(t, h.rdb)
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", Profile: "MX", TimeZone: "America/Mexico_City", Trunk: "sim",
		Script: "reminder-overdue", MaxConcurrent: 1, Language: "es", Retry: queue.RetryPolicy{MaxAttempts: 1}}
	if _, err := h.store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	num := fmt.Sprintf("+5255%07d0", time.Now().UnixNano()%1e7) // ends in 0: a person
	acct := queue.Account{ID: "MUTE", NationalID: fmt.Sprint("mu", time.Now().UnixNano()), Country: "MX", Phones: []queue.Phone{{Number: num}},
		Balance: decimal.NewFromInt(1500), Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 23}
	h.fresh(ctx, []queue.Account{acct})
	if _, err := h.store.Load(ctx, id, []queue.Account{acct}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	scripts, _ := script.Shipped()
	r := New(Options{Store: h.store, Gate: h.gate, Endpoint: ep, Trunks: map[string]*dialer.Trunk{"sim": trunk}, Writer: h.w,
		Scripts: scripts, Library: mutedLibrary(t), Node: "muted"})
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	poll(t, "the call to be settled", func() bool {
		d, _ := h.store.Dispositions(ctx, id)
		return len(d) > 0
	})
	r.Pause(ctx, id)
	r.Wait()
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
	if disp != analytics.Answered || dtmf != "" {
		t.Fatalf("attempt %s with keys %q, want answered with none", disp, dtmf)
	}
}
