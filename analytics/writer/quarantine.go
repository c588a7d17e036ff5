package writer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/spool"
)

// isDataCode says whether a ClickHouse error code means "this data", not
// "this server, now": parsing or converting a value failed, a value is out of
// its type's range, or a check on the row's values failed. Retrying such a
// batch can only fail again, so it is split to find the refused rows.
// Everything else (the network, timeouts, memory, too many parts, a missing
// table or column, and TYPE_MISMATCH or CANNOT_CONVERT_TYPE, which a schema
// that differs from ours raises for every row alike) is retried with backoff
// as before.
func isDataCode(code int32) bool {
	switch code {
	case 6, // CANNOT_PARSE_TEXT
		25,  // CANNOT_PARSE_ESCAPE_SEQUENCE
		26,  // CANNOT_PARSE_QUOTED_STRING
		27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
		38,  // CANNOT_PARSE_DATE
		41,  // CANNOT_PARSE_DATETIME
		69,  // ARGUMENT_OUT_OF_BOUND (a Decimal beyond its precision)
		72,  // CANNOT_PARSE_NUMBER
		117, // INCORRECT_DATA
		131, // TOO_LARGE_STRING_SIZE
		321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
		349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
		376, // CANNOT_PARSE_UUID
		395, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (a MATERIALIZED/DEFAULT check on the row)
		407, // DECIMAL_OVERFLOW
		467, // CANNOT_PARSE_BOOL
		469, // VIOLATED_CONSTRAINT (CHECK constraints, current releases)
		691: // UNKNOWN_ELEMENT_OF_ENUM (current releases)
		return true
	}
	return false
}

// tooManyParts is 252 TOO_MANY_PARTS: "Too many parts" (merges are behind:
// retry) or "Too many partitions for single INSERT block" (rows spread over
// more than 100 months: halves of the batch go in).
const tooManyParts = 252

// dataRefusal reports whether err is ClickHouse refusing the batch for its
// data, and the server's code.
func dataRefusal(err error) (int32, bool) {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return 0, false
	}
	if isDataCode(ex.Code) {
		return ex.Code, true
	}
	if ex.Code == tooManyParts && strings.Contains(ex.Message, "partitions for single INSERT block") {
		return ex.Code, true
	}
	return ex.Code, false
}

// refusal is one row that will not go into ClickHouse, and why.
type refusal struct {
	table  *analytics.Table
	rec    record
	by     string // clickhouse, driver, marcador
	code   int32  // ClickHouse's error code, when it refused
	reason string
}

// QuarantineEntry is one line of quarantine/refused-<date>.jsonl: a row that
// was not inserted, why, and the spool record itself (base64), which
// re-spooled after a fix goes in like any other.
type QuarantineEntry struct {
	At        time.Time      `json:"at"`
	Table     string         `json:"table"`
	RefusedBy string         `json:"refused_by"` // clickhouse, driver (clickhouse-go), marcador (the column check)
	Code      int32          `json:"code,omitempty"`
	Reason    string         `json:"reason"`
	Segment   string         `json:"segment"`
	Index     int            `json:"index"` // the record's position in its segment
	Row       map[string]any `json:"row"`
	Record    []byte         `json:"record"`
}

func (w *Writer) quarantineDir() string { return filepath.Join(w.opt.Spool.Dir, "quarantine") }

// quarantineRows appends the refused rows to the day's quarantine file and
// syncs it, then marks them done. Only then may their segment be removed; if
// this fails the segment stays and is retried (a crash in between may list a
// row twice, with the same segment and index).
func (w *Writer) quarantineRows(seg spool.Segment, p *segProgress, rs []refusal) error {
	now := w.opt.Now().UTC()
	dir := w.quarantineDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	path := filepath.Join(dir, "refused-"+now.Format(time.DateOnly)+".jsonl")
	var buf []byte
	for _, r := range rs {
		e := QuarantineEntry{At: now, Table: r.table.Name, RefusedBy: r.by, Code: r.code, Reason: r.reason,
			Segment: filepath.Base(seg.Path), Index: r.rec.idx, Row: r.table.Values(r.rec.row), Record: r.rec.raw}
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("quarantine %s row: %w", r.table.Name, err)
		}
		buf = append(append(buf, b...), '\n')
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("quarantine %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("quarantine %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("quarantine %s: %w", path, err)
	}
	for _, r := range rs {
		p.done[r.rec.idx] = true
		w.quarantined.Add(1)
		w.m.quarantinedRow(r.table.Name)
		w.log.Error("WRITER: row refused and quarantined; the rest of its batch goes in",
			"table", r.table.Name, "id", r.table.Values(r.rec.row)[r.table.Columns[0]], "refused_by", r.by,
			"reason", r.reason, "file", path)
	}
	return nil
}

// copyCorrupt copies a segment with undecodable records to quarantine/.
func (w *Writer) copyCorrupt(seg spool.Segment) error {
	dir := w.quarantineDir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(seg.Path))
	if _, err := os.Stat(dst); err == nil {
		// Segment numbers start again once a spool drains: keep both.
		dst = filepath.Join(dir, fmt.Sprintf("%s.%d", filepath.Base(seg.Path), w.opt.Now().UnixNano()))
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
