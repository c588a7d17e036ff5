// Package writertest runs a real attempt writer for tests: its spool in the
// test's temporary directory, flushing every 50ms into database db, stopped
// when the test ends.
package writertest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics/spool"
	"github.com/marcador/marcador/analytics/writer"
)

// Start returns a running writer into db.
func Start(t testing.TB, conn driver.Conn, db string) *writer.Writer {
	t.Helper()
	w, err := writer.New(writer.Options{Conn: conn, Database: db, Spool: spool.Options{Dir: filepath.Join(t.TempDir(), "spool")},
		FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go w.Run(ctx)
	t.Cleanup(func() { stop(); w.Close() })
	return w
}
