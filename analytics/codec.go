package analytics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// The spool stores rows in a compact binary form: a kind byte, a format version
// byte, then the fields in a fixed order. Strings are uvarint-length-prefixed,
// integers varints, times Unix milliseconds, decimals their string form. New
// fields are appended at the end with a new version so older spools replay.

var errShort = errors.New("truncated row")

type enc struct{ b []byte }

func (e *enc) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) u(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) t(v time.Time) {
	if v.IsZero() {
		e.i(math.MinInt64)
		return
	}
	e.i(v.UnixMilli())
}
func (e *enc) dec(d decimal.Decimal) { e.str(d.String()) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

type dec struct {
	b   []byte
	err error
}

// openRecord checks a spool record's kind and format version (one of
// versions) and returns a decoder over its fields; what names the row in
// errors.
func openRecord(b []byte, kind byte, what string, versions ...byte) (*dec, byte, error) {
	if len(b) < 2 || b[0] != kind {
		return nil, 0, fmt.Errorf("%s row: not a %s record", what, what)
	}
	if !slices.Contains(versions, b[1]) {
		return nil, 0, fmt.Errorf("%s row: unknown format version %d", what, b[1])
	}
	return &dec{b: b[2:]}, b[1], nil
}

// close says whether every field decoded.
func (d *dec) close(what string) error {
	if d.err != nil {
		return fmt.Errorf("%s row: %w", what, d.err)
	}
	return nil
}

func (d *dec) str() string {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || uint64(len(d.b)-k) < n {
		d.fail()
		return ""
	}
	s := string(d.b[k : k+int(n)])
	d.b = d.b[k+int(n):]
	return s
}
func (d *dec) u() uint64 { return varint(d, binary.Uvarint) }
func (d *dec) i() int64  { return varint(d, binary.Varint) }

// varint reads one (u)varint with read, failing d on a short one.
func varint[T uint64 | int64](d *dec, read func([]byte) (T, int)) T {
	v, k := read(d.b)
	if k <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return v
}
func (d *dec) t() time.Time {
	v := d.i()
	if v == math.MinInt64 || d.err != nil {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
func (d *dec) decimal() decimal.Decimal {
	s := d.str()
	if d.err != nil || s == "" {
		return decimal.Decimal{}
	}
	v, err := decimal.NewFromString(s)
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("decimal %q: %w", s, err)
	}
	return v
}
func (d *dec) bool() bool {
	if len(d.b) == 0 {
		d.fail()
		return false
	}
	v := d.b[0] != 0
	d.b = d.b[1:]
	return v
}
func (d *dec) fail() {
	if d.err == nil {
		d.err = errShort
	}
	d.b = nil
}

// u32 clamps a decoded value into a column's range instead of wrapping.
func u32(v uint64) uint32 { return uint32(min(v, math.MaxUint32)) }
func u16(v uint64) uint16 { return uint16(min(v, math.MaxUint16)) }
func u8(v uint64) uint8   { return uint8(min(v, math.MaxUint8)) }
