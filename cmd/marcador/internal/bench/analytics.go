// Package bench is `marcador bench`: measured runs of the attempt writer
// (analytics), the SIP and media path (sip) and answering-machine detection
// (amd), each printing a table and, on request, JSON, with a baseline in
// the same run.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
)

type analyticsResult struct {
	Rows              int     `json:"rows"`
	RowsPerS          float64 `json:"rows_per_s"`
	BaselineRowsPerS  float64 `json:"baseline_rows_per_s"`
	Ratio             float64 `json:"ratio"`
	WriterSeconds     float64 `json:"writer_s"`
	BaselineSeconds   float64 `json:"baseline_s"`
	WriteCallP99Micro float64 `json:"write_call_p99_us"`
	Fsync             string  `json:"fsync"`
	BatchRows         int     `json:"batch_rows"`
	Producers         int     `json:"producers"`
}

// AnalyticsOptions of `bench analytics`.
type AnalyticsOptions struct {
	Config    config.Config // ClickHouse to use and spool settings
	Rows      int           // synthetic attempts to write
	Producers int           // goroutines calling Write concurrently (the call path)
	Fsync     string        // spool fsync policy for the run: always, batch or never
	JSON      bool          // also print the result as JSON
}

// Analytics writes the same synthetic attempts through the writer and spool
// and through plain clickhouse-go batches, each into a fresh database, and
// prints both with their ratio.
func Analytics(ctx context.Context, o AnalyticsOptions, stdout, stderr io.Writer) error {
	cfg := o.Config
	cfg.Spool.Fsync = o.Fsync
	if err := cfg.Validate(); err != nil {
		return err
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.ClickHouse, Logger: discard()})
	if err != nil {
		return err
	}
	defer a.Close()
	conn := a.Conn
	// Two fresh databases so neither run pays for the other's data.
	dbW, dbB := cfg.ClickHouse.Database+"_bench_writer", cfg.ClickHouse.Database+"_bench_baseline"
	for _, db := range []string{dbW, dbB} {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return fmt.Errorf("drop %s: %w", db, err)
		}
		if _, err := analytics.Migrate(ctx, conn, db); err != nil {
			return err
		}
		defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	}
	fmt.Fprintf(stderr, "generating %d attempts...\n", o.Rows)
	data := syntheticAttempts(o.Rows)

	fmt.Fprintf(stderr, "baseline: plain clickhouse-go batches of %d...\n", cfg.Spool.BatchRows)
	baseT, err := baselineInsert(ctx, conn, dbB, data, cfg.Spool.BatchRows)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "writer: %d producers, spool fsync=%s...\n", o.Producers, o.Fsync)
	writerT, p99, err := writerInsert(ctx, cfg, dbW, data, o.Producers)
	if err != nil {
		return err
	}
	for _, db := range []string{dbW, dbB} {
		if err := countAttempts(ctx, conn, db, len(data)); err != nil {
			return err
		}
	}
	res := analyticsResult{
		Rows: len(data), RowsPerS: float64(len(data)) / writerT.Seconds(), BaselineRowsPerS: float64(len(data)) / baseT.Seconds(),
		WriterSeconds: writerT.Seconds(), BaselineSeconds: baseT.Seconds(), WriteCallP99Micro: float64(p99.Microseconds()),
		Fsync: o.Fsync, BatchRows: cfg.Spool.BatchRows, Producers: o.Producers,
	}
	res.Ratio = res.RowsPerS / res.BaselineRowsPerS
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "path\trows\tseconds\trows/s\n")
	fmt.Fprintf(tw, "plain batch insert (baseline)\t%d\t%.2f\t%.0f\n", res.Rows, res.BaselineSeconds, res.BaselineRowsPerS)
	fmt.Fprintf(tw, "writer + spool (fsync=%s)\t%d\t%.2f\t%.0f\n", o.Fsync, res.Rows, res.WriterSeconds, res.RowsPerS)
	tw.Flush()
	fmt.Fprintf(stdout, "ratio writer/baseline: %.2f   Write() call p99: %.1f µs\n", res.Ratio, res.WriteCallP99Micro)
	if o.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	return nil
}

// countAttempts fails unless db holds want attempts.
func countAttempts(ctx context.Context, conn driver.Conn, db string, want int) error {
	r, err := analytics.NewReader(conn, db)
	if err != nil {
		return err
	}
	rows, err := r.Rows(ctx)
	if err != nil {
		return err
	}
	for _, t := range rows {
		if t.Table == analytics.AttemptsTable().Name && int(t.Rows) != want {
			return fmt.Errorf("%s holds %d attempts, want %d", db, t.Rows, want)
		}
	}
	return nil
}

func syntheticAttempts(n int) []analytics.Attempt {
	r := rand.New(rand.NewPCG(1, 2))
	disps := []string{analytics.Answered, analytics.NoAnswer, analytics.Busy, analytics.Machine, analytics.InvalidNumber, analytics.NetworkError}
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	out := make([]analytics.Attempt, n)
	for i := range out {
		start := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		d := disps[r.IntN(len(disps))]
		a := analytics.Attempt{
			AttemptID: analytics.NewAttemptID(), CampaignID: fmt.Sprintf("bench-%d", i%4), AccountID: fmt.Sprintf("ACC%07d", r.IntN(200000)),
			Phone: fmt.Sprintf("+52155%08d", r.IntN(1e8)), Channel: analytics.Voice, NodeID: "bench", Trunk: "sim", AttemptNo: uint16(1 + r.IntN(5)),
			StartedAt: start, EndedAt: start.Add(time.Duration(5+r.IntN(120)) * time.Second), RingMS: uint32(2000 + r.IntN(20000)),
			SIPCode: 200, Disposition: d, Country: "MX", Currency: "MXN", Ver: uint64(start.UnixNano()),
		}
		if d == analytics.Answered {
			a.AnsweredAt, a.TalkMS, a.AMD, a.DTMF, a.IVRPath = start.Add(5*time.Second), uint32(10000+r.IntN(90000)), "human", "1", "greet>menu>promise"
			a.PromiseAmount = decimal.New(int64(r.IntN(500000)), -2)
		}
		a.SetLocalTime(time.UTC)
		out[i] = a
	}
	return out
}

func baselineInsert(ctx context.Context, conn driver.Conn, db string, data []analytics.Attempt, batch int) (time.Duration, error) {
	tbl := analytics.AttemptsTable()
	start := time.Now()
	for i := 0; i < len(data); i += batch {
		b, err := conn.PrepareBatch(ctx, tbl.InsertSQL(db))
		if err != nil {
			return 0, err
		}
		for j := i; j < min(i+batch, len(data)); j++ {
			if err := analytics.AppendAttempt(b, &data[j]); err != nil {
				return 0, err
			}
		}
		if err := b.Send(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// writerInsert writes data through a writer of its own into db, from
// producers goroutines, and returns how long until every row was in
// ClickHouse and the 99th percentile of a Write call.
func writerInsert(ctx context.Context, cfg config.Config, db string, data []analytics.Attempt, producers int) (time.Duration, time.Duration, error) {
	dir, err := os.MkdirTemp("", "marcador-bench-spool-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	cfg.Spool.Dir, cfg.ClickHouse.Database = dir, db
	cfg.Spool.MaxBytes = 8 << 30
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Writer, Logger: discard()})
	if err != nil {
		return 0, 0, err
	}
	defer a.Close()
	a.Start(ctx)
	w := a.Writer

	start := time.Now()
	var wg sync.WaitGroup
	lat := make([][]time.Duration, producers)
	errs := make(chan error, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < len(data); i += producers {
				t := time.Now()
				if err := w.Write(ctx, &data[i]); err != nil {
					errs <- err
					return
				}
				if i%64 == 0 {
					lat[p] = append(lat[p], time.Since(t))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	if err := w.Flush(ctx); err != nil {
		return 0, 0, err
	}
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return elapsed, percentile(all, 0.99), nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// discard is the logger of a part whose lines would disturb a measurement.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
