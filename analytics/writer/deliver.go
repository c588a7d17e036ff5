package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/spool"
)

// record is one spooled row on its way to ClickHouse.
type record struct {
	idx int // position in its segment
	raw []byte
	row analytics.Row
}

// segProgress is what a sealed segment has already delivered.
type segProgress struct {
	done    map[int]bool // inserted or quarantined
	corrupt bool         // its undecodable records were already copied and counted
}

// deliver seals the active segment when forced or when it is full, then
// inserts sealed segments oldest first, stopping at the first failure (which
// is never the data's fault: refused rows are quarantined, not retried).
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
		if n > 0 {
			w.m.flushed(n, time.Since(start))
		}
		if err != nil {
			w.m.flushError()
			return fmt.Errorf("segment %s: %w", filepath.Base(seg.Path), err)
		}
		if err := w.spool.Remove(seg); err != nil {
			return err
		}
		delete(w.progress, seg.Seq)
		w.log.Debug("writer: segment delivered", "segment", filepath.Base(seg.Path), "rows", n, "took", time.Since(start))
	}
	return nil
}

// insertSegment sends what is left of one segment, BatchRows records at a
// time (a segment sealed after an outage can hold far more) as one batch per
// table, and returns how many rows ClickHouse accepted. A record that cannot
// be decoded is never retried forever: the segment is copied to quarantine/
// (loudly) and the intact records go on. A row whose values cannot be stored
// right is quarantined before it is sent.
func (w *Writer) insertSegment(ctx context.Context, seg spool.Segment) (int, error) {
	p := w.progress[seg.Seq]
	if p == nil {
		p = &segProgress{done: map[int]bool{}}
		w.progress[seg.Seq] = p
	}
	b := &segBatch{w: w, seg: seg, p: p, byTable: map[*analytics.Table][]record{}, idx: -1}
	readErr := spool.ReadSegment(seg, func(rec []byte) error {
		if b.take(rec) && b.pending >= w.opt.BatchRows {
			return b.flush(ctx)
		}
		return nil
	})
	if readErr != nil && !errors.Is(readErr, spool.ErrCorrupt) {
		return b.rows, readErr
	}
	if (readErr != nil || b.bad > 0) && !p.corrupt {
		if err := w.copyCorrupt(seg); err != nil {
			return b.rows, err
		}
		p.corrupt = true
		w.m.corrupt(b.bad + btoi(readErr != nil))
		w.log.Error("WRITER: corrupt spool records quarantined; the intact rows are inserted",
			"segment", seg.Path, "bad_records", b.bad, "read_err", readErr, "quarantine", w.quarantineDir())
	}
	err := b.flush(ctx)
	return b.rows, err
}

// segBatch gathers the records of one segment not yet delivered into a
// batch per table, and the rows the check refuses.
type segBatch struct {
	w       *Writer
	seg     spool.Segment
	p       *segProgress
	byTable map[*analytics.Table][]record
	refused []refusal
	pending int // records taken since the last flush
	rows    int // rows ClickHouse accepted
	idx     int // the record's index in the segment
	bad     int // records that cannot be decoded
}

// take reads the segment's next record into the batch; false when it is
// not for sending (delivered before, or undecodable: counted in bad).
func (b *segBatch) take(rec []byte) bool {
	b.idx++
	if b.p.done[b.idx] {
		return false
	}
	t, err := analytics.TableOf(rec)
	if err != nil {
		b.bad++
		b.p.done[b.idx] = true
		return false
	}
	row, err := t.Decode(rec)
	if err != nil {
		if !b.p.corrupt {
			b.w.log.Error("writer: spooled record cannot be decoded", "table", t.Name, "segment", b.seg.Path, "index", b.idx, "err", err)
		}
		b.bad++
		b.p.done[b.idx] = true
		return false
	}
	r := record{idx: b.idx, raw: bytes.Clone(rec), row: row}
	if err := t.Check(row); err != nil {
		// Spooled before the check existed (or by a bug): ClickHouse
		// would refuse it or, worse, store it wrong.
		b.refused = append(b.refused, refusal{table: t, rec: r, by: "marcador", reason: err.Error()})
	} else {
		b.byTable[t] = append(b.byTable[t], r)
	}
	b.pending++
	return true
}

// flush quarantines the refused rows and inserts each table's batch.
func (b *segBatch) flush(ctx context.Context) error {
	if len(b.refused) > 0 {
		if err := b.w.quarantineRows(b.seg, b.p, b.refused); err != nil {
			return err
		}
		b.refused = nil
	}
	for _, t := range analytics.Tables() {
		if len(b.byTable[t]) == 0 {
			continue
		}
		ins := inserter{w: b.w, seg: b.seg, p: b.p, t: t}
		n, err := ins.insert(ctx, b.byTable[t])
		b.rows += n
		if err != nil {
			return err
		}
		delete(b.byTable, t)
	}
	b.pending = 0
	return nil
}

// inserter delivers one table's rows of one segment.
type inserter struct {
	w       *Writer
	seg     spool.Segment
	p       *segProgress
	t       *analytics.Table
	refused bool // this batch was refused once already (counted, logged)
}

// insert sends recs as one batch. A row the driver refuses while appending is
// quarantined and the batch built again without it; a batch ClickHouse
// refuses for its data is split in halves, down to the rows it refuses. Any
// other failure (ClickHouse down, the network, a timeout) is returned and the
// segment is retried later; rows already inserted or quarantined are
// remembered and skipped then.
func (in *inserter) insert(ctx context.Context, recs []record) (int, error) {
	w, t := in.w, in.t
	for len(recs) > 0 {
		ictx, cancel := context.WithTimeout(ctx, w.opt.InsertTimeout)
		b, err := w.opt.Conn.PrepareBatch(ictx, t.InsertSQL(w.opt.Database))
		if err != nil {
			cancel()
			return 0, fmt.Errorf("prepare insert into %s.%s: %w", w.opt.Database, t.Name, err)
		}
		badAt, appendErr := -1, error(nil)
		for i, r := range recs {
			if err := t.Append(b, r.row); err != nil {
				badAt, appendErr = i, err
				break
			}
		}
		if badAt >= 0 {
			// The driver refuses a value (a Decimal beyond the column's
			// precision, say) and the whole batch is void: drop the row, rebuild.
			_ = b.Abort()
			cancel()
			in.noteRefused(len(recs), appendErr)
			if err := w.quarantineRows(in.seg, in.p, []refusal{{table: t, rec: recs[badAt], by: "driver", reason: appendErr.Error()}}); err != nil {
				return 0, err
			}
			recs = append(recs[:badAt:badAt], recs[badAt+1:]...)
			continue
		}
		err = b.Send()
		cancel()
		if err == nil {
			for _, r := range recs {
				in.p.done[r.idx] = true
			}
			return len(recs), nil
		}
		code, isData := dataRefusal(err)
		if !isData {
			return 0, fmt.Errorf("insert %d rows into %s.%s: %w", len(recs), w.opt.Database, t.Name, err)
		}
		in.noteRefused(len(recs), err)
		if len(recs) == 1 {
			return 0, w.quarantineRows(in.seg, in.p, []refusal{{table: t, rec: recs[0], by: "clickhouse", code: code, reason: err.Error()}})
		}
		mid := len(recs) / 2
		n1, err := in.insert(ctx, recs[:mid])
		if err != nil {
			return n1, err
		}
		n2, err := in.insert(ctx, recs[mid:])
		return n1 + n2, err
	}
	return 0, nil
}

// noteRefused counts and logs a batch's first refusal.
func (in *inserter) noteRefused(rows int, err error) {
	if in.refused {
		return
	}
	in.refused = true
	in.w.noteRefusedBatch(in.t, rows, err)
}

func (w *Writer) noteRefusedBatch(t *analytics.Table, rows int, err error) {
	w.refused.Add(1)
	w.m.refusedBatch()
	w.log.Warn("writer: a batch was refused for its data; finding the refused rows, the rest goes in",
		"table", t.Name, "rows", rows, "err", err)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
