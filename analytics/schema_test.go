package analytics_test

import (
	"context"
	"testing"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn) // first run applies everything
	ctx := context.Background()
	again, err := analytics.Migrate(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Fatalf("second run applied %d migrations", len(again))
	}
	for _, tbl := range analytics.Tables() {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ?", db, tbl.Name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if int(n) != len(tbl.Columns) {
			t.Fatalf("%s has %d columns, writer sends %d", tbl.Name, n, len(tbl.Columns))
		}
	}
	if _, err := analytics.Migrate(ctx, conn, "bad-name;"); err == nil {
		t.Fatal("bad database name accepted")
	}
}
