package writer

import (
	"context"
	"fmt"
	"time"
)

// State is the writer's health, for /healthz and operators.
type State struct {
	QueuedRows int64 `json:"queued_rows"` // spooled, not yet in ClickHouse
	SpoolBytes int64 `json:"spool_bytes"`
	// OldestUnsent is the age of the oldest row not yet in ClickHouse (0
	// when none); for segments left by an earlier process it counts from
	// their last write.
	OldestUnsent time.Duration `json:"oldest_unsent"`
	// QuarantinedRows and RefusedBatches count since this process started.
	QuarantinedRows int64  `json:"quarantined_rows"`
	RefusedBatches  int64  `json:"refused_batches"`
	SpoolFull       bool   `json:"spool_full"` // writers are held back
	LastError       string `json:"last_error,omitempty"`
}

// State reports the writer's state now.
func (w *Writer) State() State {
	st := State{QueuedRows: w.spool.Records(), SpoolBytes: w.spool.Bytes(), QuarantinedRows: w.quarantined.Load(),
		RefusedBatches: w.refused.Load(), SpoolFull: w.spool.Full()}
	if t := w.spool.Oldest(); !t.IsZero() {
		st.OldestUnsent = max(0, w.opt.Now().Sub(t))
	}
	w.mu.Lock()
	st.LastError = w.lastErr
	w.mu.Unlock()
	return st
}

// Check is the writer's /healthz check: it fails while the spool is full
// (calls and texts are being held back) or while the oldest unsent row is
// older than MaxLag (ClickHouse has not taken rows for that long: reports
// and compliance history in ClickHouse are stale). A quarantined row does
// not fail it (the log moves on; the metric is for alerts). The message
// names no address: the log line of the failed insert has the details.
func (w *Writer) Check(context.Context) error {
	st := w.State()
	switch {
	case st.SpoolFull:
		return fmt.Errorf("spool full: writers are held back (%d rows unsent, oldest %s)", st.QueuedRows, st.OldestUnsent.Round(time.Second))
	case st.OldestUnsent > w.opt.MaxLag:
		return fmt.Errorf("behind: oldest unsent row is %s old (limit %s), %d rows unsent", st.OldestUnsent.Round(time.Second),
			w.opt.MaxLag, st.QueuedRows)
	}
	return nil
}

func (w *Writer) setLastErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.lastErr = ""
	} else {
		w.lastErr = err.Error()
	}
}
