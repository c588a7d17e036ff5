package kpi_test

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
)

// insert sends rows to ClickHouse as the writer does, one batch per table;
// inserting the same rows again is a replayed batch.
func insert(t testing.TB, conn driver.Conn, db string, rows ...analytics.Row) {
	t.Helper()
	ctx := context.Background()
	byTable := map[*analytics.Table][]analytics.Row{}
	var order []*analytics.Table
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			t.Fatalf("fixture row: %v", err)
		}
		rec, _ := r.AppendBinary(nil)
		tbl, err := analytics.TableOf(rec)
		if err != nil {
			t.Fatal(err)
		}
		if byTable[tbl] == nil {
			order = append(order, tbl)
		}
		byTable[tbl] = append(byTable[tbl], r)
	}
	for _, tbl := range order {
		b, err := conn.PrepareBatch(ctx, tbl.InsertSQL(db))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range byTable[tbl] {
			if err := tbl.Append(b, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatalf("insert into %s: %v", tbl.Name, err)
		}
	}
}
