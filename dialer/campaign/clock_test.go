package campaign

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics/polltest"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// A runner whose clock reads a day long past still claims on the wall clock
// (leases are Redis facts), while its rows and the due time it gives an
// account follow its own clock: the interrupted account, rescheduled an
// hour after that past day, is due at once and claimed again. Every phone
// is on the do-not-contact list, so nothing is dialled.
func TestAttemptsFollowTheClockLeasesTheWall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	mx, err := time.LoadLocation("America/Mexico_City")
	if err != nil {
		t.Fatal(err)
	}
	past := time.Date(2025, 6, 10, 10, 0, 0, 0, mx) // a Tuesday, 10:00 in Mexico City
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "none", URI: "sip:127.0.0.1:9", CallerID: "+525550000100"})
	if err != nil {
		t.Fatal(err)
	}
	id := redistest.CampaignID(t, h.rdb)
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City",
		Profile: "MX", Trunk: "none", Script: "reminder-overdue"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano() % 1e6
	var accts []queue.Account
	for i, name := range []string{"LISTED", "INTERRUPTED"} {
		accts = append(accts, queue.Account{ID: name, NationalID: fmt.Sprint("clk", run, i), Country: "MX",
			Phones: []queue.Phone{{Number: fmt.Sprintf("+52559%06d%d", run, i)}}, Balance: decimal.NewFromInt(500), Currency: "MXN"})
	}
	h.fresh(ctx, accts)
	for _, a := range accts {
		if err := h.gate.AddDNC(ctx, compliance.DNCEntry{Phone: a.Phones[0].Number, Channel: "voice", Reason: "clock test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.store.Load(ctx, id, accts, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A node died while calling INTERRUPTED.
	if err := h.store.InFlight(ctx, id, "INTERRUPTED", "att-died", time.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	scripts, _ := script.Shipped()
	r := New(Options{Store: h.store, Gate: h.gate, Trunks: map[string]*dialer.Trunk{"none": trunk}, Writer: h.w, Scripts: scripts,
		Library: prompts.NewLibrary(""), Node: "clock", Now: func() time.Time { return past }})
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	var n queue.Counts
	if !polltest.Until(30*time.Second, func() bool { n, _ = h.store.Counts(ctx, id, time.Now()); return n.Done == 2 }) {
		t.Fatalf("accounts not done on the wall clock: %+v", n)
	}
	if err := r.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := h.conn.Query(ctx, "SELECT account_id, disposition, started_at, ended_at, local_hour, local_weekday FROM "+h.db+
		".contact_attempts FINAL WHERE campaign_id = ? ORDER BY account_id, disposition", id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var acct, disp string
		var started, ended time.Time
		var hour, wd uint8
		if err := rows.Scan(&acct, &disp, &started, &ended, &hour, &wd); err != nil {
			t.Fatal(err)
		}
		onClock := func(ts time.Time) string {
			if ts.Equal(past) {
				return "clock"
			}
			return "other"
		}
		got = append(got, fmt.Sprintf("%s %s start=%s end=%s local=%d/%d", acct, disp, onClock(started), onClock(ended), hour, wd))
	}
	want := []string{
		"INTERRUPTED blocked start=clock end=clock local=10/2",
		// The call started on the dead node; its row ends on the runner's clock.
		"INTERRUPTED interrupted start=other end=clock local=0/0",
		"LISTED blocked start=clock end=clock local=10/2",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows:\n got %q\nwant %q", got, want)
	}
}
