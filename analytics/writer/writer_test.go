package writer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/analytics/spool"
)

func attempt(campaign string, i int) *analytics.Attempt {
	t0 := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return &analytics.Attempt{
		AttemptID: fmt.Sprintf("%s-%07d", campaign, i), CampaignID: campaign, AccountID: "acct-" + strconv.Itoa(i%97),
		Phone: "+573001234567", Channel: analytics.Voice, NodeID: "test", StartedAt: t0, EndedAt: t0.Add(30 * time.Second),
		RingMS: 4000, TalkMS: 26000, SIPCode: 200, Disposition: "answered", Ver: 1,
	}
}

func startWriter(t *testing.T, conn driver.Conn, db, dir string, opt Options) (*Writer, func()) {
	t.Helper()
	opt.Conn, opt.Database = conn, db
	opt.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	opt.Spool.Dir = dir
	if opt.FlushInterval == 0 {
		opt.FlushInterval = 50 * time.Millisecond
	}
	if opt.MinBackoff == 0 {
		opt.MinBackoff, opt.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	}
	w, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	return w, func() { cancel(); <-done; w.Close() }
}

func countFinal(t *testing.T, conn driver.Conn, db, campaign string) (rows, distinct uint64) {
	t.Helper()
	err := conn.QueryRow(context.Background(),
		"SELECT count(), uniqExact(attempt_id) FROM "+db+".contact_attempts FINAL WHERE campaign_id = ?", campaign).Scan(&rows, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

func TestWriteFlushAllTables(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	reg := prometheus.NewRegistry()
	w, stop := startWriter(t, conn, db, t.TempDir(), Options{BatchRows: 1000, Metrics: NewMetrics(reg)})
	defer stop()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1250 {
				if err := w.Write(ctx, attempt("c-all", g*1250+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	a := attempt("c-all", 0)
	a.Ver, a.Disposition, a.PromiseAmount = 2, "promise", decimal.RequireFromString("1250.50")
	a.PromiseDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	w.Write(ctx, a) // a newer version of attempt 0
	w.Write(ctx, &analytics.Promise{PromiseID: "p1", CampaignID: "c-all", AccountID: "acct-0", AttemptID: a.AttemptID,
		Channel: analytics.PromiseIVR, CreatedAt: time.Now(), DueDate: a.PromiseDate, Amount: a.PromiseAmount, Currency: "MXN", Status: "open", Ver: 1})
	w.Write(ctx, &analytics.Payment{PaymentID: "y1", CampaignID: "c-all", AccountID: "acct-0", PaidAt: time.Now(), Amount: decimal.NewFromInt(100), Currency: "MXN", Ver: 1})
	w.Write(ctx, &analytics.Message{MessageSID: "SM1", Direction: "inbound", Phone: "+525512345678", Channel: analytics.SMS,
		Body: "BAJA", Action: "optout", At: time.Now(), Ver: 1})
	if err := w.Write(ctx, &analytics.Attempt{AttemptID: "bad"}); err == nil {
		t.Fatal("invalid attempt accepted")
	}

	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if rows, distinct := countFinal(t, conn, db, "c-all"); rows != 5000 || distinct != 5000 {
		t.Fatalf("FINAL rows=%d distinct=%d, want 5000", rows, distinct)
	}
	var disp string
	var amt decimal.Decimal
	if err := conn.QueryRow(ctx, "SELECT disposition, promise_amount FROM "+db+".contact_attempts FINAL WHERE attempt_id = ?", a.AttemptID).Scan(&disp, &amt); err != nil {
		t.Fatal(err)
	}
	if disp != "promise" || !amt.Equal(decimal.RequireFromString("1250.50")) {
		t.Fatalf("newest version not seen: %s %s", disp, amt)
	}
	var np, ny, nm uint64
	conn.QueryRow(ctx, "SELECT count() FROM "+db+".promises FINAL").Scan(&np)
	conn.QueryRow(ctx, "SELECT count() FROM "+db+".payments FINAL").Scan(&ny)
	conn.QueryRow(ctx, "SELECT count() FROM "+db+".messages FINAL").Scan(&nm)
	if np != 1 || ny != 1 || nm != 1 {
		t.Fatalf("promises=%d payments=%d messages=%d", np, ny, nm)
	}
	if w.Queued() != 0 {
		t.Fatalf("queued = %d after flush", w.Queued())
	}
}

// ClickHouse stops in the middle of a run and comes back: every attempt
// arrives exactly once as seen through FINAL.
func TestSurvivesClickHouseStopStart(t *testing.T) {
	srv := chtest.StartServer(t)
	conn, err := analytics.Dial(analytics.ConnOptions{Addr: []string{srv.Addr}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const db = "marcador"
	if _, err := analytics.Migrate(context.Background(), conn, db); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	w, stop := startWriter(t, conn, db, dir, Options{BatchRows: 500, InsertTimeout: 3 * time.Second, Metrics: NewMetrics(reg)})
	defer stop()
	ctx := context.Background()
	const total = 20000
	for i := range total {
		if i == 5000 {
			srv.Stop()
		}
		if i == 15000 {
			// The flusher has tried (and failed) while down before it comes back.
			polltest.Eventually(t, 60*time.Second, func() bool { return metricValue(t, reg, "marcador_writer_flush_errors_total") > 0 },
				"a failed insert while the server was stopped")
			srv.Start()
		}
		if err := w.Write(ctx, attempt("c-stop", i)); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if rows, distinct := countFinal(t, conn, db, "c-stop"); rows != total || distinct != total {
		t.Fatalf("FINAL rows=%d distinct=%d, want %d", rows, distinct, total)
	}
	// Down is retried, never taken for refused data.
	if q := readQuarantine(t, dir); len(q) != 0 || metricValue(t, reg, "marcador_writer_refused_batches_total") != 0 {
		t.Fatalf("quarantined while ClickHouse was down: %+v", q)
	}
}

// The helper process writes attempts and prints each one once Write has
// acknowledged it; the test SIGKILLs it and replays the spool in a new writer.
func TestHelperWriterProcess(t *testing.T) {
	dir := os.Getenv("MARCADOR_WRITER_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	// ClickHouse is unreachable for the helper: everything stays spooled.
	conn, _ := analytics.Dial(analytics.ConnOptions{Addr: []string{"127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond})
	w, err := New(Options{Conn: conn, Database: "x", Spool: spool.Options{Dir: dir, Fsync: spool.FsyncBatch}, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run(context.Background())
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		if err := w.Write(context.Background(), attempt("c-kill", i)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "ack %d\n", i)
		out.Flush()
	}
}

func TestReplayAfterSIGKILL(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriterProcess$")
	cmd.Env = append(os.Environ(), "MARCADOR_WRITER_HELPER_DIR="+dir)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	acked := -1
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked, _ = strconv.Atoi(n)
		}
		if acked >= 3000 {
			break
		}
	}
	cmd.Process.Kill() // SIGKILL: no deferred code, no flush
	cmd.Wait()
	if acked < 3000 {
		t.Fatalf("helper acknowledged only %d", acked)
	}
	w, stop := startWriter(t, conn, db, dir, Options{})
	defer stop()
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	var missing int64
	err := conn.QueryRow(context.Background(), fmt.Sprintf(
		"SELECT %d - count() FROM (SELECT DISTINCT attempt_id FROM %s.contact_attempts WHERE campaign_id = 'c-kill' AND toUInt32(substring(attempt_id, 8)) <= %d)",
		acked+1, db, acked)).Scan(&missing)
	if err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Fatalf("%d acknowledged attempts lost after SIGKILL", missing)
	}
}

func TestBackPressureWhenSpoolFull(t *testing.T) {
	conn, _ := analytics.Dial(analytics.ConnOptions{Addr: []string{"127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond})
	reg := prometheus.NewRegistry()
	w, stop := startWriter(t, conn, "x", t.TempDir(), Options{Spool: spool.Options{MaxBytes: 4096}, Metrics: NewMetrics(reg)})
	defer stop()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err = w.Write(ctx, attempt("c-full", i))
		cancel()
	}
	if !errors.Is(err, spool.ErrFull) {
		t.Fatalf("err = %v, want spool.ErrFull", err)
	}
	if !w.Saturated() {
		t.Fatal("Saturated() = false")
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "marcador_writer_spool_full" && mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Fatal("spool_full gauge not raised")
		}
	}
}
