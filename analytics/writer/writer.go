// Package writer delivers analytics rows to ClickHouse without losing any.
//
// Write checks the row against its columns, appends it to an on-disk spool
// and returns; it never waits for ClickHouse. Run seals the spool into
// segments of up to BatchRows rows (or every FlushInterval), inserts each
// segment as one batch per table, and deletes a segment only after every row
// of it is in ClickHouse or in the quarantine. While ClickHouse is down (or
// slow, or the network fails) it retries with capped exponential backoff and
// the spool grows; at spool.MaxBytes Write applies back-pressure. After a
// crash the segments left on disk are inserted again: rows may reach
// ClickHouse twice, and the ReplacingMergeTree tables collapse them (queries
// use FINAL or argMax by ver).
//
// Content never stops the log. A batch ClickHouse (or the driver) refuses for
// its data is split in halves until the refused rows are alone; the rest is
// inserted, and each refused row goes to the quarantine (quarantine/ in the
// spool directory) with the reason, once. A poison row costs its batch a few
// more inserts, never the rows behind it, and a restart with a poisoned
// segment on disk does the same.
package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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
	// MaxLag is how old the oldest unsent row may get before Check reports
	// the writer behind. Default 5m.
	MaxLag time.Duration
	// Now is the clock for row ages and quarantine entries. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
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

	// progress remembers, per sealed segment being delivered, the records
	// already inserted or quarantined, so a retry after a failure part-way
	// (ClickHouse went down while a refused batch was being split) neither
	// quarantines nor logs a row twice. Only Run's goroutine touches it.
	progress map[uint64]*segProgress

	quarantined atomic.Int64 // rows quarantined since start
	refused     atomic.Int64 // batches refused for their data since start
	mu          sync.Mutex
	lastErr     string // the last failed delivery, "" after a success
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
	if opt.MaxLag <= 0 {
		opt.MaxLag = 5 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	w := &Writer{opt: opt, log: opt.Logger, m: opt.Metrics, flushReq: make(chan chan error), progress: map[uint64]*segProgress{}}
	w.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	so := opt.Spool
	if so.Logger == nil {
		so.Logger = opt.Logger
	}
	if so.Now == nil {
		so.Now = opt.Now
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
	w.m.bind(sp, w.opt.Now)
	return w, nil
}

// Write spools one row. A row with a value its column cannot hold is refused
// (the error names the field: analytics.FieldOf). It returns once the row is
// on disk per the fsync policy; it waits only when the spool is full
// (back-pressure), until ctx ends.
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
		w.setLastErr(err)
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
