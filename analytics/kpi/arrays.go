package kpi

import (
	"fmt"
	"strings"
	"time"
)

// debtorQuery counts debtors from kpi_debtors. Each row's elements (one
// per attempted hour, with its channel, agent, segment and country) are
// kept if the filter takes them and turned into (key, flag) pairs, one per
// flag (1 attempted, 2 reached, 4 right party); a row's distinct pairs are
// counted per key. Only the arrays the filter and grouping need are read,
// and time keys are numbers packed with the flag (cheaper than strings).
//
// only, when not empty, is a condition on kpi_debtors' scalar columns that
// picks the rows read (PREWHERE: the arrays of the rows it leaves out are
// not read).
func (rd *reader) debtorQuery(by By, from, to time.Time, only string) (string, []any) {
	e := rd.elements(by, from, to)
	table, where := rd.debtorRows(only)
	rows := table + ` WHERE ` + where.String()
	switch by {
	case ByAgent, BySegment, ByChannel:
		return e.stringKeys(by, rows), where.args
	case ByNone, ByCampaign:
		return e.rowKeys(by, rows), where.args
	}
	return e.numberKeys(by, from, to, rd.f, rows), where.args
}

// elements are the arrays a question reads from kpi_debtors, the lambda's
// parameters that name their elements and the condition an element must
// meet (in the range, taken by the filter).
type elements struct {
	lambda, arrays, ok string
}

func (rd *reader) elements(by By, from, to time.Time) elements {
	params, arrays := []string{"h", "f"}, []string{"hours", "flags"}
	cond := []string{fmt.Sprintf("h >= %d AND h < %d", unix(from)/3600, unix(to)/3600)}
	lit := func(param, array string, vals []string, grouped bool) {
		if len(vals) > 0 || grouped {
			params, arrays = append(params, param), append(arrays, array)
		}
		if len(vals) > 0 {
			cond = append(cond, param+" IN ("+quoted(vals)+")")
		}
	}
	lit("ch", "channels", channels(rd.f.Channels), by == ByChannel)
	lit("ag", "agents", rd.f.Agents, by == ByAgent)
	lit("sg", "segments", rd.f.Segments, by == BySegment)
	lit("co", "countries", rd.f.Countries, false)
	if by == ByAgent {
		cond = append(cond, "ag != ''")
	}
	return elements{lambda: "(" + strings.Join(params, ", ") + ") -> ", arrays: strings.Join(arrays, ", "), ok: strings.Join(cond, " AND ")}
}

// stringKeys counts by agent, segment or channel: (key, flag) tuples.
func (e elements) stringKeys(by By, rows string) string {
	els := "arrayFilter(e -> e.3 = 1, arrayMap(" + e.lambda + "(" + map[By]string{ByAgent: "ag", BySegment: "sg", ByChannel: "ch"}[by] +
		", f, toUInt8(" + e.ok + ")), " + e.arrays + "))"
	p := func(bit string) string {
		return "arrayMap(e -> (e.1, toUInt8(" + bit + ")), arrayFilter(e -> bitAnd(e.2, " + bit + ") = " + bit + ", els))"
	}
	return `SELECT k, countIf(b = 1), countIf(b = 2), countIf(b = 4) FROM (
    SELECT x.1 AS k, x.2 AS b FROM (
        SELECT arrayJoin(arrayDistinct(arrayConcat(` + p("1") + ", " + p("2") + ", " + p("4") + `))) AS x FROM (
            SELECT ` + els + ` AS els FROM ` + rows + `
        )
    )
) GROUP BY k`
}

// rowKeys counts in total or by campaign: one key per row, the flags of
// the elements the filter takes or'ed (one pass over the arrays).
func (e elements) rowKeys(by By, rows string) string {
	key := "''"
	if by == ByCampaign {
		key = "campaign_id"
	}
	has := func(bit string) string { return "countIf(bitAnd(m, " + bit + ") = " + bit + ")" }
	return `SELECT ` + key + ` AS k, ` + has("1") + `, ` + has("2") + `, ` + has("4") + ` FROM (
    SELECT campaign_id, arrayReduce('groupBitOr', arrayMap(` + e.lambda + `if(` + e.ok + `, f, toUInt8(0)), ` + e.arrays + `)) AS m
    FROM ` + rows + `
) GROUP BY k`
}

// numberKeys counts by day or hour of the day: the key's number n packed
// with the flags as n * 8 + flags, 0 when the filter leaves the element
// out (flags has bit 1 on every element).
func (e elements) numberKeys(by By, from, to time.Time, f Filter, rows string) string {
	num, key := "1", ""
	switch by {
	case ByDay:
		num = "toRelativeDayNum(toDateTime(h * 3600), '" + f.TZ + "')"
		key = "toString(toDate(n))"
	case ByHour:
		num = localHour(stretches(f.loc, unix(from)/3600, unix(to)/3600), "h")
		key = "if(n < 11, concat('0', toString(n - 1)), toString(n - 1))"
	}
	els := "arrayFilter(x -> x != 0, arrayMap(" + e.lambda + "if(" + e.ok + ", toUInt64(" + num + ") * 8 + f, toUInt64(0)), " + e.arrays + "))"
	p := func(bit string) string {
		return "arrayMap(x -> bitOr(bitAnd(x, 18446744073709551608), " + bit + "), arrayFilter(x -> bitAnd(x, " + bit + ") = " + bit + ", els))"
	}
	return `SELECT k, countIf(b = 1), countIf(b = 2), countIf(b = 4) FROM (
    SELECT ` + key + ` AS k, b FROM (
        SELECT intDiv(x, 8) AS n, bitAnd(x, 7) AS b FROM (
            SELECT arrayJoin(arrayDistinct(arrayConcat(` + p("1") + `, ` + p("2") + `, ` + p("4") + `))) AS x FROM (
                SELECT ` + els + ` AS els FROM ` + rows + `
            )
        )
    )
) GROUP BY k`
}
