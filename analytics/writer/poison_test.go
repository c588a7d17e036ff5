package writer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/spool"
)

var paidAt = time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)

func payment(id, amount string) *analytics.Payment {
	return &analytics.Payment{PaymentID: id, CampaignID: "c-poison", AccountID: "a1", PaidAt: paidAt,
		Amount: decimal.RequireFromString(amount), Currency: "MXN", Method: "link", Ver: 1}
}

// spoolRaw appends a row to the spool as Write would, without Write's checks:
// how a row spooled by an older binary (or a bug) looks to the writer.
func spoolRaw(t *testing.T, s *spool.Spool, row analytics.Row) {
	t.Helper()
	b, err := row.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func readQuarantine(t *testing.T, spoolDir string) []QuarantineEntry {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(spoolDir, "quarantine", "refused-*.jsonl"))
	var out []QuarantineEntry
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e QuarantineEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("%s: %v: %s", f, err, sc.Bytes())
			}
			out = append(out, e)
		}
		fh.Close()
	}
	return out
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func paymentIDs(t *testing.T, conn driver.Conn, db string) map[string]bool {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT payment_id FROM "+db+".payments FINAL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids[id] = true
	}
	return ids
}

func flushWithin(t *testing.T, w *Writer, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("flush within %s: %v (state %+v)", d, err, w.State())
	}
}

// The reported bug: a payment of 1e30 in a segment blocked it, and every
// later row, for ever. Now it is quarantined with the reason, its batch
// goes in, and rows written after it arrive within seconds.
func TestPoisonRowQuarantinedRestDelivered(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	w, stop := startWriter(t, conn, db, dir, Options{BatchRows: 1000, Metrics: NewMetrics(reg)})
	defer stop()
	ctx := context.Background()
	for i := range 100 {
		w.Write(ctx, attempt("c-poison", i))
	}
	w.Write(ctx, payment("y-ok-1", "250.00"))
	if err := w.Write(ctx, payment("p5", "1e30")); analytics.FieldOf(err) != "amount" {
		t.Fatalf("Write accepted a 1e30 payment: %v", err)
	}
	spoolRaw(t, w.spool, payment("p5", "1e30"))
	w.Write(ctx, payment("y-ok-2", "0.01"))
	for i := 100; i < 200; i++ {
		w.Write(ctx, attempt("c-poison", i))
	}
	flushWithin(t, w, 30*time.Second)
	if rows, _ := countFinal(t, conn, db, "c-poison"); rows != 200 {
		t.Fatalf("attempts in ClickHouse = %d, want 200", rows)
	}
	if ids := paymentIDs(t, conn, db); !ids["y-ok-1"] || !ids["y-ok-2"] || ids["p5"] || len(ids) != 2 {
		t.Fatalf("payments in ClickHouse: %v", ids)
	}
	q := readQuarantine(t, dir)
	if len(q) != 1 || q[0].Table != "payments" || q[0].Row["payment_id"] != "p5" || q[0].RefusedBy != "marcador" ||
		!strings.Contains(q[0].Reason, "amount") || !strings.Contains(q[0].Reason, "out of range") || len(q[0].Record) == 0 {
		t.Fatalf("quarantine: %+v", q)
	}
	if n := metricValue(t, reg, "marcador_writer_quarantined_rows_total", "table", "payments"); n != 1 {
		t.Fatalf("quarantined_rows_total{table=payments} = %v", n)
	}
	if st := w.State(); st.QuarantinedRows != 1 || st.QueuedRows != 0 || st.OldestUnsent != 0 {
		t.Fatalf("state %+v", st)
	}
	// Rows written after the poison arrive within seconds.
	for i := 200; i < 250; i++ {
		w.Write(ctx, attempt("c-poison", i))
	}
	flushWithin(t, w, 10*time.Second)
	if rows, _ := countFinal(t, conn, db, "c-poison"); rows != 250 {
		t.Fatalf("attempts after the poison = %d, want 250", rows)
	}
	if len(readQuarantine(t, dir)) != 1 {
		t.Fatal("the poison row was quarantined again")
	}
}

// The same with the poisoned segment already on disk when the writer starts
// (it used to survive restarts).
func TestPoisonedSegmentOnDiskAtStart(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	dir := t.TempDir()
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		spoolRaw(t, sp, attempt("c-disk", i))
		if i == 150 {
			spoolRaw(t, sp, payment("p5", "1e30"))
			bad := attempt("c-disk", 100000)
			bad.PromiseDate = time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC) // stored as 2042 by the old writer
			spoolRaw(t, sp, bad)
		}
	}
	spoolRaw(t, sp, payment("y-ok", "99.90"))
	sp.Close() // as a crashed or stopped process leaves it

	reg := prometheus.NewRegistry()
	w, stop := startWriter(t, conn, db, dir, Options{Metrics: NewMetrics(reg), BatchRows: 100}) // the segment is read in chunks
	defer stop()
	flushWithin(t, w, 30*time.Second)
	if rows, _ := countFinal(t, conn, db, "c-disk"); rows != 300 {
		t.Fatalf("attempts = %d, want 300", rows)
	}
	if ids := paymentIDs(t, conn, db); !ids["y-ok"] || ids["p5"] {
		t.Fatalf("payments: %v", ids)
	}
	q := readQuarantine(t, dir)
	reasons := map[string]string{}
	for _, e := range q {
		reasons[e.Table] = e.Reason
	}
	if len(q) != 2 || !strings.Contains(reasons["payments"], "amount") || !strings.Contains(reasons["contact_attempts"], "promise_date") {
		t.Fatalf("quarantine: %+v", q)
	}
	if n := metricValue(t, reg, "marcador_writer_quarantined_rows_total", "table", "contact_attempts"); n != 1 {
		t.Fatalf("quarantined attempts metric = %v", n)
	}
	ctx := context.Background()
	w.Write(ctx, attempt("c-disk", 300))
	flushWithin(t, w, 10*time.Second)
	if rows, _ := countFinal(t, conn, db, "c-disk"); rows != 301 {
		t.Fatalf("attempts after start = %d, want 301", rows)
	}
}

// ClickHouse itself refuses one row (here a MATERIALIZED throwIf, as an
// operator's check would): the batch is split until that row is alone, it
// goes to quarantine with the server's reason and code, the rest goes in.
func TestServerRefusedRowQuarantined(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	ctx := context.Background()
	if err := conn.Exec(ctx, "ALTER TABLE "+db+".payments ADD COLUMN guard UInt8 MATERIALIZED throwIf(amount > 1000000)"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	// One batch of the default size (spool.batch_rows 10000).
	w, stop := startWriter(t, conn, db, dir, Options{BatchRows: 10001, FlushInterval: time.Minute, Metrics: NewMetrics(reg)})
	defer stop()
	const n = 10000
	for i := range n {
		w.Write(ctx, payment(fmt.Sprintf("y-%05d", i), "120.50"))
		if i == 6133 {
			if err := w.Write(ctx, payment("big", "5000000.00")); err != nil {
				t.Fatal(err) // a valid value for us; the server's rule refuses it
			}
		}
	}
	start := time.Now()
	flushWithin(t, w, 30*time.Second)
	took := time.Since(start)
	if ids := paymentIDs(t, conn, db); len(ids) != n || ids["big"] {
		t.Fatalf("payments in ClickHouse: %d (big: %v)", len(ids), ids["big"])
	}
	q := readQuarantine(t, dir)
	if len(q) != 1 || q[0].Row["payment_id"] != "big" || q[0].RefusedBy != "clickhouse" || q[0].Code != 395 ||
		!strings.Contains(q[0].Reason, "throwIf") {
		t.Fatalf("quarantine: %+v", q)
	}
	if metricValue(t, reg, "marcador_writer_refused_batches_total") != 1 ||
		metricValue(t, reg, "marcador_writer_quarantined_rows_total", "table", "payments") != 1 {
		t.Fatal("refused batch or quarantined row not counted")
	}
	t.Logf("one batch of %d payments, one refused by the server, delivered in %s", n+1, took.Round(time.Millisecond))
}

// The driver refuses a value for the column ClickHouse declares (the
// table's amount narrowed to Decimal(9, 2) behind our back): that row is
// quarantined with the driver's reason, the batch is built again without it.
func TestDriverRefusedRowQuarantined(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	ctx := context.Background()
	if err := conn.Exec(ctx, "ALTER TABLE "+db+".payments MODIFY COLUMN amount Decimal(9, 2)"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	w, stop := startWriter(t, conn, db, dir, Options{BatchRows: 5000, Metrics: NewMetrics(reg)})
	defer stop()
	for i := range 200 {
		w.Write(ctx, payment(fmt.Sprintf("y-%03d", i), "10.00"))
		if i == 50 || i == 150 {
			w.Write(ctx, payment(fmt.Sprintf("huge-%d", i), "123456789012.00"))
		}
	}
	flushWithin(t, w, 30*time.Second)
	if ids := paymentIDs(t, conn, db); len(ids) != 200 || ids["huge-50"] || ids["huge-150"] {
		t.Fatalf("payments in ClickHouse: %d", len(ids))
	}
	q := readQuarantine(t, dir)
	if len(q) != 2 || q[0].RefusedBy != "driver" || !strings.Contains(q[0].Reason, "overflows Decimal32") {
		t.Fatalf("quarantine: %+v", q)
	}
}

// Not refusing anything while ClickHouse is unreachable: the rows wait, the
// age of the oldest one grows, and Check turns to "behind" past MaxLag.
func TestUnreachableIsBehindNotQuarantined(t *testing.T) {
	conn, _ := analytics.Dial(analytics.ConnOptions{Addr: []string{"127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond})
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	w, stop := startWriter(t, conn, "x", dir, Options{Metrics: NewMetrics(reg), MaxLag: 5 * time.Minute, Now: now})
	defer stop()
	ctx := context.Background()
	for i := range 10 {
		if err := w.Write(ctx, attempt("c-down", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Wait (bounded) until the writer has tried and failed.
	deadline := time.Now().Add(20 * time.Second)
	for w.State().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatal("no failed insert recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.Check(ctx); err != nil {
		t.Fatalf("behind after no time at all: %v", err)
	}
	clock.Add(int64(6 * time.Minute))
	st := w.State()
	if st.OldestUnsent < 6*time.Minute || st.QueuedRows != 10 || st.QuarantinedRows != 0 || st.RefusedBatches != 0 {
		t.Fatalf("state %+v", st)
	}
	if err := w.Check(ctx); err == nil || !strings.HasPrefix(err.Error(), "behind: oldest unsent row is 6m0s old") || strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("check: %v", err)
	}
	if v := metricValue(t, reg, "marcador_writer_oldest_unsent_seconds"); v < 360 {
		t.Fatalf("oldest_unsent_seconds = %v", v)
	}
	if q := readQuarantine(t, dir); len(q) != 0 {
		t.Fatalf("quarantined while ClickHouse is down: %+v", q)
	}
}
