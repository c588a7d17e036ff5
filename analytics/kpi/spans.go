package kpi

import (
	"fmt"
	"time"
)

// Debtors over a range without walking every debtor's arrays. kpi_debtors
// keeps per row (migration 14) its first and last attempted hour, its
// flags or'ed and, when it has a single one, its segment, channel and
// country. A row whose hours all lie inside the range, and that has one
// value of each dimension the question filters by (other than the one it
// groups by), is counted from columns computed on insert: every element
// passes the range and the filter or none does. Only the other rows that
// overlap the range (straddling its edges, or mixed in a dimension
// filtered) walk their arrays as debtorQuery does; rows outside the range
// are not read at all. The two parts count disjoint rows, so their counts
// add up exactly.
//
// In total and by campaign the split is not used: it was no faster than
// walking the arrays, at 2M attempts (about 2 hours per debtor row) nor
// at 10M (about 10; bench kpi, 90 days 157 vs 159 ms, 7 days 207 vs 142
// ms), the rows straddling a week's edges paying both parts.

// spanDims are the dimensions by segment and by channel: kpi_debtors'
// columns <dim>_set and <dim>_set2 name each row's set of distinct (value,
// flag bit) pairs (migrations 15, 16), whose pairs kpi_debtor_sets holds
// (migration 17).
var spanDims = map[By]string{BySegment: "segment", ByChannel: "channel"}

// missingSet is the key spanQuery gives the rows whose set
// kpi_debtor_sets does not hold (a NUL: no segment or channel).
const missingSet = "\x00"

// spanQuery counts debtors from kpi_debtors by segment or channel with no
// agent filter, split as above, and otherwise as debtorQuery. The inside
// rows are counted per pair set (a few hundred sets for a million rows),
// without reading their pairs; then each set's pairs, from
// kpi_debtor_sets, are unnested once. A set is named by two independent
// 64-bit sums of its pairs' hashes: 128 bits, as uniqExact's own hash of a
// debtor's key.
func (rd *reader) spanQuery(by By, from, to time.Time) (string, []any) {
	dim, ok := spanDims[by]
	if rd.k.opt.DebtorArrays || len(rd.f.Agents) > 0 || !ok {
		return rd.debtorQuery(by, from, to, "")
	}
	h0, h1 := unix(from)/3600, unix(to)/3600
	table, where, inside, vals := rd.insideRows(map[By]int{BySegment: 1, ByChannel: 2}[by], h0, h1, "")
	only := ""
	if len(vals) > 0 {
		only = " WHERE v IN (" + quoted(vals) + ", '\\0')"
	}
	scalars := `SELECT v AS k, sumIf(c, b = 1) AS n, sumIf(c, b = 2) AS reached, sumIf(c, b = 4) AS rpc FROM (
    SELECT c, vals, bits FROM (
        SELECT ` + dim + `_set AS set, ` + dim + `_set2 AS set2, count() AS c FROM ` + table + ` WHERE ` + where.String() + `
        GROUP BY set, set2
    ) ANY LEFT JOIN (
        SELECT set, set2, any(vals) AS vals, any(bits) AS bits FROM ` + rd.k.db + `.kpi_debtor_sets WHERE dim = '` + dim + `'
        GROUP BY set, set2
    ) USING (set, set2)
) ARRAY JOIN if(empty(vals), ['\0'], vals) AS v, if(empty(vals), [toUInt8(1)], bits) AS b` + only + ` GROUP BY k`
	return rd.twoParts(by, from, to, scalars, where.args, inside)
}

// insideRows are the kpi_debtors rows (of the latest refresh, in the
// campaigns asked) whose hours all lie inside [h0, h1), that one (a
// condition on the scalar columns, when not empty) takes, and that have
// one value of each dimension filtered other than grouped (1 segment, 2
// channel), that value passing the filter: their table (with PREWHERE)
// and conditions, the condition that picks them but for the filter's
// values (the other part reads the overlapping rows it does not pick),
// and the filter's values of the grouped dimension.
func (rd *reader) insideRows(grouped int, h0, h1 uint32, one string) (table string, where *conds, inside string, vals []string) {
	mask := 0
	var cond []string
	for _, d := range []struct {
		bit  int
		col  string
		vals []string
	}{{1, "one_segment", rd.f.Segments}, {2, "one_channel", channels(rd.f.Channels)}, {4, "one_country", rd.f.Countries}} {
		switch {
		case len(d.vals) == 0:
		case d.bit == grouped:
			vals = d.vals
		default:
			mask |= d.bit
			cond = append(cond, d.col+" IN ("+quoted(d.vals)+")")
		}
	}
	inside = fmt.Sprintf("first_hour >= %d AND last_hour < %d AND bitAnd(mixed, %d) = 0", h0, h1, mask)
	if one != "" {
		inside += " AND " + one
	}
	table, where = rd.debtorRows(inside)
	for _, c := range cond {
		where.add(c)
	}
	return table, where, inside, vals
}

// twoParts adds up counts per key (columns k, n, reached, rpc) of the
// inside rows (scalars, with args) and of the other rows that overlap the
// range, walked by debtorQuery.
func (rd *reader) twoParts(by By, from, to time.Time, scalars string, args []any, inside string) (string, []any) {
	h0, h1 := unix(from)/3600, unix(to)/3600
	arrays, more := rd.debtorQuery(by, from, to, fmt.Sprintf("first_hour < %d AND last_hour >= %d AND NOT (%s)", h1, h0, inside))
	return `SELECT k, sum(n), sum(reached), sum(rpc) FROM (
` + scalars + `
UNION ALL
` + arrays + `
) GROUP BY k`, append(append([]any{}, args...), more...)
}
