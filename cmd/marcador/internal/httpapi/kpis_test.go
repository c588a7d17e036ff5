package httpapi

import (
	"net/url"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
)

// kpiFixture serves the API over a database holding kpitest's fixture.
func kpiFixture(t *testing.T) *fixture {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	kpitest.Load(t, conn, db)
	k, err := kpi.New(conn, db, kpi.Options{Costs: kpitest.Costs, Now: func() time.Time { return kpitest.Now }})
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, func(o *Options) {
		o.KPIs = k
		o.Now = func() time.Time { return kpitest.Now }
	})
}

func TestKPIs(t *testing.T) {
	f := kpiFixture(t)
	var rep kpi.Report
	if code := f.do(t, "GET", "/api/v1/kpis?campaign=c1&campaign=c2&from=2026-03-01&to=2026-03-14&by=campaign&tz=UTC", "", "", true, &rep); code != 200 {
		t.Fatalf("GET /api/v1/kpis: %d", code)
	}
	// The fixture's figures (analytics/kpi's TestFixtureKPIs has them all).
	if len(rep.Rows) != 2 || rep.Rows[0].Key != "c1" || rep.Rows[0].Attempts != 10 || rep.Total.Attempts != 13 ||
		rep.Total.Contacts != 6 || rep.By != kpi.ByCampaign || rep.Source != "rollup" {
		t.Fatalf("report: %+v", rep)
	}
	if code := f.do(t, "GET", "/api/v1/kpis?from=2026-03-01", "", "", false, nil); code != 401 {
		t.Errorf("without a token: %d", code)
	}
	var cells struct {
		Cells []kpi.Cell `json:"cells"`
	}
	if code := f.do(t, "GET", "/api/v1/kpis/best-time?campaign=c2&from=2026-03-01&to=2026-03-14&by=country", "", "", true, &cells); code != 200 ||
		len(cells.Cells) != 2 || cells.Cells[0].Group != "CO" {
		t.Fatalf("best time: %d %+v", code, cells)
	}
}

// A bad parameter is 400 naming it.
func TestKPIsBadParameters(t *testing.T) {
	f := kpiFixture(t)
	for q, field := range map[string]string{
		"from=2026-02-30":               "from",
		"to=2026-03-01&from=2026-03-05": "from",
		"by=month":                      "by",
		"tz=Nowhere/City":               "tz",
		"channel=fax":                   "channel",
		"campagin=c1":                   "campagin",
	} {
		var e struct{ Error, Field, Reason string }
		if code := f.do(t, "GET", "/api/v1/kpis?"+q, "", "", true, &e); code != 400 || e.Field != field || e.Reason == "" {
			t.Errorf("%s: %d %+v, want 400 naming %s", q, code, e, field)
		}
	}
	var e struct{ Field string }
	if code := f.do(t, "GET", "/api/v1/kpis/best-time?by=agent&from="+url.QueryEscape("2026-03-01"), "", "", true, &e); code != 400 || e.Field != "by" {
		t.Errorf("best time by agent: %d %+v", code, e)
	}
}
