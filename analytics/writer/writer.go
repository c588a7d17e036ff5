// Package writer delivers analytics rows to ClickHouse without losing any.
//
// Write appends the row to an on-disk spool and returns; it never waits for
// ClickHouse. Run seals the spool into segments of up to BatchRows rows (or
// every FlushInterval), inserts each segment as one batch per table, and
// deletes a segment only after ClickHouse accepted it. While ClickHouse is
// down it retries with capped exponential backoff and the spool grows; at
// spool.MaxBytes Write applies back-pressure. After a crash the segments left
// on disk are inserted again: rows may reach ClickHouse twice, and the
// ReplacingMergeTree tables collapse them (queries use FINAL or argMax by ver).
package writer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/spool"
)

// Options configures a Writer. Zero values take the documented defaults.
type Options struct {
	// Conn is the ClickHouse connection. Required; it may be down at start.
	Conn driver.Conn
	// Database holding the tables. Default "marcador".
	Database string
	// Spool options; Spool.Dir is required.
	Spool spool.Options
	// BatchRows seals a segment once it holds this many rows. Default 10000.
	BatchRows int
	// FlushInterval seals whatever is pending at least this often. Default 1s.
	FlushInterval time.Duration
	// MinBackoff and MaxBackoff bound the retry delay while inserts fail.
	// Defaults 200ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// InsertTimeout bounds one batch insert. Default 60s.
	InsertTimeout time.Duration
	Logger        *slog.Logger
	// Metrics, optional.
	Metrics *Metrics
}

// Writer is safe for concurrent use.
type Writer struct {
	opt   Options
	log   *slog.Logger
	spool *spool.Spool
	m     *Metrics

	bufs sync.Pool

	flushReq chan chan error
}

// New opens the spool (recovering what a previous process left) and returns a
// Writer. Call Run to deliver rows.
func New(opt Options) (*Writer, error) {
	if opt.Conn == nil {
		return nil, errors.New("writer: no ClickHouse connection")
	}
	if opt.Database == "" {
		opt.Database = "marcador"
	}
	if opt.BatchRows <= 0 {
		opt.BatchRows = 10000
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = time.Second
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 200 * time.Millisecond
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(30*time.Second, opt.MinBackoff)
	}
	if opt.InsertTimeout <= 0 {
		opt.InsertTimeout = 60 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	w := &Writer{opt: opt, log: opt.Logger, m: opt.Metrics, flushReq: make(chan chan error)}
	w.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	so := opt.Spool
	if so.Logger == nil {
		so.Logger = opt.Logger
	}
	userOnFull := so.OnFull
	so.OnFull = func(full bool) {
		w.m.setFull(full)
		if userOnFull != nil {
			userOnFull(full)
		}
	}
	sp, err := spool.Open(so)
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	w.spool = sp
	w.m.bind(sp)
	return w, nil
}

// Write spools one row. It returns once the row is on disk per the fsync
// policy; it waits only when the spool is full (back-pressure), until ctx ends.
func (w *Writer) Write(ctx context.Context, row analytics.Row) error {
	if err := row.Validate(); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	bp := w.bufs.Get().(*[]byte)
	defer w.bufs.Put(bp)
	b, err := row.AppendBinary((*bp)[:0])
	if err != nil {
		return fmt.Errorf("writer: encode: %w", err)
	}
	*bp = b
	if err := w.spool.Append(ctx, b); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	return nil
}

// Saturated reports whether the spool is full: callers that create work (a
// dialer originating calls) should hold off.
func (w *Writer) Saturated() bool { return w.spool.Full() }

// Queued is how many rows are spooled and not yet in ClickHouse.
func (w *Writer) Queued() int64 { return w.spool.Records() }

// Run delivers spooled rows until ctx ends. On return everything it could
// deliver is delivered; the rest stays in the spool for the next start.
func (w *Writer) Run(ctx context.Context) error {
	tick := time.NewTicker(w.opt.FlushInterval)
	defer tick.Stop()
	backoff := time.Duration(0)
	var retry <-chan time.Time
	var waiters []chan error
	for {
		force := false
		select {
		case <-ctx.Done():
			// A last, bounded attempt so a clean shutdown leaves little behind.
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := w.deliver(fctx, true)
			cancel()
			for _, c := range waiters {
				c <- errors.Join(ctx.Err(), err)
			}
			return nil
		case <-w.spool.Notify():
			if w.spool.Pending() < int64(w.opt.BatchRows) || retry != nil {
				continue
			}
		case <-tick.C:
			if retry != nil {
				continue
			}
			force = true
		case <-retry:
			retry = nil
			force = true
		case c := <-w.flushReq:
			waiters = append(waiters, c)
			force = true
		}
		err := w.deliver(ctx, force)
		if err == nil {
			backoff = 0
			for _, c := range waiters {
				c <- nil
			}
			waiters = waiters[:0]
			continue
		}
		backoff = nextBackoff(backoff, w.opt.MinBackoff, w.opt.MaxBackoff)
		delay := jitter(backoff)
		w.log.Warn("writer: insert failed, rows stay spooled; retrying",
			"err", err, "retry_in", delay.Round(time.Millisecond), "queued_rows", w.spool.Records(), "spool_bytes", w.spool.Bytes())
		retry = time.After(delay)
	}
}

func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	if cur < lo {
		cur = lo
	} else {
		cur *= 2
	}
	return min(cur, hi)
}

// jitter spreads retries over [d/2, d] so many nodes do not hammer a
// recovering server in step.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

// Flush seals what is pending and waits until every spooled row is in
// ClickHouse, or ctx ends. Run must be running.
func (w *Writer) Flush(ctx context.Context) error {
	c := make(chan error, 1)
	select {
	case w.flushReq <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		select {
		case err := <-c:
			if err != nil || w.spool.Records() == 0 {
				return err
			}
			// Rows arrived meanwhile; ask again.
			c = make(chan error, 1)
			select {
			case w.flushReq <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return fmt.Errorf("writer: flush: %w (%d rows still spooled)", ctx.Err(), w.spool.Records())
		}
	}
}

// Close releases the spool. Unsent rows stay on disk for the next start.
func (w *Writer) Close() error { return w.spool.Close() }

// deliver seals the active segment when forced or when it is full, then
// inserts sealed segments oldest first, stopping at the first failure.
func (w *Writer) deliver(ctx context.Context, force bool) error {
	if force || w.spool.Pending() >= int64(w.opt.BatchRows) {
		if err := w.spool.Seal(); err != nil {
			return err
		}
	}
	for _, seg := range w.spool.Sealed() {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		n, err := w.insertSegment(ctx, seg)
		if err != nil {
			w.m.flushError()
			return fmt.Errorf("segment %s: %w", filepath.Base(seg.Path), err)
		}
		if err := w.spool.Remove(seg); err != nil {
			return err
		}
		w.m.flushed(n, time.Since(start))
		w.log.Debug("writer: segment delivered", "segment", filepath.Base(seg.Path), "rows", n, "took", time.Since(start))
	}
	return nil
}

// insertSegment sends one segment as one batch per table. A record that cannot
// be decoded is never retried forever: the segment is copied to quarantine/
// (loudly), and the intact records are inserted.
func (w *Writer) insertSegment(ctx context.Context, seg spool.Segment) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.opt.InsertTimeout)
	defer cancel()
	batches := map[*analytics.Table]driver.Batch{}
	defer func() {
		for _, b := range batches {
			if !b.IsSent() {
				_ = b.Abort()
			}
		}
	}()
	rows, bad := 0, 0
	readErr := spool.ReadSegment(seg, func(rec []byte) error {
		t, err := analytics.TableOf(rec)
		if err != nil {
			bad++
			return nil
		}
		b, ok := batches[t]
		if !ok {
			b, err = w.opt.Conn.PrepareBatch(ctx, t.InsertSQL(w.opt.Database))
			if err != nil {
				return fmt.Errorf("prepare insert into %s.%s: %w", w.opt.Database, t.Name, err)
			}
			batches[t] = b
		}
		if err := t.AppendRecord(b, rec); err != nil {
			w.log.Error("writer: spooled record rejected", "table", t.Name, "segment", seg.Path, "err", err)
			bad++
			return nil
		}
		rows++
		return nil
	})
	if readErr != nil && !errors.Is(readErr, spool.ErrCorrupt) {
		return 0, readErr
	}
	if readErr != nil || bad > 0 {
		w.m.corrupt(bad + btoi(readErr != nil))
		if err := w.quarantine(seg); err != nil {
			return 0, err
		}
		w.log.Error("WRITER: corrupt spool records quarantined; the intact rows are inserted",
			"segment", seg.Path, "bad_records", bad, "read_err", readErr, "quarantine", filepath.Join(w.opt.Spool.Dir, "quarantine"))
	}
	for t, b := range batches {
		if err := b.Send(); err != nil {
			return 0, fmt.Errorf("insert %d rows into %s.%s: %w", b.Rows(), w.opt.Database, t.Name, err)
		}
	}
	return rows, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *Writer) quarantine(seg spool.Segment) error {
	dir := filepath.Join(w.opt.Spool.Dir, "quarantine")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(seg.Path))
	if _, err := os.Stat(dst); err == nil {
		return nil // already copied by an earlier try
	}
	src, err := os.Open(seg.Path)
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", seg.Path, err)
	}
	defer src.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", dst, err)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return fmt.Errorf("quarantine %s: %w", dst, err)
	}
	return out.Close()
}
