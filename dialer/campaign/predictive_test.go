package campaign

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
)

// The live dialer in predictive mode, against the carrier simulator (half
// the calls answered by a person after 1-3 s, the rest busy; people talk
// 1-2 s) with six agents on test phones (1 s wrap-up): once the pacer has
// its data it dials more than one line per ready agent, and over the run
// (80 live answers) the campaign's abandon rate, as counted in Redis and
// read back from ClickHouse, stays within the 3% target. The run is
// bounded by the live answers it waits for, not by time.
func TestPredictiveLiveKeepsAbandonUnderTarget(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a run of minutes")
	}
	const agents, liveWanted, target = 6, 80, 0.03
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 35000, Max: 35999},
		Mix:  map[simcarrier.Outcome]float64{simcarrier.Human: 0.5, simcarrier.Busy: 0.5},
		Ring: simcarrier.Range{Min: time.Second, Max: 3 * time.Second}, Talk: simcarrier.Range{Min: time.Second, Max: 2 * time.Second},
		Patience: time.Minute, DigitsFor: func(string) string { return "" }, Seed: 14})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	trunk, err := dialer.NewTrunk(dialer.TrunkConfig{Name: "simcarrier", URI: "sip:" + sim.Addr(), CallerID: "+525550000100", CPS: 20,
		MaxChannels: 16})
	if err != nil {
		t.Fatal(err)
	}
	w := newAgentWorld(t, func(o *Options) {
		o.Trunks["simcarrier"] = trunk
		o.Predictive = pacing.PredictiveConfig{WarmUp: 20} // a short warm-up: the run is short
		o.RecordingsDir = ""
	})
	c := w.campaign(func(c *queue.Campaign) {
		c.Mode, c.Trunk, c.TargetAbandon, c.WrapUp, c.MaxLinesPerAgent = queue.ModePredictive, "simcarrier", target, queue.Duration(time.Second), 4
	})
	// The node renews its agents' leases as serve does (the run outlasts
	// a lease, and other nodes on the shared Redis reap lapsed ones).
	rctx, rstop := context.WithCancel(context.Background())
	rdone := make(chan struct{})
	go func() { w.st.Run(rctx); close(rdone) }()
	t.Cleanup(func() { rstop(); <-rdone })
	for range agents {
		w.agent(c, agenttest.Options{})
	}
	// Enough debtors for the run: about two dials per live answer.
	accts := make([]queue.Account, 0, 3*liveWanted)
	base := time.Now().UnixNano() % 1e7 * 10
	for i := range cap(accts) {
		accts = append(accts, queue.Account{ID: fmt.Sprintf("P%d-%s", i, rnd()), Name: "Deudor " + strconv.Itoa(i), NationalID: "n" + rnd(),
			Country: "MX", Phones: []queue.Phone{{Number: fmt.Sprintf("+5255%08d", (base+int64(i))%1e8)}}, Balance: decimal.NewFromInt(5000),
			Currency: "MXN", DueDate: "2026-11-01", DaysPastDue: 30})
	}
	w.h.fresh(w.ctx, accts)
	if _, err := w.h.store.Load(w.ctx, c.ID, accts, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	w.start(c)
	ctx := context.Background()
	counts := func() (live, abandoned int64) { // the campaign's 30-day window: this run
		r, err := w.pool.Rates(ctx, c.ID, c.Zone())
		if err != nil {
			t.Fatal(err)
		}
		return r.Rolling.Live, r.Rolling.Abandoned
	}
	if !polltest.Until(4*time.Minute, func() bool {
		live, _ := counts()
		return live >= liveWanted
	}) {
		live, ab := counts()
		t.Fatalf("%d live answers (%d abandoned) within the run's bound, want %d; carrier %+v", live, ab, liveWanted, sim.Stats())
	}
	if err := w.r.Pause(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	w.r.Wait()
	if err := w.h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	live, ab := counts()
	pc, err := w.h.rdb.HGetAll(ctx, "marcador:{"+c.ID+"}:pacing").Result()
	if err != nil {
		t.Fatal(err)
	}
	dials, _ := strconv.ParseInt(pc["dials"], 10, 64)
	ahead, _ := strconv.ParseInt(pc["dials_ahead"], 10, 64)
	var rows, answered, abandoned uint64
	q := `SELECT count(), countIf(disposition IN ('answered', 'abandoned')), countIf(abandoned = 1) FROM ` + w.h.db +
		`.contact_attempts FINAL WHERE campaign_id = ? AND channel = 'voice'`
	if err := w.h.conn.QueryRow(ctx, q, c.ID).Scan(&rows, &answered, &abandoned); err != nil {
		t.Fatal(err)
	}
	t.Logf("dials %d (%d ahead of the ready agents), rows %d, live answers %d (ClickHouse %d), abandoned %d (ClickHouse %d), carrier %+v",
		dials, ahead, rows, live, answered, ab, abandoned, sim.Stats())
	if int64(abandoned) != ab || int64(answered) != live {
		t.Errorf("ClickHouse has %d answered and %d abandoned, Redis counted %d and %d", answered, abandoned, live, ab)
	}
	if float64(ab) > target*float64(live) {
		t.Errorf("abandon rate %d/%d = %.3f, over the %.2f target", ab, live, float64(ab)/float64(live), target)
	}
	// Progressive pacing never places a call beyond one per ready agent;
	// the predictive pacer, warm, dials for the agents about to be free.
	if ahead < 20 {
		t.Errorf("%d of %d dials ahead of the ready agents, want at least 20", ahead, dials)
	}
}
