package main

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
	"github.com/marcador/marcador/cmd/marcador/internal/config"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "usage: marcador bench <analytics|sip|amd> [flags]\n\n  analytics  attempts/s through the spooled writer vs a plain clickhouse-go batch insert\n  sip        calls/s, concurrent two-way audio calls and RTP pacing against the carrier simulator\n  amd        answering-machine detection over the labelled corpus vs the reference profile\n")
		if len(args) == 0 {
			return fmt.Errorf("which benchmark?")
		}
		return nil
	}
	switch args[0] {
	case "analytics":
		return benchAnalytics(ctx, args[1:], stdout, stderr)
	case "sip":
		return benchSIP(ctx, args[1:], stdout, stderr)
	case "amd":
		return benchAMD(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown benchmark %q (want analytics, sip or amd)", args[0])
}

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

func benchAnalytics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench analytics", "bench analytics [-config FILE] [-rows N] [-producers N] [-fsync POLICY] [-json]", stderr)
	cfgPath := fs.String("config", "", "YAML config file: ClickHouse to use and spool settings")
	rows := fs.Int("rows", 1_000_000, "synthetic attempts to write")
	producers := fs.Int("producers", 4, "goroutines calling Write concurrently (the call path)")
	fsync := fs.String("fsync", "batch", "spool fsync policy for the run: always, batch or never")
	asJSON := fs.Bool("json", false, "also print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	cfg.Spool.Fsync = *fsync
	if err := cfg.Validate(); err != nil {
		return err
	}
	conn, err := analytics.Open(ctx, chOptions(cfg.ClickHouse))
	if err != nil {
		return err
	}
	defer conn.Close()
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
	fmt.Fprintf(stderr, "generating %d attempts...\n", *rows)
	data := syntheticAttempts(*rows)

	fmt.Fprintf(stderr, "baseline: plain clickhouse-go batches of %d...\n", cfg.Spool.BatchRows)
	baseT, err := baselineInsert(ctx, conn, dbB, data, cfg.Spool.BatchRows)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "writer: %d producers, spool fsync=%s...\n", *producers, *fsync)
	writerT, p99, err := writerInsert(ctx, conn, cfg, dbW, data, *producers)
	if err != nil {
		return err
	}
	for _, db := range []string{dbW, dbB} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".contact_attempts FINAL").Scan(&n); err != nil {
			return err
		}
		if int(n) != len(data) {
			return fmt.Errorf("%s holds %d attempts, want %d", db, n, len(data))
		}
	}
	res := analyticsResult{
		Rows: len(data), RowsPerS: float64(len(data)) / writerT.Seconds(), BaselineRowsPerS: float64(len(data)) / baseT.Seconds(),
		WriterSeconds: writerT.Seconds(), BaselineSeconds: baseT.Seconds(), WriteCallP99Micro: float64(p99.Microseconds()),
		Fsync: *fsync, BatchRows: cfg.Spool.BatchRows, Producers: *producers,
	}
	res.Ratio = res.RowsPerS / res.BaselineRowsPerS
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "path\trows\tseconds\trows/s\n")
	fmt.Fprintf(tw, "plain batch insert (baseline)\t%d\t%.2f\t%.0f\n", res.Rows, res.BaselineSeconds, res.BaselineRowsPerS)
	fmt.Fprintf(tw, "writer + spool (fsync=%s)\t%d\t%.2f\t%.0f\n", *fsync, res.Rows, res.WriterSeconds, res.RowsPerS)
	tw.Flush()
	fmt.Fprintf(stdout, "ratio writer/baseline: %.2f   Write() call p99: %.1f µs\n", res.Ratio, res.WriteCallP99Micro)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
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

func writerInsert(ctx context.Context, conn driver.Conn, cfg config.Config, db string, data []analytics.Attempt, producers int) (time.Duration, time.Duration, error) {
	dir, err := os.MkdirTemp("", "marcador-bench-spool-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	cfg.Spool.Dir, cfg.ClickHouse.Database = dir, db
	cfg.Spool.MaxBytes = 8 << 30
	w, err := newWriter(conn, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()

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
