// Package grafana_test checks deploy/grafana's dashboards against a real
// ClickHouse: every panel's SQL, with the ClickHouse data source's macros
// and the dashboard's variables expanded as Grafana would, runs on the
// fixture of analytics/kpi/kpitest and returns the columns the panel
// shows, with the figures the API gives.
package grafana_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
)

type dashboard struct {
	Templating struct {
		List []struct {
			Name, Type, Query, AllValue string
		}
	}
	Panels []struct {
		ID      int
		Title   string
		Targets []struct{ RawSQL string }
	}
}

// The columns each panel's query returns.
var wantColumns = map[int][]string{
	1: {"time", "attempts", "contact_rate", "rpc_rate", "abandon_rate"},
	2: {"outcome", "attempts"},
	3: {"promises", "kept", "broken", "pending"},
	4: {"weekday", "hour", "attempts", "contact_rate", "rpc_rate"},
	5: {"agent", "connects", "aht_seconds", "agent_hours", "occupancy", "connects_per_agent_hour"},
}

// expand replaces what Grafana and grafana-clickhouse-datasource (v4)
// replace before a query reaches ClickHouse: $__timeFilter(col) becomes
// "col >= toDateTime(from) AND col <= toDateTime(to)" (pkg/macros in the
// plugin; seconds, UTC), $__fromTime and $__toTime "toDateTime(n)", and
// ${var} or ${var:singlequote} the variable's values (a multi-value
// variable's quoted and comma-separated, or its allValue for All).
func expand(sql string, from, to time.Time, vars map[string][]string) string {
	sql = regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`).ReplaceAllStringFunc(sql, func(m string) string {
		col := strings.TrimSpace(m[len("$__timeFilter(") : len(m)-1])
		return fmt.Sprintf("%s >= toDateTime(%d) AND %s <= toDateTime(%d)", col, from.Unix(), col, to.Unix())
	})
	sql = strings.ReplaceAll(sql, "$__fromTime", fmt.Sprintf("toDateTime(%d)", from.Unix()))
	sql = strings.ReplaceAll(sql, "$__toTime", fmt.Sprintf("toDateTime(%d)", to.Unix()))
	return regexp.MustCompile(`\$\{(\w+)(:singlequote)?\}`).ReplaceAllStringFunc(sql, func(m string) string {
		name, quote, _ := strings.Cut(strings.Trim(m, "${}"), ":")
		vals := vars[name]
		if quote == "" {
			return strings.Join(vals, ",")
		}
		if len(vals) == 1 && vals[0] == "'__all'" {
			return vals[0] // a custom allValue goes in as it is
		}
		q := make([]string, len(vals))
		for i, v := range vals {
			q[i] = "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
		}
		return strings.Join(q, ",")
	})
}

func TestDashboardQueries(t *testing.T) {
	b, err := os.ReadFile("dashboards/marcador-kpis.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	kpitest.Load(t, conn, db)
	ctx := context.Background()
	// The dashboards read the roll-ups as serve's refresher leaves them;
	// now is ClickHouse's own (now() in the funnel).
	k, err := kpi.New(conn, db, kpi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Refresh(ctx, kpi.RefreshScope{}); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 3, 1, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 4, 59, 59, 0, time.UTC)
	all := map[string][]string{"db": {db}, "tz": {"America/Bogota"}, "campaign": {"'__all'"}, "country": {"'__all'"},
		"segment": {"'__all'"}}
	some := map[string][]string{"db": {db}, "tz": {"America/Bogota"}, "campaign": {"c1", "c2"}, "country": {"MX", "CO"},
		"segment": {"early", "late"}}
	results := map[int][][]any{}
	for _, p := range d.Panels {
		if len(p.Targets) != 1 || wantColumns[p.ID] == nil {
			t.Fatalf("panel %d %q: %d targets, expected columns %v", p.ID, p.Title, len(p.Targets), wantColumns[p.ID])
		}
		for _, vars := range []map[string][]string{all, some} {
			sql := expand(p.Targets[0].RawSQL, from, to, vars)
			rows, err := conn.Query(ctx, sql)
			if err != nil {
				t.Fatalf("panel %d %q: %v\n%s", p.ID, p.Title, err, sql)
			}
			var cols []string
			for _, c := range rows.ColumnTypes() {
				cols = append(cols, c.Name())
			}
			if !reflect.DeepEqual(cols, wantColumns[p.ID]) {
				t.Errorf("panel %d %q: columns %v, want %v", p.ID, p.Title, cols, wantColumns[p.ID])
			}
			var out [][]any
			for rows.Next() {
				vals := make([]any, len(cols))
				for i, c := range rows.ColumnTypes() {
					vals[i] = reflect.New(c.ScanType()).Interface()
				}
				if err := rows.Scan(vals...); err != nil {
					t.Fatalf("panel %d: %v", p.ID, err)
				}
				out = append(out, vals)
			}
			rows.Close()
			if vars["campaign"][0] == "'__all'" {
				results[p.ID] = out
			}
		}
	}
	// The figures match the API's, in the same zone and days.
	v := map[string][]string{"from": {"2026-03-01"}, "to": {"2026-03-14"}, "tz": {"America/Bogota"}, "by": {"day"}}
	f, by, err := kpi.ParseQuery(v, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := k.Report(ctx, f, by, kpi.Rollup)
	if err != nil {
		t.Fatal(err)
	}
	var attempts uint64
	for _, r := range results[1] {
		attempts += count(r[1])
	}
	if attempts != rep.Total.Attempts || len(results[1]) != len(rep.Rows)-countPromiseOnlyDays(rep) {
		t.Errorf("trend: %d attempts over %d days, the API: %d over %d rows", attempts, len(results[1]), rep.Total.Attempts, len(rep.Rows))
	}
	funnel := results[3][0]
	if got := [4]uint64{count(funnel[0]), count(funnel[1]), count(funnel[2]), count(funnel[3])}; got !=
		[4]uint64{rep.Total.Promises, rep.Total.Kept, rep.Total.Broken, rep.Total.Pending} {
		t.Errorf("funnel %v, the API: %d promises, %d kept, %d broken, %d pending", got, rep.Total.Promises, rep.Total.Kept,
			rep.Total.Broken, rep.Total.Pending)
	}
	if len(results[5]) != 2 || len(results[4]) == 0 {
		t.Errorf("agents %v, best time %d cells", results[5], len(results[4]))
	}
	// The variables' own queries run too.
	for _, tv := range d.Templating.List {
		if tv.Type != "query" {
			continue
		}
		rows, err := conn.Query(ctx, expand(tv.Query, from, to, all))
		if err != nil {
			t.Fatalf("variable %s: %v", tv.Name, err)
		}
		rows.Close()
		if tv.AllValue != "'__all'" {
			t.Errorf("variable %s: allValue %q, the panels test for '__all'", tv.Name, tv.AllValue)
		}
	}
}

// countPromiseOnlyDays counts the report's days that have promises or
// payments but no attempts (the trend panel shows days with attempts).
func countPromiseOnlyDays(rep *kpi.Report) int {
	n := 0
	for _, r := range rep.Rows {
		if r.Attempts == 0 {
			n++
		}
	}
	return n
}

// count reads a scanned integer of any width.
func count(v any) uint64 {
	e := reflect.ValueOf(v).Elem()
	if e.CanInt() {
		return uint64(e.Int())
	}
	return e.Uint()
}
