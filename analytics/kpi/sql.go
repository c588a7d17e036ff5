package kpi

import (
	"fmt"
	"strings"

	"github.com/marcador/marcador/analytics"
)

// The roll-ups' rows are computed by the SELECTs below, from the raw tables
// read with FINAL (each attempt, promise and payment once, newest version).
// A refresh inserts what they return for the stale buckets; the raw
// baseline (Source Raw) runs the same SELECTs inside the KPI queries.

// attemptKeys are kpi_attempts' grouping columns, in its sorting key's order.
const attemptKeys = `campaign_id, hour, channel, country, segment, agent_id, trunk, local_hour, local_weekday`

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

// attemptZeroRows are the groups the roll-up already holds in where (over
// kpi_attempts), counting nothing: unioned with attemptRows when a bucket
// is recomputed, so a group whose rows all moved elsewhere (an SMS from
// queued to delivered) is written again as zero.
func attemptZeroRows(db, where string) string {
	z := make([]string, 0, 15)
	for _, c := range []string{"f_attempt", "f_blocked", "f_contact", "f_rpc", "f_live", "f_abandoned", "f_machine", "f_connect",
		"v_handle", "f_placed", "v_billed", "f_trunk_failure", "f_text_sent", "f_text_delivered", "v_segments"} {
		z = append(z, "materialize(toUInt64(0)) AS "+c)
	}
	// materialize: ClickHouse 18.16 refuses a UNION ALL whose branches
	// differ in which columns are constants.
	return `SELECT ` + attemptKeys + `, ` + strings.Join(z, ", ") + `, materialize('') AS account_id FROM ` + db + `.kpi_attempts FINAL WHERE ` + where
}

// attemptRollup groups rows (attemptRows, maybe with attemptZeroRows)
// into kpi_attempts' columns (ver excepted).
func attemptRollup(rows string) string {
	return `SELECT ` + attemptKeys + `,
    sum(f_attempt) AS attempts, sum(f_blocked) AS blocked, sum(f_contact) AS contacts, sum(f_rpc) AS rpc, sum(f_live) AS live,
    sum(f_abandoned) AS abandoned, sum(f_machine) AS machines, sum(f_connect) AS connects, sum(v_handle) AS handle_ms,
    sum(f_placed) AS placed, sum(v_billed) AS billed_s, sum(f_trunk_failure) AS trunk_failures, sum(f_text_sent) AS texts_sent,
    sum(f_text_delivered) AS texts_delivered, sum(v_segments) AS segments_sent,
    uniqExactStateIf(account_id, f_attempt = 1) AS debtors, uniqExactStateIf(account_id, f_contact = 1) AS debtors_reached,
    uniqExactStateIf(account_id, f_rpc = 1) AS debtors_rpc
FROM (` + rows + `) GROUP BY ` + attemptKeys
}

const attemptColumns = attemptKeys + `, attempts, blocked, contacts, rpc, live, abandoned, machines, connects, handle_ms, placed,
    billed_s, trunk_failures, texts_sent, texts_delivered, segments_sent, debtors, debtors_reached, debtors_rpc`

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

func agentZeroRows(db, where string) string {
	return `SELECT ` + agentKeys + `, materialize(toUInt64(0)) AS seconds FROM ` + db + `.kpi_agents FINAL WHERE ` + where
}

func agentRollup(rows string) string {
	return `SELECT ` + agentKeys + `, sum(seconds) AS seconds FROM (` + rows + `) GROUP BY ` + agentKeys
}

// promiseOutcomes settles the promises of the accounts where selects (over
// promises and payments: an account bucket condition, or true) as the
// README's "Promise kept" says, and returns kpi_promises' columns (ver
// excepted). depth is the most promises one account holds in one currency
// (maxPromises): the allocation runs that many steps.
//
// Per account and currency, promises in order (created_at, promise_id),
// amounts a (cents), l the payments made before each was created, e the
// payments made before its deadline. Promise i takes the payments from level
// o[i] = max(l[i], x[i-1]) (where the one before it closed; o[1] = l[1]) to
// x[i] = max(o[i], min(o[i] + a[i], e[i])): until it is paid in full or its
// deadline passes. ClickHouse 18.16 has no fold, so o is computed by passes
// over the array, each pass one step further (after n-1 passes every o[i]
// is exact).
func promiseOutcomes(db, where string, depth int) string {
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
    FROM ` + db + `.promises FINAL WHERE status != 'cancelled' AND ` + where + ` GROUP BY account_id, currency
) ANY LEFT JOIN (
    SELECT account_id, currency, groupArray(toUInt32(paid_at)) AS pt, groupArray(toInt64(amount * 100)) AS pa
    FROM ` + db + `.payments FINAL WHERE ` + where + ` GROUP BY account_id, currency
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

// cancelledPromises are the cancelled promises where selects, settled as
// nothing: they count in no KPI.
func cancelledPromises(db, where string) string {
	return `SELECT ` + analytics.SQLAccountBucket + ` AS bucket, promise_id, campaign_id, account_id, created_at, due_date,
    toDateTime(addDays(due_date, if(grace_days = 0, 2, grace_days) + 1), 'UTC') AS deadline, channel, country, segment, agent_id,
    amount, currency, if(keep_percent = 0, 100, keep_percent) AS keep_percent, materialize(toDecimal64(0, 2)) AS received,
    materialize(toUInt8(0)) AS kept, materialize(toUInt8(1)) AS cancelled
FROM ` + db + `.promises FINAL WHERE status = 'cancelled' AND ` + where
}

const promiseColumns = `bucket, promise_id, campaign_id, account_id, created_at, due_date, deadline, channel, country, segment,
    agent_id, amount, currency, keep_percent, received, kept, cancelled`

// maxPromises is the query for the depth promiseOutcomes needs: the most
// promises one account holds in one currency where selects.
func maxPromises(db, where string) string {
	return `SELECT toUInt64(max(n)) FROM (SELECT count() AS n FROM ` + db + `.promises FINAL
WHERE status != 'cancelled' AND ` + where + ` GROUP BY account_id, currency)`
}

// touchesRaw are the touches (analytics.SQLTouch) read from
// contact_attempts, for the raw baseline; the roll-up reads kpi_contacts,
// which a view fills with the same rows.
func touchesRaw(db string) string {
	return `(SELECT ` + analytics.SQLAccountBucket + ` AS bucket, account_id, started_at, campaign_id, channel, country, segment, agent_id
FROM ` + db + `.contact_attempts FINAL WHERE ` + analytics.SQLTouch + `)`
}

// paymentAttribution pairs each payment where selects (over payments;
// touchWhere selects the same accounts' touches) with the latest touch of its account at or before it,
// whatever its age (the attribution window is applied when reading, so any
// window is exact); a payment with none has touched_at 1970-01-01.
func paymentAttribution(db, touches, where, touchWhere string) string {
	return `SELECT bucket, payment_id, account_id, paid_at, amount, currency, toDateTime(t.1) AS touched_at, t.2 AS campaign_id,
    CAST(if(t.3 = '', 'voice', t.3) AS Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3)) AS channel, t.4 AS country, t.5 AS segment,
    t.6 AS agent_id
FROM (
    SELECT bucket, payment_id, account_id, paid_at, amount, currency, ts,
        ts[arrayCount(x -> x.1 <= toUInt32(paid_at), ts)] AS t
    FROM (
        SELECT ` + analytics.SQLAccountBucket + ` AS bucket, payment_id, account_id, paid_at, amount, currency
        FROM ` + db + `.payments FINAL WHERE ` + where + `
    ) ANY LEFT JOIN (
        SELECT account_id, arraySort(groupArray((toUInt32(started_at), campaign_id, toString(channel), country, segment,
            agent_id))) AS ts
        FROM ` + touches + ` WHERE ` + touchWhere + ` GROUP BY account_id
    ) USING account_id
)`
}

const paymentColumns = `bucket, payment_id, account_id, paid_at, amount, currency, touched_at, campaign_id, channel, country,
    segment, agent_id`
