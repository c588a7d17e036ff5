package kpi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
)

// Source is where a report reads its figures.
type Source int

const (
	// Rollup reads the roll-up tables, refreshing the stale buckets first.
	Rollup Source = iota
	// Raw computes the same rows from the raw tables inside each query
	// (the baseline the roll-ups are measured against).
	Raw
)

func (s Source) String() string {
	if s == Raw {
		return "raw"
	}
	return "rollup"
}

// window is how far back the US abandon rate looks.
const window = 30 * 24 * time.Hour

// Family is a group of KPIs read by one query (per grouping).
type Family string

const (
	FamilyAttempts Family = "attempts"  // attempts, contacts, RPC, live answers, abandons, connects, AHT, texts
	FamilyDebtors  Family = "debtors"   // debtors attempted, reached, right party
	FamilyAbandon  Family = "abandon30" // the 30-day abandon rate
	FamilyCosts    Family = "costs"     // cost, per contact, per promise
	FamilyPromises Family = "promises"  // promises, promised amount, kept, broken, pending, kept amount
	FamilyRecovery Family = "recovery"  // payments recovered after a touch
	FamilyAgents   Family = "agents"    // agent-hours, occupancy, talk and connects per agent-hour
	FamilyReplies  Family = "replies"   // replies and opt-outs to texts
	FamilyBestTime Family = "best_time" // contact and right-party rates by local hour and weekday
)

// Families lists the report's families in the order they are read.
func Families() []Family {
	return []Family{FamilyAttempts, FamilyDebtors, FamilyAbandon, FamilyCosts, FamilyPromises, FamilyRecovery, FamilyAgents, FamilyReplies}
}

// query is one family's read for one grouping: rows are added to rows by key.
type reader struct {
	k     *KPI
	f     Filter
	src   Source
	now   time.Time
	depth int // promise allocation steps, for the raw source
}

// Report computes the KPIs of f, one row per by and the total. f must
// have been resolved (Filter.Resolve or ParseQuery).
func (k *KPI) Report(ctx context.Context, f Filter, by By, src Source) (*Report, error) {
	rd, err := k.reader(ctx, f, src)
	if err != nil {
		return nil, err
	}
	rows, total := map[string]*Row{}, map[string]*Row{}
	for _, fam := range Families() {
		if by != ByNone {
			if err := rd.read(ctx, fam, by, rows); err != nil {
				return nil, err
			}
		}
		if err := rd.read(ctx, fam, ByNone, total); err != nil {
			return nil, err
		}
	}
	rd.known(by, rows)
	rd.known(ByNone, total)
	rep := &Report{From: f.From, To: f.To, TZ: f.TZ, By: by, AttributionDays: k.opt.AttributionDays, Source: src.String(),
		Rows: []Row{}}
	keys := make([]string, 0, len(rows))
	for key := range rows {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if by == ByAgent && key == "" {
			continue // by agent: the agents' rows; the total has the rest
		}
		r := rows[key]
		r.Key = key
		r.finish(k.opt.Costs)
		rep.Rows = append(rep.Rows, *r)
	}
	t := total[""]
	if t == nil {
		t = &Row{}
	}
	t.Key = "total"
	t.finish(k.opt.Costs)
	rep.Total = *t
	return rep, nil
}

// Applies says whether a family has figures for f grouped by by (the
// 30-day abandon rate is per campaign; costs are not split by agent;
// agents' time and replies have fewer dimensions than attempts).
func (k *KPI) Applies(f Filter, by By, fam Family) bool {
	rd := &reader{k: k, f: f}
	switch fam {
	case FamilyAbandon:
		return by == ByNone || by == ByCampaign
	case FamilyCosts:
		return rd.costsApply(by)
	case FamilyAgents:
		return rd.agentsApply(by)
	case FamilyReplies:
		return rd.repliesApply(by)
	case FamilyBestTime:
		return len(f.Agents) == 0
	}
	return true
}

// Measure runs one family's query for f and by, for a benchmark, and says
// how long it took.
func (k *KPI) Measure(ctx context.Context, f Filter, by By, src Source, fam Family) (time.Duration, error) {
	rd, err := k.reader(ctx, f, src)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if fam == FamilyBestTime {
		_, err = rd.bestTime(ctx, "")
	} else {
		err = rd.read(ctx, fam, by, map[string]*Row{})
	}
	return time.Since(start), err
}

// reader refreshes what f reads (when it reads roll-ups) and returns the
// reader of f.
func (k *KPI) reader(ctx context.Context, f Filter, src Source) (*reader, error) {
	if f.loc == nil {
		return nil, fmt.Errorf("kpi: the filter was not resolved")
	}
	rd := &reader{k: k, f: f, src: src, now: k.opt.Now()}
	if src == Rollup {
		from, to := f.Range()
		if _, err := k.Refresh(ctx, RefreshScope{Campaigns: f.Campaigns, From: from.Add(-window - time.Hour), To: to}); err != nil {
			return nil, err
		}
	} else {
		d, err := k.depth(ctx, rawPromises(k.db))
		if err != nil {
			return nil, err
		}
		rd.depth = d
	}
	return rd, nil
}

func (rd *reader) read(ctx context.Context, fam Family, by By, rows map[string]*Row) error {
	switch fam {
	case FamilyAttempts:
		return rd.attempts(ctx, by, rows)
	case FamilyDebtors:
		return rd.debtors(ctx, by, rows)
	case FamilyAbandon:
		return rd.abandon30(ctx, by, rows)
	case FamilyCosts:
		return rd.costs(ctx, by, rows)
	case FamilyPromises:
		return rd.promises(ctx, by, rows)
	case FamilyRecovery:
		return rd.recovery(ctx, by, rows)
	case FamilyAgents:
		return rd.agents(ctx, by, rows)
	case FamilyReplies:
		return rd.replies(ctx, by, rows)
	}
	return fmt.Errorf("kpi: unknown family %q", fam)
}

func row(rows map[string]*Row, key string) *Row {
	r := rows[key]
	if r == nil {
		r = &Row{}
		rows[key] = r
	}
	return r
}

// conds builds a WHERE clause.
type conds struct {
	parts []string
	args  []any
}

func (c *conds) add(cond string, args ...any) {
	c.parts = append(c.parts, cond)
	c.args = append(c.args, args...)
}

func (c *conds) in(col string, vals []string) {
	if len(vals) == 0 {
		return
	}
	c.parts = append(c.parts, col+" IN ("+marks(len(vals))+")")
	for _, v := range vals {
		c.args = append(c.args, v)
	}
}

func (c *conds) String() string {
	if len(c.parts) == 0 {
		return "1"
	}
	return strings.Join(c.parts, " AND ")
}

func channels(cs []analytics.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// key is the grouping expression over a family's columns: tcol its time
// column, ch its channel as voice, sms or whatsapp.
func (rd *reader) key(by By, tcol, ch string) string {
	tz := "'" + rd.f.TZ + "'"
	switch by {
	case ByDay:
		return "toString(toDate(" + tcol + ", " + tz + "))"
	case ByHour:
		return "formatDateTime(" + tcol + ", '%H', " + tz + ")"
	case ByCampaign:
		return "campaign_id"
	case ByAgent:
		return "agent_id"
	case BySegment:
		return "segment"
	case ByChannel:
		return ch
	}
	return "''"
}

// dims adds the filter's campaign, country, segment, channel and agent
// conditions; ch is the family's channel expression.
func (rd *reader) dims(c *conds, ch string) {
	c.in("campaign_id", rd.f.Campaigns)
	c.in("country", rd.f.Countries)
	c.in("segment", rd.f.Segments)
	c.in(ch, channels(rd.f.Channels))
	c.in("agent_id", rd.f.Agents)
}

// byAgents says whether attempts are read from the agents' roll-up: by
// agent, or for some agents.
func (rd *reader) byAgents(by By) bool { return by == ByAgent || len(rd.f.Agents) > 0 }

// attemptSource is kpi_attempts (or kpi_agent_attempts when agents asks),
// or its rows computed from the raw table, over [from, to) and the
// filter's dimensions.
func (rd *reader) attemptSource(from, to time.Time, agents bool) (string, *conds) {
	c := &conds{}
	if rd.src == Rollup && rd.f.wholeHours() {
		scope := &conds{}
		scope.in("campaign_id", rd.f.Campaigns)
		scope.add("bucket >= ? AND bucket < ?", unix(from), unix(to))
		v, args := rd.k.versions("campaign_id, hour", "campaign_id, toDateTime(bucket)", []string{srcAttempts}, scope)
		c.add(v, args...)
		c.add("hour >= toDateTime(?) AND hour < toDateTime(?)", unix(from), unix(to))
		if agents {
			c.in("agent_id", rd.f.Agents)
		}
		c.in("campaign_id", rd.f.Campaigns)
		c.in("country", rd.f.Countries)
		c.in("segment", rd.f.Segments)
		c.in("toString(channel)", channels(rd.f.Channels))
		if agents {
			return rd.k.db + ".kpi_agent_attempts", c
		}
		return rd.k.db + ".kpi_attempts", c
	}
	raw := &conds{}
	raw.add("started_at >= toDateTime(?) AND started_at < toDateTime(?)", unix(from), unix(to))
	rd.dims(raw, "toString(channel)")
	c.args = raw.args
	rows := attemptRows(rd.k.db, rd.bucket(), raw.String())
	if agents {
		return "(" + agentAttemptRollup(rows) + ")", c
	}
	return "(" + attemptRollup(rows) + ")", c
}

// bucket is the raw rows' time bucket: an hour, or a quarter of one when
// the zone's offset is not whole hours.
func (rd *reader) bucket() string {
	if rd.f.wholeHours() {
		return "toStartOfHour(started_at)"
	}
	return "toStartOfFifteenMinutes(started_at)"
}

func (rd *reader) attempts(ctx context.Context, by By, rows map[string]*Row) error {
	from, to := rd.f.Range()
	agents := rd.byAgents(by)
	src, c := rd.attemptSource(from, to, agents)
	cols := `sum(attempts), sum(contacts), sum(rpc), sum(live), sum(abandoned), sum(machines), sum(connects), sum(handle_ms),
    sum(texts_sent), sum(texts_delivered)`
	if agents {
		// An agent's attempts are calls: no machines, no texts.
		cols = `sum(attempts), sum(contacts), sum(rpc), sum(live), sum(abandoned), toUInt64(0), sum(connects), sum(handle_ms),
    toUInt64(0), toUInt64(0)`
	}
	q := `SELECT ` + rd.key(by, "hour", "toString(channel)") + ` AS k, ` + cols + `
FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY k`
	return rd.k.query(ctx, "attempt KPIs", q, c.args, func(r driver.Rows) error {
		var key string
		var x Row
		if err := r.Scan(&key, &x.Attempts, &x.Contacts, &x.RPC, &x.LiveAnswers, &x.Abandoned, &x.Machines, &x.Connects,
			&x.handleMS, &x.TextsSent, &x.TextsDelivered); err != nil {
			return err
		}
		o := row(rows, key)
		o.Attempts, o.Contacts, o.RPC, o.LiveAnswers, o.Abandoned = x.Attempts, x.Contacts, x.RPC, x.LiveAnswers, x.Abandoned
		o.Machines, o.Connects, o.handleMS, o.TextsSent, o.TextsDelivered = x.Machines, x.Connects, x.handleMS, x.TextsSent, x.TextsDelivered
		return nil
	})
}

// debtors counts the debtors (accounts of a campaign) attempted, reached
// and reached in person, per group: from kpi_debtors, whose rows list
// each account's attempted hours with their channel, agent, segment and
// country, or from the raw rows.
func (rd *reader) debtors(ctx context.Context, by By, rows map[string]*Row) error {
	from, to := rd.f.Range()
	var q string
	var args []any
	if rd.src == Rollup && rd.f.wholeHours() {
		q, args = rd.debtorQuery(by, from, to)
	} else {
		raw := &conds{}
		raw.add("started_at >= toDateTime(?) AND started_at < toDateTime(?)", unix(from), unix(to))
		rd.dims(raw, "toString(channel)")
		args = raw.args
		q = `SELECT ` + rd.key(by, "hour", "toString(channel)") + ` AS k, uniqExactIf(campaign_id, account_id, f_attempt = 1),
    uniqExactIf(campaign_id, account_id, f_contact = 1), uniqExactIf(campaign_id, account_id, f_rpc = 1)
FROM (` + attemptRows(rd.k.db, rd.bucket(), raw.String()) + `) GROUP BY k`
	}
	return rd.k.query(ctx, "debtors", q, args, func(r driver.Rows) error {
		var key string
		var n, reached, rpc uint64
		if err := r.Scan(&key, &n, &reached, &rpc); err != nil {
			return err
		}
		if n == 0 {
			return nil // a group with no debtor is the other families' to show, if they have it
		}
		o := row(rows, key)
		o.Debtors, o.DebtorsReached, o.DebtorsRPC = n, reached, rpc
		return nil
	})
}

// debtorQuery counts debtors from kpi_debtors. Each row's elements (one
// per attempted hour, with its channel, agent, segment and country) are
// kept if the filter takes them and turned into (key, flag) pairs, one per
// flag (1 attempted, 2 reached, 4 right party); a row's distinct pairs are
// counted per key. Only the arrays the filter and grouping need are read,
// and time keys are numbers packed with the flag (cheaper than strings).
func (rd *reader) debtorQuery(by By, from, to time.Time) (string, []any) {
	tz := "'" + rd.f.TZ + "'"
	params, arrays := []string{"h", "f"}, []string{"hours", "flags"}
	need := func(param, array string) {
		params, arrays = append(params, param), append(arrays, array)
	}
	cond := []string{fmt.Sprintf("h >= %d AND h < %d", unix(from)/3600, unix(to)/3600)}
	lit := func(param, array string, vals []string, grouped bool) {
		if len(vals) > 0 || grouped {
			need(param, array)
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
	where := &conds{}
	where.add(rd.k.accountVersions())
	where.in("campaign_id", rd.f.Campaigns)
	lambda := "(" + strings.Join(params, ", ") + ") -> "
	arrs := strings.Join(arrays, ", ")
	ok := strings.Join(cond, " AND ")
	var elems, pair, key string
	switch by {
	case ByAgent, BySegment, ByChannel:
		// String keys: (key, flags) tuples.
		elems = "arrayFilter(e -> e.3 = 1, arrayMap(" + lambda + "(" + map[By]string{ByAgent: "ag", BySegment: "sg", ByChannel: "ch"}[by] +
			", f, toUInt8(" + ok + ")), " + arrs + "))"
		pair = func() string {
			p := func(bit string) string {
				return "arrayMap(e -> (e.1, toUInt8(" + bit + ")), arrayFilter(e -> bitAnd(e.2, " + bit + ") = " + bit + ", els))"
			}
			return "arrayConcat(" + p("1") + ", " + p("2") + ", " + p("4") + ")"
		}()
		key = "x.1"
		return `SELECT k, countIf(b = 1), countIf(b = 2), countIf(b = 4) FROM (
    SELECT ` + key + ` AS k, x.2 AS b FROM (
        SELECT arrayJoin(arrayDistinct(` + pair + `)) AS x FROM (
            SELECT ` + elems + ` AS els FROM ` + rd.k.db + `.kpi_debtors WHERE ` + where.String() + `
        )
    )
) GROUP BY k`, where.args
	}
	if by == ByNone || by == ByCampaign {
		// One key per row: whether any element the filter takes has the flag.
		key := "''"
		if by == ByCampaign {
			key = "campaign_id"
		}
		has := func(bit string) string {
			return "countIf(arrayExists(" + lambda + ok + " AND bitAnd(f, " + bit + ") = " + bit + ", " + arrs + "))"
		}
		return `SELECT ` + key + ` AS k, ` + has("1") + `, ` + has("2") + `, ` + has("4") + `
FROM ` + rd.k.db + `.kpi_debtors WHERE ` + where.String() + ` GROUP BY k`, where.args
	}
	num := "1"
	switch by {
	case ByDay:
		num = "toRelativeDayNum(toDateTime(h * 3600), " + tz + ")"
		key = "toString(toDate(n))"
	case ByHour:
		num = "toHour(toDateTime(h * 3600), " + tz + ") + 1"
		key = "if(n < 11, concat('0', toString(n - 1)), toString(n - 1))"
	}
	// n * 8 + flags; 0 when the filter leaves the element out (flags has
	// bit 1 on every element).
	elems = "arrayFilter(x -> x != 0, arrayMap(" + lambda + "if(" + ok + ", toUInt64(" + num + ") * 8 + f, toUInt64(0)), " + arrs + "))"
	p := func(bit string) string {
		return "arrayMap(x -> bitOr(bitAnd(x, 18446744073709551608), " + bit + "), arrayFilter(x -> bitAnd(x, " + bit + ") = " + bit + ", els))"
	}
	return `SELECT k, countIf(b = 1), countIf(b = 2), countIf(b = 4) FROM (
    SELECT ` + key + ` AS k, b FROM (
        SELECT campaign_id, intDiv(x, 8) AS n, bitAnd(x, 7) AS b FROM (
            SELECT campaign_id, arrayJoin(arrayDistinct(arrayConcat(` + p("1") + `, ` + p("2") + `, ` + p("4") + `))) AS x FROM (
                SELECT campaign_id, ` + elems + ` AS els FROM ` + rd.k.db + `.kpi_debtors WHERE ` + where.String() + `
            )
        )
    )
) GROUP BY k`, where.args
}

// quoted is vals as SQL string literals (for lambdas, which cannot take
// bound parameters in ClickHouse 18.16's client-side binding).
func quoted(vals []string) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	}
	return strings.Join(out, ", ")
}

// abandon30 is the abandon rate over the 30 days that end with the range,
// per campaign (the US rule); other groupings have none but the total.
func (rd *reader) abandon30(ctx context.Context, by By, rows map[string]*Row) error {
	if by != ByNone && by != ByCampaign {
		return nil
	}
	_, to := rd.f.Range()
	src, c := rd.attemptSource(to.Add(-window), to, rd.byAgents(by))
	q := `SELECT ` + rd.key(by, "hour", "") + ` AS k, sum(abandoned), sum(live) FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY k`
	return rd.k.query(ctx, "30-day abandon rate", q, c.args, func(r driver.Rows) error {
		var key string
		var ab, live uint64
		if err := r.Scan(&key, &ab, &live); err != nil {
			return err
		}
		o := row(rows, key)
		o.abandoned30, o.live30 = ab, live
		return nil
	})
}

// costsApply says whether costs answer the filter: trunks bill calls,
// not agents.
func (rd *reader) costsApply(by By) bool { return rd.k.opt.Costs.Configured() && !rd.byAgents(by) }

func (rd *reader) costs(ctx context.Context, by By, rows map[string]*Row) error {
	if !rd.costsApply(by) {
		return nil
	}
	from, to := rd.f.Range()
	src, c := rd.attemptSource(from, to, false)
	q := `SELECT ` + rd.key(by, "hour", "toString(channel)") + ` AS k, toString(channel) AS ch, trunk, sum(placed), sum(billed_s),
    sum(texts_sent), sum(segments_sent)
FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY k, ch, trunk`
	return rd.k.query(ctx, "billing", q, c.args, func(r driver.Rows) error {
		var key, ch, trunk string
		var placed, billed, texts, segments uint64
		if err := r.Scan(&key, &ch, &trunk, &placed, &billed, &texts, &segments); err != nil {
			return err
		}
		o := row(rows, key)
		if o.placed == nil {
			o.placed, o.placedSec, o.texts, o.sg = map[string]uint64{}, map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
		}
		b := billingKey(ch, trunk)
		o.placed[b] += placed
		o.placedSec[b] += billed
		o.texts[b] += texts
		o.sg[b] += segments
		return nil
	})
}

// promiseChannel is a promise's channel as the attempts' (the IVR and
// agents take promises on calls; texts, by SMS or WhatsApp, are "sms").
const promiseChannel = "if(channel = 'sms', 'sms', 'voice')"

func (rd *reader) promises(ctx context.Context, by By, rows map[string]*Row) error {
	from, to := rd.f.Range()
	c := &conds{}
	c.add("cancelled = 0 AND created_at >= toDateTime(?) AND created_at < toDateTime(?)", unix(from), unix(to))
	rd.dims(c, promiseChannel)
	src := rd.k.db + ".kpi_promises"
	if rd.src == Raw {
		src = "(" + promiseOutcomes(rawPromises(rd.k.db), rawPayments(rd.k.db), max(rd.depth, 1)) + ")"
	} else {
		c.add(rd.k.accountVersions())
	}
	now := unix(rd.now)
	q := `SELECT ` + rd.key(by, "created_at", promiseChannel) + ` AS k, currency, count(), sum(amount), countIf(kept = 1),
    countIf(kept = 0 AND deadline <= toDateTime(?)), countIf(kept = 0 AND deadline > toDateTime(?)), sumIf(amount, kept = 1),
    sumIf(amount, kept = 1 OR deadline <= toDateTime(?)), sum(received)
FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY k, currency`
	return rd.k.query(ctx, "promise KPIs", q, append([]any{now, now, now}, c.args...), func(r driver.Rows) error {
		var key, cur string
		var n, kept, broken, pending uint64
		var amount, keptAmount, decided, received decimal.Decimal
		if err := r.Scan(&key, &cur, &n, &amount, &kept, &broken, &pending, &keptAmount, &decided, &received); err != nil {
			return err
		}
		o := row(rows, key)
		o.Promises += n
		o.Kept += kept
		o.Broken += broken
		o.Pending += pending
		o.Promised = o.Promised.add(cur, amount)
		o.KeptAmount = o.KeptAmount.add(cur, keptAmount)
		o.decidedAmount = o.decidedAmount.add(cur, decided)
		o.PaidOnTime = o.PaidOnTime.add(cur, received)
		return nil
	})
}

func (rd *reader) recovery(ctx context.Context, by By, rows map[string]*Row) error {
	from, to := rd.f.Range()
	c := &conds{}
	c.add("paid_at >= toDateTime(?) AND paid_at < toDateTime(?) AND touched_at > toDateTime(0) AND "+
		"toUInt32(paid_at) - toUInt32(touched_at) <= ?", unix(from), unix(to), rd.k.opt.AttributionDays*86400)
	rd.dims(c, "toString(channel)")
	src := rd.k.db + ".kpi_payments"
	if rd.src == Raw {
		src = "(" + paymentAttribution(rawPayments(rd.k.db), rawTouches(rd.k.db)) + ")"
	} else {
		c.add(rd.k.accountVersions())
	}
	q := `SELECT ` + rd.key(by, "paid_at", "toString(channel)") + ` AS k, currency, count(), sum(amount)
FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY k, currency`
	return rd.k.query(ctx, "recovery", q, c.args, func(r driver.Rows) error {
		var key, cur string
		var n uint64
		var amount decimal.Decimal
		if err := r.Scan(&key, &cur, &n, &amount); err != nil {
			return err
		}
		o := row(rows, key)
		o.RecoveredPayments += n
		o.Recovered = o.Recovered.add(cur, amount)
		return nil
	})
}

// agentsApply says whether agents' time answers the filter: it has no
// country, segment or text channel of its own.
func (rd *reader) agentsApply(by By) bool {
	if by == BySegment || by == ByChannel || len(rd.f.Countries) > 0 || len(rd.f.Segments) > 0 {
		return false
	}
	return len(rd.f.Channels) == 0 || slices.Contains(rd.f.Channels, analytics.Voice)
}

func (rd *reader) agents(ctx context.Context, by By, rows map[string]*Row) error {
	if !rd.agentsApply(by) {
		return nil
	}
	from, to := rd.f.Range()
	c := &conds{}
	c.add("hour >= toDateTime(?) AND hour < toDateTime(?)", unix(from), unix(to))
	c.in("campaign_id", rd.f.Campaigns)
	c.in("agent_id", rd.f.Agents)
	var src string
	if rd.src == Rollup && rd.f.wholeHours() {
		src = rd.k.db + ".kpi_agents"
		c.add("src_hour >= toDateTime(?) AND src_hour < toDateTime(?)", unix(from.Add(-maxAgentSpan)), unix(to))
		scope := &conds{}
		scope.in("campaign_id", rd.f.Campaigns)
		scope.add("bucket >= ? AND bucket < ?", unix(from.Add(-maxAgentSpan)), unix(to))
		v, args := rd.k.versions("campaign_id, src_hour", "campaign_id, toDateTime(bucket)", []string{srcAgents}, scope)
		c.add(v, args...)
	} else {
		raw := &conds{}
		raw.add("started_at >= toDateTime(?) AND started_at < toDateTime(?)", unix(from.Add(-maxAgentSpan)), unix(to))
		raw.in("campaign_id", rd.f.Campaigns)
		raw.in("agent_id", rd.f.Agents)
		slot := 3600
		if !rd.f.wholeHours() {
			slot = 900
		}
		src = "(" + agentRollup(agentRowsIn(rd.k.db, "toStartOfHour(started_at)", raw.String(), slot)) + ")"
		c.args = append(raw.args, c.args...)
	}
	q := `SELECT ` + rd.key(by, "hour", "") + ` AS k, sum(seconds), sumIf(seconds, state = 'talking'), sumIf(seconds, state = 'wrap_up')
FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY k`
	return rd.k.query(ctx, "agent time", q, c.args, func(r driver.Rows) error {
		var key string
		var all, talk, wrap uint64
		if err := r.Scan(&key, &all, &talk, &wrap); err != nil {
			return err
		}
		o := row(rows, key)
		o.agentSec, o.talkSec, o.wrapSec = all, talk, wrap
		return nil
	})
}

// repliesApply says whether replies answer the filter: messages have no
// country, segment or agent.
func (rd *reader) repliesApply(by By) bool {
	return by != BySegment && by != ByAgent && len(rd.f.Countries) == 0 && len(rd.f.Segments) == 0 && len(rd.f.Agents) == 0
}

func (rd *reader) replies(ctx context.Context, by By, rows map[string]*Row) error {
	if !rd.repliesApply(by) {
		return nil
	}
	from, to := rd.f.Range()
	c := &conds{}
	c.add("direction = 'inbound' AND at >= toDateTime(?) AND at < toDateTime(?)", unix(from), unix(to))
	c.in("campaign_id", rd.f.Campaigns)
	c.in("toString(channel)", channels(rd.f.Channels))
	q := `SELECT ` + rd.key(by, "at", "toString(channel)") + ` AS k, count(), countIf(action = 'optout')
FROM ` + rd.k.db + `.messages FINAL WHERE ` + c.String() + ` GROUP BY k`
	return rd.k.query(ctx, "replies", q, c.args, func(r driver.Rows) error {
		var key string
		var n, opt uint64
		if err := r.Scan(&key, &n, &opt); err != nil {
			return err
		}
		o := row(rows, key)
		o.Replies, o.OptOuts = &n, &opt
		return nil
	})
}

// known marks which of rows' figures the filter and grouping apply to.
func (rd *reader) known(by By, rows map[string]*Row) {
	for _, o := range rows {
		o.agentsKnown = rd.agentsApply(by)
		o.repliesKnown = rd.repliesApply(by)
		if o.repliesKnown && o.Replies == nil {
			var zero, zero2 uint64
			o.Replies, o.OptOuts = &zero, &zero2
		}
	}
}

// Cell is one local weekday and hour of the best-time-to-call grid.
type Cell struct {
	// Group is the country or segment the cell is of, when asked for.
	Group       string   `json:"group,omitempty"`
	Weekday     uint8    `json:"weekday"` // ISO: 1 = Monday ... 7 = Sunday; 0 when unknown
	Hour        uint8    `json:"hour"`    // the debtor's local hour
	Attempts    uint64   `json:"attempts"`
	Contacts    uint64   `json:"contacts"`
	RPC         uint64   `json:"rpc"`
	ContactRate *float64 `json:"contact_rate"`
	RPCRate     *float64 `json:"rpc_rate"`
}

// BestTime is the contact and right-party rates of f by the debtor's local
// weekday and hour, with the attempts behind each cell so thin cells are
// visible; by is "", "country" or "segment".
func (k *KPI) BestTime(ctx context.Context, f Filter, by string, src Source) ([]Cell, error) {
	if by != "" && by != "country" && by != "segment" {
		return nil, &analytics.FieldError{Field: "by", Reason: fmt.Sprintf("%q: want country or segment", clipped(by))}
	}
	rd, err := k.reader(ctx, f, src)
	if err != nil {
		return nil, err
	}
	return rd.bestTime(ctx, by)
}

func (rd *reader) bestTime(ctx context.Context, by string) ([]Cell, error) {
	if len(rd.f.Agents) > 0 {
		return nil, &analytics.FieldError{Field: "agent", Reason: "the best time to call is not kept per agent"}
	}
	from, to := rd.f.Range()
	src, c := rd.attemptSource(from, to, false)
	group := "''"
	if by != "" {
		group = by
	}
	q := `SELECT ` + group + ` AS g, local_weekday, local_hour, sum(attempts), sum(contacts), sum(rpc)
FROM ` + src + ` WHERE ` + c.String() + ` GROUP BY g, local_weekday, local_hour HAVING sum(attempts) > 0
ORDER BY g, local_weekday, local_hour`
	var out []Cell
	err := rd.k.query(ctx, "best time", q, c.args, func(r driver.Rows) error {
		var x Cell
		if err := r.Scan(&x.Group, &x.Weekday, &x.Hour, &x.Attempts, &x.Contacts, &x.RPC); err != nil {
			return err
		}
		x.ContactRate = ratio(float64(x.Contacts), float64(x.Attempts))
		x.RPCRate = ratio(float64(x.RPC), float64(x.Attempts))
		out = append(out, x)
		return nil
	})
	return out, err
}
