package analytics

import (
	"strconv"
)

// The schema stays within what ClickHouse 18.16 (Debian bookworm) accepts and
// current releases still accept: no LowCardinality, DateTime64, TTL or
// Nullable. A zero time is stored as 1970-01-01 00:00:00 and means "none".
// Rows change by being written again with a higher ver (ReplacingMergeTree):
// the sorting key and partition key are fields that never change for a row.
var migrations = []Migration{
	{1, "contact_attempts", []string{`
CREATE TABLE IF NOT EXISTS {db}.contact_attempts (
    attempt_id     String,
    campaign_id    String,
    account_id     String,
    phone          String,
    channel        Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3),
    node_id        String,
    trunk          String,
    attempt_no     UInt16,
    started_at     DateTime,
    answered_at    DateTime,
    ended_at       DateTime,
    ring_ms        UInt32,
    talk_ms        UInt32,
    sip_code       UInt16,
    disposition    String,
    reason         String,
    amd            String,
    agent_id       String,
    abandoned      UInt8,
    dtmf           String,
    ivr_path       String,
    promise_amount Decimal(18, 2),
    promise_date   Date,
    currency       String,
    message_sid    String,
    message_status String,
    country        String,
    local_hour     UInt8,
    local_weekday  UInt8,
    ver            UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(started_at)
ORDER BY (campaign_id, started_at, attempt_id)`}},
	{2, "promises", []string{`
CREATE TABLE IF NOT EXISTS {db}.promises (
    promise_id  String,
    campaign_id String,
    account_id  String,
    attempt_id  String,
    channel     Enum8('ivr' = 1, 'agent' = 2, 'sms' = 3),
    created_at  DateTime,
    due_date    Date,
    amount      Decimal(18, 2),
    currency    String,
    status      String,
    node_id     String,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(created_at)
ORDER BY (campaign_id, created_at, promise_id)`}},
	{3, "payments", []string{`
CREATE TABLE IF NOT EXISTS {db}.payments (
    payment_id  String,
    campaign_id String,
    account_id  String,
    promise_id  String,
    paid_at     DateTime,
    amount      Decimal(18, 2),
    currency    String,
    method      String,
    reference   String,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(paid_at)
ORDER BY (account_id, paid_at, payment_id)`}},
	{4, "contact_attempts message columns", []string{`
ALTER TABLE {db}.contact_attempts
    ADD COLUMN message_error UInt32,
    ADD COLUMN segments UInt8,
    ADD COLUMN template String`}},
	{5, "messages", []string{`
CREATE TABLE IF NOT EXISTS {db}.messages (
    message_sid String,
    direction   String,
    campaign_id String,
    account_id  String,
    phone       String,
    channel     Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3),
    body        String,
    action      String,
    at          DateTime,
    node_id     String,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(at)
ORDER BY (phone, at, message_sid)`}},
	// The durable copy of the do-not-contact lists (Redis holds the live
	// ones): one row per listing or removal, per channel.
	{6, "dnc_events", []string{`
CREATE TABLE IF NOT EXISTS {db}.dnc_events (
    event_id    String,
    phone       String,
    channel     Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3),
    campaign_id String,
    action      Enum8('add' = 1, 'remove' = 2),
    reason      String,
    source      String,
    at          DateTime,
    node_id     String,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(at)
ORDER BY (phone, channel, campaign_id, event_id)`}},
	// Agent calls (wrap-up, the agent's code, right-party contact, the
	// recording) and answering-machine detection's cause and timing.
	{7, "contact_attempts agent and amd columns", []string{`
ALTER TABLE {db}.contact_attempts
    ADD COLUMN wrap_ms UInt32,
    ADD COLUMN agent_code String,
    ADD COLUMN right_party UInt8,
    ADD COLUMN recording String,
    ADD COLUMN recording_error String,
    ADD COLUMN amd_cause String,
    ADD COLUMN amd_ms UInt32`}},
	// The debtor's segment (the account's), for the KPIs' filters.
	{8, "contact_attempts segment", []string{`
ALTER TABLE {db}.contact_attempts
    ADD COLUMN segment String`}},
	// The rules a promise is judged by, frozen when it is made: grace days
	// after the due date and the share of the amount that keeps it (0 means
	// the defaults, 2 days and 100%); who made it and for which debtor.
	{9, "promises rules and dimensions", []string{`
ALTER TABLE {db}.promises
    ADD COLUMN grace_days UInt8,
    ADD COLUMN keep_percent UInt8,
    ADD COLUMN country String,
    ADD COLUMN segment String,
    ADD COLUMN agent_id String`}},
	// Agents' time: one row per interval an agent spent in one state,
	// written when the interval ends (occupancy, agent-hours).
	{10, "agent_states", []string{`
CREATE TABLE IF NOT EXISTS {db}.agent_states (
    interval_id String,
    agent_id    String,
    campaign_id String,
    node_id     String,
    state       String,
    reason      String,
    started_at  DateTime,
    ended_at    DateTime,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(started_at)
ORDER BY (campaign_id, started_at, agent_id, interval_id)`}},
	// The KPI roll-ups (analytics/kpi). ClickHouse delivers a replayed batch
	// twice and a changed row again with a higher ver, so a view that sums
	// what is inserted would count both: instead views count inserted rows
	// per bucket (kpi_dirty), and analytics/kpi recomputes a bucket whose
	// count moved from the rows read newest version first, writes it with a
	// new ver, and records in kpi_refreshed the counts and the ver (readers
	// take each bucket's rows of its latest ver, so they need no FINAL). A
	// bucket is a campaign's hour for attempts and agents' time, a share of
	// accounts (analytics.SQLAccountBucket) for the per-debtor figures,
	// promise outcomes and payment attribution; views keep copies of the
	// attempts, promises and payments ordered by account bucket
	// (kpi_account_*) so those are read without scanning the raw tables.
	// ClickHouse 18.16 does not convert a view's columns to its target's,
	// so the views convert them (a column altered on the raw table must not
	// stop its inserts).
	{11, "kpi roll-ups", []string{`
CREATE TABLE IF NOT EXISTS {db}.kpi_dirty (
    source      String,
    campaign_id String,
    bucket      UInt32,
    n           UInt64
) ENGINE = SummingMergeTree(n)
ORDER BY (source, campaign_id, bucket)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_refreshed (
    source      String,
    campaign_id String,
    bucket      UInt32,
    n           UInt64,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
ORDER BY (source, campaign_id, bucket)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_attempts (
    campaign_id     String,
    hour            DateTime,
    channel         Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3),
    country         String,
    segment         String,
    trunk           String,
    local_hour      UInt8,
    local_weekday   UInt8,
    attempts        UInt64,
    blocked         UInt64,
    contacts        UInt64,
    rpc             UInt64,
    live            UInt64,
    abandoned       UInt64,
    machines        UInt64,
    connects        UInt64,
    handle_ms       UInt64,
    placed          UInt64,
    billed_s        UInt64,
    trunk_failures  UInt64,
    texts_sent      UInt64,
    texts_delivered UInt64,
    segments_sent   UInt64,
    ver             UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(hour)
ORDER BY (campaign_id, hour, channel, country, segment, trunk, local_hour, local_weekday)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_agent_attempts (
    campaign_id String,
    hour        DateTime,
    agent_id    String,
    channel     Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3),
    country     String,
    segment     String,
    attempts    UInt64,
    contacts    UInt64,
    rpc         UInt64,
    live        UInt64,
    abandoned   UInt64,
    connects    UInt64,
    handle_ms   UInt64,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(hour)
ORDER BY (campaign_id, hour, agent_id, channel, country, segment)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_agents (
    campaign_id String,
    src_hour    DateTime,
    hour        DateTime,
    agent_id    String,
    state       String,
    seconds     UInt64,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(src_hour)
ORDER BY (campaign_id, src_hour, hour, agent_id, state)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_account_attempts (
    bucket      UInt32,
    account_id  String,
    campaign_id String,
    started_at  DateTime,
    attempt_id  String,
    ver         UInt64,
    channel     Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3),
    country     String,
    segment     String,
    agent_id    String,
    flags       UInt8
) ENGINE = MergeTree
PARTITION BY tuple()
ORDER BY (bucket, account_id, started_at, attempt_id)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_account_promises (
    bucket       UInt32,
    account_id   String,
    promise_id   String,
    campaign_id  String,
    created_at   DateTime,
    due_date     Date,
    amount       Decimal(18, 2),
    currency     String,
    status       String,
    channel      Enum8('ivr' = 1, 'agent' = 2, 'sms' = 3),
    grace_days   UInt8,
    keep_percent UInt8,
    country      String,
    segment      String,
    agent_id     String,
    ver          UInt64
) ENGINE = MergeTree
PARTITION BY tuple()
ORDER BY (bucket, account_id, promise_id)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_account_payments (
    bucket     UInt32,
    account_id String,
    payment_id String,
    paid_at    DateTime,
    amount     Decimal(18, 2),
    currency   String,
    ver        UInt64
) ENGINE = MergeTree
PARTITION BY tuple()
ORDER BY (bucket, account_id, payment_id)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_debtors (
    bucket      UInt32,
    campaign_id String,
    account_id  String,
    hours       Array(UInt32),
    flags       Array(UInt8),
    channels    Array(String),
    agents      Array(String),
    segments    Array(String),
    countries   Array(String),
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
ORDER BY (campaign_id, bucket, account_id)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_promises (
    bucket       UInt32,
    promise_id   String,
    campaign_id  String,
    account_id   String,
    created_at   DateTime,
    due_date     Date,
    deadline     DateTime,
    channel      Enum8('ivr' = 1, 'agent' = 2, 'sms' = 3),
    country      String,
    segment      String,
    agent_id     String,
    amount       Decimal(18, 2),
    currency     String,
    keep_percent UInt8,
    received     Decimal(18, 2),
    kept         UInt8,
    cancelled    UInt8,
    ver          UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(created_at)
ORDER BY (campaign_id, created_at, promise_id)`, `
CREATE TABLE IF NOT EXISTS {db}.kpi_payments (
    bucket      UInt32,
    payment_id  String,
    account_id  String,
    paid_at     DateTime,
    amount      Decimal(18, 2),
    currency    String,
    touched_at  DateTime,
    campaign_id String,
    channel     Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3),
    country     String,
    segment     String,
    agent_id    String,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(paid_at)
ORDER BY (account_id, paid_at, payment_id)`, `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_dirty_attempts TO {db}.kpi_dirty AS
SELECT 'attempts' AS source, campaign_id, toUInt32(toStartOfHour(started_at)) AS bucket, count() AS n
FROM {db}.contact_attempts GROUP BY campaign_id, bucket`, `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_dirty_agents TO {db}.kpi_dirty AS
SELECT 'agents' AS source, campaign_id, toUInt32(toStartOfHour(started_at)) AS bucket, count() AS n
FROM {db}.agent_states GROUP BY campaign_id, bucket`, `
` + accountAttemptsMV, `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_account_promises_mv TO {db}.kpi_account_promises AS
SELECT ` + SQLAccountBucket + ` AS bucket, account_id, promise_id, campaign_id, created_at, due_date, toDecimal64(amount, 2) AS amount,
    currency, status, channel, grace_days, keep_percent, country, segment, agent_id, ver
FROM {db}.promises`, `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_account_payments_mv TO {db}.kpi_account_payments AS
SELECT ` + SQLAccountBucket + ` AS bucket, account_id, payment_id, paid_at, toDecimal64(amount, 2) AS amount, currency, ver
FROM {db}.payments`, `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_dirty_accounts TO {db}.kpi_dirty AS
SELECT 'account_attempts' AS source, '' AS campaign_id, ` + SQLAccountBucket + ` AS bucket, count() AS n
FROM {db}.contact_attempts WHERE account_id != '' GROUP BY bucket`, `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_dirty_promises TO {db}.kpi_dirty AS
SELECT 'account_promises' AS source, '' AS campaign_id, ` + SQLAccountBucket + ` AS bucket, count() AS n
FROM {db}.promises GROUP BY bucket`, `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_dirty_payments TO {db}.kpi_dirty AS
SELECT 'account_payments' AS source, '' AS campaign_id, ` + SQLAccountBucket + ` AS bucket, count() AS n
FROM {db}.payments GROUP BY bucket`}},
	// The debtors attempted, reached and reached in person per campaign and
	// calendar day in a time zone (tz), exact: a debtor is an account of a
	// campaign, so the days' counts of several campaigns add up. Kept like
	// the other roll-ups (analytics/kpi recomputes a day whose hours'
	// kpi_dirty counts moved; kpi_refreshed's source is 'debtor_days/' and
	// the zone, its bucket the day's number) for the zones asked by day.
	{12, "kpi debtor days", []string{`
CREATE TABLE IF NOT EXISTS {db}.kpi_debtor_days (
    tz          String,
    campaign_id String,
    day         Date,
    debtors     UInt64,
    reached     UInt64,
    rpc         UInt64,
    ver         UInt64
) ENGINE = ReplacingMergeTree(ver)
PARTITION BY toYYYYMM(day)
ORDER BY (tz, campaign_id, day)`}},
	// The outbound right-party check's dispositions (wrong_party,
	// not_verified) are contacts: the view computes its flags at insert.
	{13, "kpi contacts include wrong parties", []string{`
DROP TABLE IF EXISTS {db}.kpi_account_attempts_mv`, accountAttemptsMV}},
	// Per kpi_debtors row, computed from its arrays on insert: its first
	// and last hour, flags or'ed, one segment, channel and country (mixed:
	// bits 1, 2, 4 when it has several).
	{14, "kpi debtor spans", []string{`
ALTER TABLE {db}.kpi_debtors
    ADD COLUMN first_hour UInt32 MATERIALIZED arrayReduce('min', hours),
    ADD COLUMN last_hour UInt32 MATERIALIZED arrayReduce('max', hours),
    ADD COLUMN all_flags UInt8 MATERIALIZED arrayReduce('groupBitOr', flags),
    ADD COLUMN mixed UInt8 MATERIALIZED toUInt8(bitOr(bitOr(length(arrayDistinct(segments)) > 1,
        bitShiftLeft(toUInt8(length(arrayDistinct(channels)) > 1), 1)), bitShiftLeft(toUInt8(length(arrayDistinct(countries)) > 1), 2))),
    ADD COLUMN one_segment String MATERIALIZED segments[1],
    ADD COLUMN one_channel String MATERIALIZED channels[1],
    ADD COLUMN one_country String MATERIALIZED countries[1]`}},
	// Per kpi_debtors row, its distinct (segment or channel, flag bit)
	// pairs (1 attempted, 2 reached, 4 right party).
	{15, "kpi debtor pairs", []string{`
ALTER TABLE {db}.kpi_debtors
    ADD COLUMN segment_pairs Array(Tuple(String, UInt8)) MATERIALIZED arrayDistinct(arrayConcat(arrayMap((x, f) -> (x, toUInt8(1)), segments, flags),
        arrayFilter(p -> p.2 = 2, arrayMap((x, f) -> (x, toUInt8(bitAnd(f, 2))), segments, flags)),
        arrayFilter(p -> p.2 = 4, arrayMap((x, f) -> (x, toUInt8(bitAnd(f, 4))), segments, flags)))),
    ADD COLUMN channel_pairs Array(Tuple(String, UInt8)) MATERIALIZED arrayDistinct(arrayConcat(arrayMap((x, f) -> (x, toUInt8(1)), channels, flags),
        arrayFilter(p -> p.2 = 2, arrayMap((x, f) -> (x, toUInt8(bitAnd(f, 2))), channels, flags)),
        arrayFilter(p -> p.2 = 4, arrayMap((x, f) -> (x, toUInt8(bitAnd(f, 4))), channels, flags))))`}},
	// Per kpi_debtors row: the UTC hours of the day (bit i: hour i) of its
	// elements with each flag (1 attempted, 2 reached, 4 right party), and
	// its segment and channel pairs' set as two order-free 64-bit sums of
	// hashes (rows with the same pairs share them).
	{16, "kpi debtor hours of day and pair sets", []string{`
ALTER TABLE {db}.kpi_debtors
    ADD COLUMN hours_attempted UInt32 MATERIALIZED ` + hourMask(1) + `,
    ADD COLUMN hours_reached UInt32 MATERIALIZED ` + hourMask(2) + `,
    ADD COLUMN hours_rpc UInt32 MATERIALIZED ` + hourMask(4) + `,
    ADD COLUMN segment_set UInt64 MATERIALIZED arraySum(arrayMap(p -> cityHash64(p.1, p.2), segment_pairs)),
    ADD COLUMN segment_set2 UInt64 MATERIALIZED arraySum(arrayMap(p -> sipHash64(p.1, p.2), segment_pairs)),
    ADD COLUMN channel_set UInt64 MATERIALIZED arraySum(arrayMap(p -> cityHash64(p.1, p.2), channel_pairs)),
    ADD COLUMN channel_set2 UInt64 MATERIALIZED arraySum(arrayMap(p -> sipHash64(p.1, p.2), channel_pairs))`}},
	// The pairs of each segment and channel set of kpi_debtors (dim
	// 'segment' or 'channel'), so that a question groups debtors by set
	// without reading their pairs: kept by views on insert (each block's
	// distinct sets), then filled from the rows already there (a set
	// written twice is the same row).
	{17, "kpi debtor sets", []string{`
CREATE TABLE IF NOT EXISTS {db}.kpi_debtor_sets (
    dim  String,
    set  UInt64,
    set2 UInt64,
    vals Array(String),
    bits Array(UInt8)
) ENGINE = ReplacingMergeTree
ORDER BY (dim, set, set2)`, debtorSetsMV("segment"), debtorSetsMV("channel"),
		`INSERT INTO {db}.kpi_debtor_sets ` + debtorSets("segment"), `INSERT INTO {db}.kpi_debtor_sets ` + debtorSets("channel")}},
}

// debtorSets are the distinct sets of dim's pairs of kpi_debtors' rows.
func debtorSets(dim string) string {
	return `SELECT DISTINCT '` + dim + `' AS dim, ` + dim + `_set AS set, ` + dim + `_set2 AS set2, arrayMap(p -> p.1, ` + dim + `_pairs) AS vals,
    arrayMap(p -> p.2, ` + dim + `_pairs) AS bits FROM {db}.kpi_debtors`
}

func debtorSetsMV(dim string) string {
	return `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_debtor_` + dim + `_sets_mv TO {db}.kpi_debtor_sets AS ` + debtorSets(dim)
}

// hourMask is the UTC hours of the day of a kpi_debtors row's elements
// with flag bit (hours count from the epoch, a UTC midnight).
func hourMask(bit int) string {
	b := strconv.Itoa(bit)
	return `toUInt32(arrayReduce('groupBitOr', arrayMap((h, f) -> toUInt32(if(bitAnd(f, ` + b + `) = ` + b + `,
        bitShiftLeft(toUInt32(1), h % 24), 0)), hours, flags)))`
}

// accountAttemptsMV feeds kpi_account_attempts with each attempt's flags
// (attempt, contact, right-party contact, touch; analytics/outcomes.go).
const accountAttemptsMV = `
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kpi_account_attempts_mv TO {db}.kpi_account_attempts AS
SELECT ` + SQLAccountBucket + ` AS bucket, account_id, campaign_id, started_at, attempt_id, ver, channel, country, segment, agent_id,
    toUInt8(` + SQLAttempt + ` + 2 * ` + SQLContact + ` + 4 * ` + SQLRightParty + ` + 8 * ` + SQLTouch + `) AS flags
FROM {db}.contact_attempts WHERE account_id != ''`
