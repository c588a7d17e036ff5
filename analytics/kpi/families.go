package kpi

import (
	"context"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
)

// One query per family of KPIs, on the roll-ups or the raw tables.

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
// and reached in person, per group: by day from kpi_debtor_days (when no
// dimension but campaigns filters them), otherwise from kpi_debtors, whose
// rows list each account's attempted hours with their channel, agent,
// segment and country, or from the raw rows.
func (rd *reader) debtors(ctx context.Context, by By, rows map[string]*Row) error {
	missing := false
	scan := func(r driver.Rows) error {
		var key string
		var n, reached, rpc uint64
		if err := r.Scan(&key, &n, &reached, &rpc); err != nil {
			return err
		}
		if key == missingSet {
			missing = true
			return nil
		}
		if n == 0 {
			return nil // a group with no debtor is the other families' to show, if they have it
		}
		o := row(rows, key)
		o.Debtors, o.DebtorsReached, o.DebtorsRPC = n, reached, rpc
		return nil
	}
	q, args := rd.debtorSQL(by)
	if err := rd.k.query(ctx, "debtors", q, args, scan); err != nil || !missing {
		return err
	}
	// A set kpi_debtor_sets does not hold yet (rows written while
	// migration 17 ran): the arrays answer alone.
	rd.k.log.Warn("kpi: debtors: a pair set is missing from kpi_debtor_sets, counting from the arrays", "db", rd.k.db, "by", by)
	for _, o := range rows {
		o.Debtors, o.DebtorsReached, o.DebtorsRPC = 0, 0, 0
	}
	from, to := rd.f.Range()
	q, args = rd.debtorQuery(by, from, to, "")
	return rd.k.query(ctx, "debtors", q, args, scan)
}

// debtorSQL is the query of the debtors per group (columns k, n, reached,
// rpc).
func (rd *reader) debtorSQL(by By) (string, []any) {
	from, to := rd.f.Range()
	switch {
	case rd.byDayCounts(by):
		return rd.dayQuery()
	case rd.src == Rollup && rd.f.wholeHours() && by == ByHour:
		return rd.hourQuery(from, to)
	case rd.src == Rollup && rd.f.wholeHours():
		return rd.spanQuery(by, from, to)
	}
	raw := &conds{}
	raw.add("started_at >= toDateTime(?) AND started_at < toDateTime(?)", unix(from), unix(to))
	rd.dims(raw, "toString(channel)")
	return `SELECT ` + rd.key(by, "hour", "toString(channel)") + ` AS k, uniqExactIf(campaign_id, account_id, f_attempt = 1),
    uniqExactIf(campaign_id, account_id, f_contact = 1), uniqExactIf(campaign_id, account_id, f_rpc = 1)
FROM (` + attemptRows(rd.k.db, rd.bucket(), raw.String()) + `) GROUP BY k`, raw.args
}

// debtorRows are kpi_debtors' rows of the latest refresh in the
// campaigns asked, and those only picks (PREWHERE) when not empty: the
// table and condition to read them with.
func (rd *reader) debtorRows(only string) (string, *conds) {
	where := &conds{}
	where.add(rd.k.accountVersions())
	where.in("campaign_id", rd.f.Campaigns)
	table := rd.k.db + ".kpi_debtors"
	if only != "" {
		table += " PREWHERE " + only
	}
	return table, where
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
