package kpi

import (
	"fmt"
	"strings"

	"github.com/marcador/marcador/analytics"
)

// The roll-ups' rows are computed by the SELECTs below from rows read
// newest version first (the raw tables with FINAL, or the account-ordered
// copies deduplicated by ver). A refresh inserts what they return for the
// stale buckets; the raw baseline (Source Raw) runs the same SELECTs over
// the raw tables inside the KPI queries.

// attemptRows is one row per attempt in where (over contact_attempts),
// with what it counts as; bucket is the time bucket of started_at (an
// hour for the roll-up).
func attemptRows(db, bucket, where string) string {
	flag := func(cond, name string) string { return "toUInt64(" + cond + ") AS " + name }
	return `SELECT campaign_id, ` + bucket + ` AS hour, channel, country, segment, agent_id, trunk, local_hour, local_weekday, ` +
		strings.Join([]string{
			flag(analytics.SQLAttempt, "f_attempt"),
			flag("disposition = '"+analytics.Blocked+"'", "f_blocked"),
			flag(analytics.SQLContact, "f_contact"),
			flag(analytics.SQLRightParty, "f_rpc"),
			flag(analytics.SQLLive, "f_live"),
			flag(analytics.SQLAbandoned, "f_abandoned"),
			flag("(channel = 'voice' AND (disposition = '"+analytics.Machine+"' OR amd = 'machine'))", "f_machine"),
			flag("("+analytics.SQLContact+" AND agent_id != '')", "f_connect"),
			"toUInt64(if(" + analytics.SQLContact + " AND agent_id != '', talk_ms + wrap_ms, 0)) AS v_handle",
			flag(analytics.SQLPlaced, "f_placed"),
			"toUInt64(if(" + analytics.SQLPlaced + ", intDiv(talk_ms + 999, 1000), 0)) AS v_billed",
			flag(analytics.SQLTrunkFailure, "f_trunk_failure"),
			flag(analytics.SQLTextSent, "f_text_sent"),
			flag(analytics.SQLTextDelivered, "f_text_delivered"),
			"toUInt64(if(" + analytics.SQLTextSent + ", segments, 0)) AS v_segments",
			"account_id",
		}, ", ") +
		` FROM ` + db + `.contact_attempts FINAL WHERE ` + where
}

// attemptKeys are kpi_attempts' grouping columns, in its sorting key's order.
const attemptKeys = `campaign_id, hour, channel, country, segment, trunk, local_hour, local_weekday`

// attemptRollup groups attemptRows into kpi_attempts' columns (ver
// excepted).
func attemptRollup(rows string) string {
	return `SELECT ` + attemptKeys + `,
    sum(f_attempt) AS attempts, sum(f_blocked) AS blocked, sum(f_contact) AS contacts, sum(f_rpc) AS rpc, sum(f_live) AS live,
    sum(f_abandoned) AS abandoned, sum(f_machine) AS machines, sum(f_connect) AS connects, sum(v_handle) AS handle_ms,
    sum(f_placed) AS placed, sum(v_billed) AS billed_s, sum(f_trunk_failure) AS trunk_failures, sum(f_text_sent) AS texts_sent,
    sum(f_text_delivered) AS texts_delivered, sum(v_segments) AS segments_sent
FROM (` + rows + `) GROUP BY ` + attemptKeys
}

const attemptColumns = attemptKeys + `, attempts, blocked, contacts, rpc, live, abandoned, machines, connects, handle_ms, placed,
    billed_s, trunk_failures, texts_sent, texts_delivered, segments_sent`

// agentAttemptKeys are kpi_agent_attempts' grouping columns.
const agentAttemptKeys = `campaign_id, hour, agent_id, channel, country, segment`

// agentAttemptRollup groups the attemptRows an agent took into
// kpi_agent_attempts' columns (ver excepted).
func agentAttemptRollup(rows string) string {
	return `SELECT ` + agentAttemptKeys + `, sum(f_attempt) AS attempts, sum(f_contact) AS contacts, sum(f_rpc) AS rpc,
    sum(f_live) AS live, sum(f_abandoned) AS abandoned, sum(f_connect) AS connects, sum(v_handle) AS handle_ms
FROM (` + rows + `) WHERE agent_id != '' GROUP BY ` + agentAttemptKeys
}

const agentAttemptColumns = agentAttemptKeys + `, attempts, contacts, rpc, live, abandoned, connects, handle_ms`

// maxIntervalHours bounds how many hours one agent state interval is
// spread over (a week); the rest of a longer interval is not counted.
const maxIntervalHours = 168

// agentRowsIn is the seconds each agent state interval in where (over
// agent_states) spent in each slot (an hour, 3600 s, or a quarter, 900 s)
// it covers; src_hour is the bucket the interval belongs to (the hour it
// started), hour the slot counted.
func agentRowsIn(db, bucket, where string, slot int) string {
	sl := fmt.Sprint(slot)
	return `SELECT campaign_id, src_hour, toDateTime(h) AS hour, agent_id, state,
    toUInt64(least(e, h + ` + sl + `) - greatest(s, h)) AS seconds
FROM (
    SELECT campaign_id, ` + bucket + ` AS src_hour, agent_id, state, toUInt32(started_at) AS s, toUInt32(ended_at) AS e,
        intDiv(s, ` + sl + `) * ` + sl + ` + ` + sl + ` * arrayJoin(range(toUInt32(if(e > s, least(intDiv(e - 1, ` + sl +
		`) - intDiv(s, ` + sl + `) + 1, ` + fmt.Sprint(maxIntervalHours*3600/slot) + `), 0)))) AS h
    FROM ` + db + `.agent_states FINAL WHERE ` + where + `
)`
}

const agentKeys = `campaign_id, src_hour, hour, agent_id, state`

func agentRollup(rows string) string {
	return `SELECT ` + agentKeys + `, sum(seconds) AS seconds FROM (` + rows + `) GROUP BY ` + agentKeys
}

// Account-keyed roll-ups read the account-ordered copies (kpi_account_*,
// filled by views with every version of every row), newest version of
// each row first; the raw baseline reads the raw tables with FINAL. Each
// source has the same columns either way.

// accountAttempts are the attempts of the accounts in buckets (the copy,
// deduplicated): their bucket, campaign, account, time, channel, country,
// segment, agent and flags (1 an attempt, 2 a contact, 4 right party, 8 a
// touch).
func accountAttempts(db, buckets string) string {
	return `SELECT bucket, campaign_id, account_id, started_at, attempt_id, argMax(flags, ver) AS flags,
    argMax(channel, ver) AS channel, argMax(country, ver) AS country, argMax(segment, ver) AS segment,
    argMax(agent_id, ver) AS agent_id
FROM ` + db + `.kpi_account_attempts WHERE bucket IN ` + buckets + `
GROUP BY bucket, campaign_id, account_id, started_at, attempt_id`
}

// debtorRollup is kpi_debtors' columns (ver excepted) from accountAttempts:
// one row per account of a campaign, with one element per hour, channel,
// agent, segment and country it was attempted in, and what the attempts
// there came to (flags or'ed).
func debtorRollup(attempts string) string {
	return `SELECT bucket, campaign_id, account_id, groupArray(h) AS hours, groupArray(f) AS flags, groupArray(ch) AS channels,
    groupArray(ag) AS agents, groupArray(sg) AS segments, groupArray(co) AS countries
FROM (
    SELECT bucket, campaign_id, account_id, toUInt32(intDiv(toUInt32(started_at), 3600)) AS h, toString(channel) AS ch,
        agent_id AS ag, segment AS sg, country AS co, toUInt8(groupBitOr(bitAnd(flags, 7))) AS f
    FROM (` + attempts + `) WHERE bitAnd(flags, 1) = 1
    GROUP BY bucket, campaign_id, account_id, h, ch, ag, sg, co
) GROUP BY bucket, campaign_id, account_id`
}

const debtorColumns = `bucket, campaign_id, account_id, hours, flags, channels, agents, segments, countries`

// accountPromises are the promises of the accounts in buckets (the copy,
// deduplicated).
func accountPromises(db, buckets string) string {
	return `SELECT promise_id, account_id, argMax(campaign_id, ver) AS campaign_id, argMax(created_at, ver) AS created_at,
    argMax(due_date, ver) AS due_date, argMax(amount, ver) AS amount, argMax(currency, ver) AS currency,
    argMax(status, ver) AS status, argMax(channel, ver) AS channel, argMax(grace_days, ver) AS grace_days,
    argMax(keep_percent, ver) AS keep_percent, argMax(country, ver) AS country, argMax(segment, ver) AS segment,
    argMax(agent_id, ver) AS agent_id
FROM ` + db + `.kpi_account_promises WHERE bucket IN ` + buckets + ` GROUP BY promise_id, account_id`
}

// rawPromises are every promise (raw table, newest versions).
func rawPromises(db string) string {
	return `SELECT promise_id, account_id, campaign_id, created_at, due_date, amount, currency, status, channel, grace_days,
    keep_percent, country, segment, agent_id FROM ` + db + `.promises FINAL`
}

// accountPayments are the payments of the accounts in buckets (the copy,
// deduplicated).
func accountPayments(db, buckets string) string {
	return `SELECT payment_id, account_id, paid_at, argMax(amount, ver) AS amount, argMax(currency, ver) AS currency
FROM ` + db + `.kpi_account_payments WHERE bucket IN ` + buckets + ` GROUP BY payment_id, account_id, paid_at`
}

// rawPayments are every payment (raw table, newest versions).
func rawPayments(db string) string {
	return `SELECT payment_id, account_id, paid_at, amount, currency FROM ` + db + `.payments FINAL`
}

// promiseOutcomes settles promises (a promise source) with payments (a
// payment source) as the README's "Promise kept" says, and returns
// kpi_promises' columns (ver excepted). depth is the most promises one
// account holds in one currency (maxPromises): the allocation runs that
// many steps.
//
// Per account and currency, promises in order (created_at, promise_id),
// amounts a (cents), l the payments made before each was created, e the
// payments made before its deadline. Promise i takes the payments from level
// o[i] = max(l[i], x[i-1]) (where the one before it closed; o[1] = l[1]) to
// x[i] = max(o[i], min(o[i] + a[i], e[i])): until it is paid in full or its
// deadline passes. ClickHouse 18.16 has no fold, so o is computed by passes
// over the array, each pass one step further (after n-1 passes every o[i]
// is exact).
func promiseOutcomes(promises, payments string, depth int) string {
	deadline := `toUInt32(toDateTime(addDays(due_date, if(grace_days = 0, 2, grace_days) + 1), 'UTC'))`
	// ClickHouse 18.16 drops a subquery's column that only a lambda uses, so
	// lambdas capture nothing (the steps pass shifted arrays instead), and
	// where one must (l, e), the captured arrays are also used outside it.
	base := `SELECT account_id, currency, ps,
    if(length(pa) = length(pt), arrayMap(p -> arraySum(arrayMap((x, t) -> if(t < p.1, x, 0), pa, pt)), ps), emptyArrayInt64()) AS l,
    if(length(pa) = length(pt), arrayMap(p -> arraySum(arrayMap((x, t) -> if(t < p.3, x, 0), pa, pt)), ps), emptyArrayInt64()) AS e,
    arrayMap(p -> p.4, ps) AS a
FROM (
    SELECT account_id, currency, arraySort(groupArray((toUInt32(created_at), promise_id, ` + deadline + `,
        toInt64(amount * 100), if(keep_percent = 0, 100, keep_percent), campaign_id, toString(channel), country, segment,
        agent_id, due_date, amount))) AS ps
    FROM (` + promises + `) WHERE status != 'cancelled' GROUP BY account_id, currency
) ANY LEFT JOIN (
    SELECT account_id, currency, groupArray(toUInt32(paid_at)) AS pt, groupArray(toInt64(amount * 100)) AS pa
    FROM (` + payments + `) GROUP BY account_id, currency
) USING (account_id, currency)`
	// before(x) is x shifted one place: the previous promise's value.
	before := func(x string) string { return "arrayPushFront(arrayPopBack(" + x + "), toInt64(0))" }
	q, prev := base, "l"
	for r := 1; r < depth; r++ {
		o := fmt.Sprintf("o%d", r)
		q = `SELECT account_id, currency, ps, l, e, a, arrayMap((i, li, op, ap, ep) -> if(i = 1, li, greatest(li, greatest(op,
    least(op + ap, ep)))), arrayEnumerate(l), l, ` + before(prev) + `, ` + before("a") + `, ` + before("e") + `) AS ` + o + `
FROM (` + q + `)`
		prev = o
	}
	q = `SELECT account_id, currency, ps, arrayMap((o, ai, ei) -> greatest(o, least(o + ai, ei)) - o, ` + prev + `, a, e) AS recv
FROM (` + q + `)`
	return `SELECT ` + analytics.SQLAccountBucket + ` AS bucket, p.2 AS promise_id, p.6 AS campaign_id, account_id,
    toDateTime(p.1) AS created_at, p.11 AS due_date, toDateTime(p.3) AS deadline,
    CAST(p.7 AS Enum8('ivr' = 1, 'agent' = 2, 'sms' = 3)) AS channel, p.8 AS country, p.9 AS segment, p.10 AS agent_id,
    p.12 AS amount, currency, toUInt8(p.5) AS keep_percent, toDecimal64(r, 2) / 100 AS received,
    toUInt8(r * 100 >= p.5 * p.4) AS kept, materialize(toUInt8(0)) AS cancelled
FROM (` + q + `) ARRAY JOIN ps AS p, recv AS r`
}

// cancelledPromises are the cancelled promises of a promise source,
// settled as nothing: they count in no KPI.
func cancelledPromises(promises string) string {
	return `SELECT ` + analytics.SQLAccountBucket + ` AS bucket, promise_id, campaign_id, account_id, created_at, due_date,
    toDateTime(addDays(due_date, if(grace_days = 0, 2, grace_days) + 1), 'UTC') AS deadline, channel, country, segment, agent_id,
    amount, currency, if(keep_percent = 0, 100, keep_percent) AS keep_percent, materialize(toDecimal64(0, 2)) AS received,
    materialize(toUInt8(0)) AS kept, materialize(toUInt8(1)) AS cancelled
FROM (` + promises + `) WHERE status = 'cancelled'`
}

const promiseColumns = `bucket, promise_id, campaign_id, account_id, created_at, due_date, deadline, channel, country, segment,
    agent_id, amount, currency, keep_percent, received, kept, cancelled`

// maxPromises is the query for the depth promiseOutcomes needs: the most
// promises one account holds in one currency in a promise source.
func maxPromises(promises string) string {
	return `SELECT toUInt64(max(n)) FROM (SELECT count() AS n FROM (` + promises + `)
WHERE status != 'cancelled' GROUP BY account_id, currency)`
}

// rawTouches are the touches (analytics.SQLTouch) read from
// contact_attempts, for the raw baseline.
func rawTouches(db string) string {
	return `SELECT account_id, started_at, campaign_id, channel, country, segment, agent_id
FROM ` + db + `.contact_attempts FINAL WHERE ` + analytics.SQLTouch
}

// accountTouches are the touches among accountAttempts.
func accountTouches(attempts string) string {
	return `SELECT account_id, started_at, campaign_id, channel, country, segment, agent_id FROM (` + attempts + `)
WHERE bitAnd(flags, 8) = 8`
}

// paymentAttribution pairs each payment of a payment source with the
// latest touch of its account at or before it (a touch source), whatever
// its age (the attribution window is applied when reading, so any window
// is exact); a payment with none has touched_at 1970-01-01.
func paymentAttribution(payments, touches string) string {
	return `SELECT bucket, payment_id, account_id, paid_at, amount, currency, toDateTime(t.1) AS touched_at, t.2 AS campaign_id,
    CAST(if(t.3 = '', 'voice', t.3) AS Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3)) AS channel, t.4 AS country, t.5 AS segment,
    t.6 AS agent_id
FROM (
    SELECT ` + analytics.SQLAccountBucket + ` AS bucket, payment_id, account_id, paid_at, amount, currency, ts,
        ts[arrayCount(x -> x.1 <= toUInt32(paid_at), ts)] AS t
    FROM (` + payments + `) ANY LEFT JOIN (
        SELECT account_id, arraySort(groupArray((toUInt32(started_at), campaign_id, toString(channel), country, segment,
            agent_id))) AS ts
        FROM (` + touches + `) GROUP BY account_id
    ) USING account_id
)`
}

const paymentColumns = `bucket, payment_id, account_id, paid_at, amount, currency, touched_at, campaign_id, channel, country,
    segment, agent_id`
