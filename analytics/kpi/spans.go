package kpi

import (
	"fmt"
	"time"
)

// Debtors over a range without walking every debtor's arrays. kpi_debtors
// keeps per row (migration 14) its first and last attempted hour, its
// flags or'ed and, when it has a single one, its segment, channel and
// country. A row whose hours all lie inside the range, and that has one
// value of each dimension the question filters or groups by, is counted
// from those scalars: every element passes the range and the filter or
// none does, and the flags of its elements or'ed are all_flags. Only the
// other rows that overlap the range (straddling its edges, or mixed in a
// dimension asked) walk their arrays as debtorQuery does; rows outside
// the range are not read at all. The two parts count disjoint rows, so
// their counts add up exactly.

// spanKeys are the groupings counted in two parts, and the columns that
// group the debtors inside the range: by segment or channel, their
// distinct (value, flag bit) pairs (migration 15), whether they have one
// value or more. In total and by campaign the split is not used: it was
// no faster than walking the arrays, at 2M attempts (about 2 hours per
// debtor row) nor at 10M (about 10; bench kpi, 90 days 157 vs 159 ms, 7
// days 207 vs 142 ms), the rows straddling a week's edges paying both
// parts.
var spanKeys = map[By]string{BySegment: "segment_pairs", ByChannel: "channel_pairs"}

// spanQuery counts debtors from kpi_debtors for a grouping by segment or
// channel with no agent filter, split as above, and otherwise as
// debtorQuery.
func (rd *reader) spanQuery(by By, from, to time.Time) (string, []any) {
	key, ok := spanKeys[by]
	if rd.k.opt.DebtorArrays || len(rd.f.Agents) > 0 || !ok {
		return rd.debtorQuery(by, from, to, "")
	}
	h0, h1 := unix(from)/3600, unix(to)/3600
	// A row is counted from its scalars when it has one value of each
	// dimension filtered (and that value passes); the grouped dimension's
	// filter is applied to its pairs.
	grouped := map[By]int{BySegment: 1, ByChannel: 2}[by]
	mask := 0
	var cond, vals []string
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
	inside := fmt.Sprintf("first_hour >= %d AND last_hour < %d AND bitAnd(mixed, %d) = 0", h0, h1, mask)
	table, where := rd.debtorRows(inside)
	for _, c := range cond {
		where.add(c)
	}
	has := func(bit string) string { return "countIf(bitAnd(all_flags, " + bit + ") = " + bit + ")" }
	scalars := `SELECT ` + key + ` AS k, ` + has("1") + ` AS n, ` + has("2") + ` AS reached, ` + has("4") + ` AS rpc
FROM ` + table + ` WHERE ` + where.String() + ` GROUP BY k`
	if grouped != 0 {
		only := ""
		if len(vals) > 0 {
			only = " WHERE p.1 IN (" + quoted(vals) + ")"
		}
		scalars = `SELECT p.1 AS k, countIf(p.2 = 1) AS n, countIf(p.2 = 2) AS reached, countIf(p.2 = 4) AS rpc FROM (
    SELECT ` + key + ` FROM ` + table + ` WHERE ` + where.String() + `
) ARRAY JOIN ` + key + ` AS p` + only + ` GROUP BY k`
	}
	arrays, args := rd.debtorQuery(by, from, to, fmt.Sprintf("first_hour < %d AND last_hour >= %d AND NOT (%s)", h1, h0, inside))
	return `SELECT k, sum(n), sum(reached), sum(rpc) FROM (
` + scalars + `
UNION ALL
` + arrays + `
) GROUP BY k`, append(append([]any{}, where.args...), args...)
}
