package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
)

// A small `bench kpi` in a database of its own (-db): every family is
// timed on the roll-ups and, for the first question, on the raw tables;
// the debtors in each grouping; the database is dropped at the end.
func TestBenchKPISmall(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn) + "_bench"
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	cfg := config.Default()
	cfg.ClickHouse.Addr = chtest.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	o := KPIOptions{Config: cfg, Attempts: 2000, Days: 3, Campaigns: 2, Database: db, Runs: 1, RawRuns: 1, JSON: true}
	if err := KPI(ctx, o, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	js := out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:]
	var res kpiResult
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	if res.RawRows < 2000 {
		t.Errorf("%d raw rows", res.RawRows)
	}
	debtors := map[string]bool{}
	for _, tm := range res.Timings {
		if tm.Family == kpi.FamilyDebtors {
			debtors[tm.Question] = true
			if tm.Question == "all campaigns, 3 days, by day" && tm.RawP50MS == 0 {
				t.Errorf("debtors by day: no raw baseline: %+v", tm)
			}
		}
	}
	for _, q := range []string{"all campaigns, 3 days, by day", "all campaigns, 3 days, by campaign", "all campaigns, 3 days, total",
		"all campaigns, 3 days, by segment", "all campaigns, 7 days, by day"} {
		if !debtors[q] {
			t.Errorf("debtors not timed for %q: %+v", q, res.Timings)
		}
	}
	var left uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.databases WHERE name = ?", db).Scan(&left); err != nil || left != 0 {
		t.Errorf("%s left behind (%d, %v)", db, left, err)
	}
}
