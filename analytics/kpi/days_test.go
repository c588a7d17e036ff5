package kpi_test

import (
	"context"
	"testing"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
)

// Debtors by day come from kpi_debtor_days, counted per campaign and day
// in the zone asked: they equal the raw tables' answer at first, after the
// attempt log delivers every attempt again, and after late attempts for
// an old day (a new debtor on the 3rd, a debtor first reached on the 2nd),
// in UTC, in Bogota, in Kolkata (an offset that is not whole hours) and for
// one campaign. A zone asked once is kept: a refresh that names no zone
// counts its stale days again.
func TestDebtorsByDayFollowLaterRows(t *testing.T) {
	k, more := setup(t, kpi.Options{})
	queries := []string{"", "&tz=America/Bogota", "&tz=Asia/Kolkata", "&campaign=c1"}
	same := func(label string) map[string]*kpi.Report {
		t.Helper()
		out := map[string]*kpi.Report{}
		for _, extra := range queries {
			out[extra] = sameAsRaw(t, k, label+", ", "from=2026-03-01&to=2026-03-14&by=day"+extra)
		}
		return out
	}
	before := byKey(same("before")[""])
	if d := before["2026-03-02"]; d.Debtors == 0 || d.DebtorsReached == 0 {
		t.Fatalf("2 March before: %+v", d)
	}

	// A2 was only rung (no answer) on the 2nd; now reached, late. A9, new,
	// is rung on the 3rd. And the whole fixture is delivered again.
	late := []analytics.Row{
		kpitest.Call("a30", "A2", kpitest.Day(2, 18, 0), analytics.Answered, nil),
		kpitest.Call("a31", "A9", kpitest.Day(3, 9, 0), analytics.NoAnswer, nil),
	}
	more(append(late, kpitest.Rows()...)...)
	got, err := k.Refresh(context.Background(), kpi.RefreshScope{})
	if err != nil {
		t.Fatal(err)
	}
	// Every day with attempts, in the three zones kept (the 2nd and 3rd
	// at least in each).
	if got.DayBuckets < 6 {
		t.Errorf("the refresh counted %d stale days again, want the kept zones' (%+v)", got.DayBuckets, got)
	}
	after := byKey(same("after")[""])
	d2, d3 := after["2026-03-02"], after["2026-03-03"]
	if d2.Debtors != before["2026-03-02"].Debtors || d2.DebtorsReached != before["2026-03-02"].DebtorsReached+1 {
		t.Errorf("2 March: %d debtors, %d reached; want %d and %d", d2.Debtors, d2.DebtorsReached,
			before["2026-03-02"].Debtors, before["2026-03-02"].DebtorsReached+1)
	}
	if d3.Debtors != before["2026-03-03"].Debtors+1 || d3.Attempts != before["2026-03-03"].Attempts+1 {
		t.Errorf("3 March: %d debtors, %d attempts; want %d and %d", d3.Debtors, d3.Attempts,
			before["2026-03-03"].Debtors+1, before["2026-03-03"].Attempts+1)
	}
	// Nothing moved since: nothing is counted again.
	if got, err := k.Refresh(context.Background(), kpi.RefreshScope{}); err != nil || got.DayBuckets != 0 {
		t.Errorf("a refresh with nothing new: %+v, %v", got, err)
	}
}
