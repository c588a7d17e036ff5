package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
)

// marcador report prints what GET /api/v1/kpis answers: its JSON is the
// API's, its CSV holds the same figures, its table the total.
func TestReportAgreesWithTheAPI(t *testing.T) {
	t.Parallel()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	kpitest.Load(t, conn, db)
	costs := `kpi:
  costs:
    currency: USD
    trunks: {t1: {per_call: 0.01, per_minute: 0.02}, t2: {per_call: 0.02, per_minute: 0.01}}
    sms_per_segment: 0.0075
    whatsapp_per_message: 0.005`
	cfgPath := writeConfig(t, "127.0.0.1:0", db, costs)
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The API as serve builds it from the same config.
	k, err := kpi.New(conn, db, cfg.KPI.Options())
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(httpapi.New(httpapi.Options{KPIs: k, Tokens: []string{"report-token-0123456789"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer api.Close()
	query := "campaign=c1&campaign=c2&campaign=promises&from=2026-03-01&to=2026-03-14&by=day&tz=America/Bogota"
	req, _ := http.NewRequest("GET", api.URL+"/api/v1/kpis?"+query, nil)
	req.Header.Set("Authorization", "Bearer report-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("api: %v %v", resp, err)
	}
	var fromAPI kpi.Report
	json.NewDecoder(resp.Body).Decode(&fromAPI)
	resp.Body.Close()

	report := func(format string) string {
		var out, errb bytes.Buffer
		args := []string{"report", "-config", cfgPath, "-campaign", "c1,c2", "-campaign", "promises", "-from", "2026-03-01",
			"-to", "2026-03-14", "-by", "day", "-tz", "America/Bogota", "-format", format}
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("report -format %s exited %d: %s", format, code, errb.String())
		}
		return out.String()
	}
	var fromJSON kpi.Report
	if err := json.Unmarshal([]byte(report("json")), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, fromAPI) || len(fromAPI.Rows) < 3 || fromAPI.Total.Attempts != 13 {
		a, _ := json.Marshal(fromAPI)
		b, _ := json.Marshal(fromJSON)
		t.Fatalf("report JSON and API differ:\n%s\n%s", a, b)
	}
	// The CSV: one line per row and the total, each cell as the API's JSON
	// has it (amounts per currency in columns of their own).
	lines, err := csv.NewReader(strings.NewReader(report("csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := lines[0]
	want := append(fromAPI.Rows, fromAPI.Total)
	if len(lines) != len(want)+1 {
		t.Fatalf("csv: %d lines for %d rows", len(lines), len(want))
	}
	for i, row := range want {
		b, _ := json.Marshal(row)
		var m map[string]any
		json.Unmarshal(b, &m)
		for j, col := range head {
			cell := lines[i+1][j]
			// amount_MXN: the MXN entry of amount.
			v := m[col]
			if i := len(col) - 4; i > 0 && col[i] == '_' && strings.ToUpper(col[i+1:]) == col[i+1:] {
				if mm, ok := m[col[:i]].(map[string]any); ok {
					v = mm[col[i+1:]]
				}
			}
			if got, w := cell, jsonCell(v); got != w {
				t.Errorf("csv row %q column %s: %q, the API says %q", row.Key, col, got, w)
			}
		}
	}
	// And every figure of the API is a column.
	b, _ := json.Marshal(fromAPI.Total)
	var total map[string]any
	json.Unmarshal(b, &total)
	for name, v := range total {
		cols := []string{name}
		if mm, ok := v.(map[string]any); ok {
			cols = nil
			for cur := range mm {
				cols = append(cols, name+"_"+cur)
			}
		}
		for _, c := range cols {
			if !slices.Contains(head, c) {
				t.Errorf("csv has no column %s", c)
			}
		}
	}
	table := report("table")
	if !strings.Contains(table, "total") || !strings.Contains(table, "2026-03-09") || !strings.Contains(table, "attempts") {
		t.Fatalf("table:\n%s", table)
	}
	// A bad flag is refused naming it.
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"report", "-config", cfgPath, "-by", "week"}, io.Discard, &errb); code != 1 ||
		!strings.Contains(errb.String(), "-by") {
		t.Fatalf("report -by week: %d %s", code, errb.String())
	}
}

// jsonCell is a JSON value as the CSV writes it.
func jsonCell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}
