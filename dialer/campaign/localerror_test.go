package campaign

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// A campaign dial that never reaches the network (every RTP port taken) is
// recorded local_error with the cause, gives the compliance reservation
// back (CL's one call a week is still there), does not count as an attempt,
// and is tried again soon.
func TestLocalErrorIsNotAContactAttempt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	carrier, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer carrier.Close()
	ports := takenPorts(t)
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: ports})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "cl", URI: "sip:" + carrier.LocalAddr().String(), CallerID: "+56222222222"})
	if err != nil {
		t.Fatal(err)
	}
	id := redistest.CampaignID(t, h.rdb)
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "CL", TimeZone: "America/Santiago", Profile: "CL", Trunk: "cl",
		Script: "reminder-overdue", MaxConcurrent: 1, Retry: queue.RetryPolicy{MaxAttempts: 1}}
	if _, err := h.store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano() % 1e7
	acct := queue.Account{ID: "CL-1", NationalID: fmt.Sprintf("7%07d-K", run), Country: "CL",
		Phones: []queue.Phone{{Number: fmt.Sprintf("+5622%07d", run)}}, Balance: decimal.NewFromInt(90000), Currency: "CLP"}
	h.fresh(ctx, []queue.Account{acct})
	if _, err := h.store.Load(ctx, id, []queue.Account{acct}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	scripts, _ := script.Shipped()
	r := New(Options{Store: h.store, Gate: h.gate, Endpoint: ep, Trunks: map[string]*dialer.Trunk{"cl": trunk}, Writer: h.w,
		Scripts: scripts, Library: prompts.NewLibrary(""), Node: "e2e"})
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	var disps map[string]int64
	if !polltest.Until(30*time.Second, func() bool { disps, _ = h.store.Dispositions(ctx, id); return disps[analytics.LocalError] > 0 }) {
		t.Fatalf("no local_error recorded: %v", disps)
	}
	if err := r.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.Wait()
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var disp, reason string
	var no uint16
	if err := h.conn.QueryRow(ctx, "SELECT disposition, reason, attempt_no FROM "+h.db+".contact_attempts FINAL WHERE campaign_id = ?", id).
		Scan(&disp, &reason, &no); err != nil {
		t.Fatal(err)
	}
	if disp != analytics.LocalError || !strings.Contains(reason, "no free even port") || no != 1 {
		t.Fatalf("attempt row %s %q #%d, want local_error with the cause", disp, reason, no)
	}
	if n := countDatagrams(carrier); n != 0 {
		t.Fatalf("the carrier got %d datagrams", n)
	}
	// Not counted: max_attempts is 1, yet the account is due again in about
	// a minute (not done), and its next attempt is still its first.
	cnt, _ := h.store.Counts(ctx, id, time.Now().Add(2*time.Minute))
	if cnt.Done != 0 || cnt.Due != 1 || cnt.DueNow != 1 {
		t.Fatalf("queue after a local error: %+v", cnt)
	}
	if now, _ := h.store.Counts(ctx, id, time.Now()); now.DueNow != 0 {
		t.Fatalf("retried at once: %+v", now)
	}
	if n, err := h.store.NextAttempt(ctx, id, acct.ID); err != nil || n != 1 {
		t.Fatalf("next attempt number %d %v, want 1", n, err)
	}
	// The compliance history holds no attempt: CL's one call a week is free.
	subj := compliance.Subject{Phone: acct.Phones[0].Number, Account: acct.ID, NationalID: acct.NationalID, Country: "CL",
		DefaultZone: c.TimeZone, Campaign: id}
	p, _ := h.gate.Profile("CL", subj)
	d, err := h.gate.Reserve(ctx, p, subj, analytics.Voice, "after-local-error", false)
	if err != nil || !d.Allowed {
		t.Fatalf("a call after the local error: %+v %v", d, err)
	}
	// Positive control: that reservation does use the week up.
	if d, _ := h.gate.Reserve(ctx, p, subj, analytics.Voice, "second", false); d.Allowed {
		t.Fatalf("CL allowed a second call the same week: %+v", d)
	}
}

// A campaign whose calls would go out without a caller id does not start.
func TestStartRefusesCampaignWithoutCallerID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	bare, _ := dialer.NewTrunk(dialer.TrunkConfig{Name: "bare", URI: "sip:127.0.0.1:9"})
	scripts, _ := script.Shipped()
	r := New(Options{Store: h.store, Gate: h.gate, Trunks: map[string]*dialer.Trunk{"bare": bare}, Writer: h.w,
		Scripts: scripts, Library: prompts.NewLibrary(""), Node: "e2e"})
	defer r.Close()
	// (A caller_id that is not E.164 is refused when the campaign is
	// stored: queue.Campaign.Normalize.)
	id0 := redistest.CampaignID(t, h.rdb)
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id0, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City",
		Trunk: "bare", Script: "reminder-overdue"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, id0); err == nil || !strings.Contains(err.Error(), "no caller id: set caller_id on the campaign or on trunk bare") {
		t.Errorf("start without a caller id: %v", err)
	}
	if st, _ := h.store.Status(ctx, id0); st == queue.StatusRunning {
		t.Error("a campaign without a caller id is running")
	}
	// With its own caller id the campaign starts on the same trunk.
	id := redistest.CampaignID(t, h.rdb)
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City",
		Trunk: "bare", Script: "reminder-overdue", CallerID: "+525550000100"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.Stop(ctx, id)
}

// countDatagrams says how many datagrams reach c within a second.
func countDatagrams(c *net.UDPConn) int {
	n, buf := 0, make([]byte, 4000)
	c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, err := c.Read(buf); err != nil {
			return n
		}
		n++
	}
}

// takenPorts is an RTP range of two even ports, both held by this test
// until it ends: an endpoint given it has no port to bind. The range is
// found rather than fixed, as parallel tests and other runs bind UDP ports
// anywhere.
func takenPorts(t *testing.T) media.PortRange {
	t.Helper()
	for range 100 {
		p := 50000 + 2*rand.IntN(5000)
		var held []*net.UDPConn
		for _, port := range []int{p, p + 2} {
			if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err == nil {
				held = append(held, c)
			}
		}
		if len(held) == 2 {
			t.Cleanup(func() { held[0].Close(); held[1].Close() })
			return media.PortRange{Min: p, Max: p + 2}
		}
		for _, c := range held {
			c.Close()
		}
	}
	t.Fatal("no two free even ports")
	return media.PortRange{}
}
