package kpi_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
)

// Debtors over a range, by segment and by channel, are counted from
// kpi_debtors' scalars for the debtors wholly inside the range with one
// value of each dimension asked, and from their arrays for the others:
// they equal the raw tables' answer (and the arrays-only path's) for ranges that hold every attempt of a debtor or cut a debtor's
// attempts in two, with filters on segment, channel and country, at first,
// after the attempt log delivers every attempt again and after late
// attempts that make debtors straddle days and mix segments and channels.
func TestDebtorSpansEqualRaw(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	kpitest.Load(t, conn, db)
	now := func() time.Time { return kpitest.Now }
	k, err := kpi.New(conn, db, kpi.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	arrays, err := kpi.New(conn, db, kpi.Options{DebtorArrays: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ranges := []string{"from=2026-03-01&to=2026-03-14", "from=2026-03-02&to=2026-03-02", "from=2026-03-03&to=2026-03-09",
		"from=2026-03-02&to=2026-03-03&tz=America/Bogota", "from=2026-03-01&to=2026-03-14&tz=America/New_York"}
	extras := []string{"", "&by=campaign", "&by=segment", "&by=channel", "&segment=late", "&by=segment&channel=sms",
		"&by=channel&country=MX", "&by=campaign&country=CO&segment=late", "&campaign=c1&by=channel", "&by=hour",
		"&by=hour&segment=late", "&by=hour&channel=sms&country=MX"}
	check := func(label string) {
		t.Helper()
		for _, r := range ranges {
			for _, extra := range extras {
				q := r + extra
				roll, raw := report(t, k, kpi.Rollup, q), report(t, k, kpi.Raw, q)
				arr := report(t, arrays, kpi.Rollup, q)
				roll.Source, raw.Source, arr.Source = "", "", ""
				if !reflect.DeepEqual(roll, raw) || !reflect.DeepEqual(roll, arr) {
					a, _ := json.Marshal(roll)
					b, _ := json.Marshal(raw)
					c, _ := json.Marshal(arr)
					t.Errorf("%s, %s: roll-up, raw and arrays differ:\n%s\n%s\n%s", label, q, a, b, c)
				}
			}
		}
	}
	check("before")
	before := byKey(report(t, k, kpi.Rollup, "from=2026-03-02&to=2026-03-02&by=channel"))

	// A1 (early, voice on the 2nd) is texted on the 5th and reached by
	// WhatsApp in segment late; A7 (c2) is rung again on the 12th; A2 is
	// texted on the 2nd too (its channels mix that day). And the whole
	// fixture is delivered again.
	late := []analytics.Row{
		kpitest.Text("a40", "A1", analytics.SMS, kpitest.Day(5, 12, 0), analytics.Delivered, 1, 1, "early"),
		kpitest.Text("a41", "A1", analytics.WhatsApp, kpitest.Day(6, 12, 0), analytics.Read, 1, 1, "late"),
		kpitest.Call("a42", "A7", kpitest.Day(12, 15, 0), analytics.NoAnswer, func(a *analytics.Attempt) {
			a.CampaignID, a.Trunk, a.Country, a.Segment, a.Currency = "c2", "t2", "CO", "late", "COP"
		}),
		kpitest.Text("a43", "A2", analytics.WhatsApp, kpitest.Day(2, 19, 0), analytics.Delivered, 1, 1, "early"),
	}
	kpitest.Insert(t, conn, db, append(late, kpitest.Rows()...)...)
	if _, err := k.Refresh(context.Background(), kpi.RefreshScope{}); err != nil {
		t.Fatal(err)
	}
	check("after")
	after := byKey(report(t, k, kpi.Rollup, "from=2026-03-02&to=2026-03-02&by=channel"))
	if got, want := after["whatsapp"].Debtors, before["whatsapp"].Debtors+1; got != want {
		t.Errorf("2 March by WhatsApp: %d debtors, want %d (A2's late text)", got, want)
	}
	if got, want := after["sms"].Debtors, before["sms"].Debtors; got != want {
		t.Errorf("2 March by SMS: %d debtors, want %d (A1's text is on the 5th)", got, want)
	}

	// A set kpi_debtor_sets does not hold (rows written while migration 17
	// ran) is counted from the arrays, not left out.
	if err := conn.Exec(context.Background(), "TRUNCATE TABLE "+db+".kpi_debtor_sets"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"from=2026-03-01&to=2026-03-14&by=segment", "from=2026-03-01&to=2026-03-14&by=channel&channel=sms"} {
		sameAsRaw(t, k, "without kpi_debtor_sets, ", q)
	}
}
