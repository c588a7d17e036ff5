package agent

import (
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/pacing"
)

// A live answer AMD later found to be a machine moves to the machines
// (with its abandon, when it was abandoned), once per call however often
// it is replayed, and a count never goes under 0.
func TestReviseMovesALiveAnswerToTheMachines(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	e.clk.Set(time.Date(2030, 3, 12, 10, 0, 0, 0, time.UTC))
	for _, o := range []Outcome{Live, Live, Live, Abandoned, Machine} {
		if err := e.p.Count(e.ctx, c, o, nil); err != nil {
			t.Fatal(err)
		}
	}
	today := func() pacing.WindowCounts {
		t.Helper()
		r, err := e.p.Rates(e.ctx, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Today
	}
	for i, x := range []struct {
		call      string
		abandoned bool
		moved     bool
		want      pacing.WindowCounts
	}{
		{"call-1", false, true, pacing.WindowCounts{Live: 2, Abandoned: 1, Machine: 2}},
		{"call-1", false, false, pacing.WindowCounts{Live: 2, Abandoned: 1, Machine: 2}}, // replayed
		{"call-2", true, true, pacing.WindowCounts{Live: 1, Abandoned: 0, Machine: 3}},
		{"call-3", true, true, pacing.WindowCounts{Live: 0, Abandoned: 0, Machine: 4}},
		{"call-4", false, true, pacing.WindowCounts{Live: 0, Abandoned: 0, Machine: 5}}, // counted the day before
	} {
		moved, err := e.p.Revise(e.ctx, c, x.call, x.abandoned, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := today(); moved != x.moved || got != x.want {
			t.Fatalf("step %d (%s): moved %v, counts %+v; want %v, %+v", i, x.call, moved, got, x.moved, x.want)
		}
	}
	if ttl := e.rdb.TTL(e.ctx, ck(c).revised("20300312")).Val(); ttl < 34*24*time.Hour || ttl > 35*24*time.Hour {
		t.Fatalf("revised set TTL %s", ttl)
	}
	if _, err := e.p.Revise(e.ctx, c, "", false, nil); err == nil {
		t.Fatal("a revision without a call id")
	}
}
