package kpi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Debtors by hour of the day. Each kpi_debtors row keeps, per flag, the
// UTC hours of the day of its elements as 24 bits (migration 16). In a
// stretch of the range where the zone's offset does not change, a local
// hour of the day is the UTC one shifted by the offset, so the bits of a
// row whose hours all lie inside the range and inside one such stretch
// (and that has one value of each dimension filtered, as in spans.go),
// rotated by the stretch's offset, are its local hours. Those rows are
// grouped by their rotated bits (a few thousand values per flag for a
// million rows) before the bits are counted; the others that overlap the
// range walk their arrays (debtorQuery), their local hours from the same
// offsets rather than a zone conversion per element.

// stretch is a run of hours [from, to) (counted from the epoch) over which
// a zone's offset is shift hours (mod 24: a UTC hour of the day plus shift,
// mod 24, is the local one).
type stretch struct {
	from, to uint32
	shift    int
}

// stretches cuts [h0, h1) where loc's offset changes. The filter's zone
// has whole-hour offsets over the range (Filter.wholeHours).
func stretches(loc *time.Location, h0, h1 uint32) []stretch {
	var out []stretch
	for h := h0; h < h1; h++ {
		_, off := time.Unix(int64(h)*3600, 0).In(loc).Zone()
		shift := ((off/3600)%24 + 24) % 24
		if n := len(out); n > 0 && out[n-1].shift == shift {
			out[n-1].to = h + 1
			continue
		}
		out = append(out, stretch{from: h, to: h + 1, shift: shift})
	}
	return out
}

// shiftOf is the SQL of the shift of the stretch hour (an hour of the
// range) lies in.
func shiftOf(ss []stretch, hour string) string {
	switch len(ss) {
	case 0:
		return "0"
	case 1:
		return strconv.Itoa(ss[0].shift)
	}
	var b strings.Builder
	b.WriteString("multiIf(")
	for _, s := range ss[:len(ss)-1] {
		fmt.Fprintf(&b, "%s < %d, %d, ", hour, s.to, s.shift)
	}
	return b.String() + strconv.Itoa(ss[len(ss)-1].shift) + ")"
}

// localHour is the SQL of the local hour of the day of hour h (an hour of
// the range), plus 1.
func localHour(ss []stretch, h string) string {
	return "(" + h + " + " + shiftOf(ss, h) + ") % 24 + 1"
}

// hourQuery counts debtors by hour of the day from kpi_debtors with no
// agent filter, split as above, and otherwise as debtorQuery.
func (rd *reader) hourQuery(from, to time.Time) (string, []any) {
	if rd.k.opt.DebtorArrays || len(rd.f.Agents) > 0 {
		return rd.debtorQuery(ByHour, from, to, "")
	}
	h0, h1 := unix(from)/3600, unix(to)/3600
	ss := stretches(rd.f.loc, h0, h1)
	// Inside one stretch: no change of offset between its first and last
	// hour.
	one := "1"
	for _, s := range ss[min(1, len(ss)):] {
		one += fmt.Sprintf(" AND NOT (first_hour < %d AND last_hour >= %d)", s.from, s.from)
	}
	table, where, inside, _ := rd.insideRows(0, h0, h1, one)
	// x: a row's UTC hours with a flag, the flag's number (0 attempted, 1
	// reached, 2 right party) in bits 24-25 and its stretch's shift r from
	// bit 26; local hour i is UTC hour (i - r) mod 24 (rotated per group,
	// not per row).
	x := func(col string, flag int) string {
		return fmt.Sprintf("bitOr(toUInt64(%s), %d + r)", col, flag<<24)
	}
	scalars := `SELECT if(i < 10, concat('0', toString(i)), toString(i)) AS k, sumIf(c, b = 0) AS n, sumIf(c, b = 1) AS reached,
    sumIf(c, b = 2) AS rpc FROM (
    SELECT bitAnd(bitShiftRight(x, 24), 3) AS b, c,
        arrayJoin(arrayFilter(i -> bitAnd(bitShiftRight(x, (i + 24 - bitShiftRight(x, 26)) % 24), 1) = 1, range(24))) AS i FROM (
        SELECT x, count() AS c FROM (
            SELECT bitShiftLeft(toUInt64(` + shiftOf(ss, "first_hour") + `), 26) AS r, arrayJoin([` + x("hours_attempted", 0) + `, ` +
		x("hours_reached", 1) + `, ` + x("hours_rpc", 2) + `]) AS x
            FROM ` + table + ` WHERE ` + where.String() + `
        ) GROUP BY x
    )
) GROUP BY k`
	return rd.twoParts(ByHour, from, to, scalars, where.args, inside)
}
