package kpi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/marcador/marcador/analytics"
)

// How a roll-up stays exact. Views count the rows inserted into the raw
// tables per bucket (kpi_dirty: a campaign's hour for attempts and agents'
// time, an account bucket for promises and payments; kpi_contacts counts
// its own rows). A refresh reads those counts, compares them with the
// counts each bucket was last computed from (kpi_refreshed), recomputes the
// buckets that moved from the raw rows with FINAL, and then records the
// counts it read. A row inserted after the counts were read moves them
// again, so its bucket is recomputed next time; a source row is in
// ClickHouse before its view's count is, so a recomputation sees every row
// it was counted for. Two refreshes at once compute the same rows; the one
// with the higher ver wins, and one from an older read is recomputed next
// time because its counts are behind.

// maxAgentSpan is how far after its bucket an agent interval reaches.
const maxAgentSpan = maxIntervalHours * time.Hour

// RefreshScope says which attempt and agent buckets a refresh looks at;
// account buckets are always all looked at (they are few).
type RefreshScope struct {
	Campaigns []string  // empty: every campaign
	From, To  time.Time // hours From <= h < To; zero: no bound
}

// Refreshed says what a refresh recomputed.
type Refreshed struct {
	AttemptBuckets, AgentBuckets, AccountBuckets int
}

type bucketCount struct {
	source, campaign string
	bucket           uint32
	n                uint64
}

// Refresh recomputes every stale roll-up bucket in s. KPI questions call
// it first, so they never read a stale roll-up; serve also runs it on a
// timer, for the dashboards that read the roll-ups directly.
func (k *KPI) Refresh(ctx context.Context, s RefreshScope) (Refreshed, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var done Refreshed
	stale, err := k.staleTimeBuckets(ctx, s)
	if err != nil {
		return done, err
	}
	var att, ag []bucketCount
	for _, b := range stale {
		if b.source == "attempts" {
			att = append(att, b)
		} else {
			ag = append(ag, b)
		}
	}
	if err := k.refreshTime(ctx, att, "contact_attempts", "kpi_attempts", "started_at", "hour", attemptColumns,
		func(where, zeroWhere string) string {
			return attemptRollup(attemptRows(k.db, "toStartOfHour(started_at)", where) + " UNION ALL " + attemptZeroRows(k.db, zeroWhere))
		}); err != nil {
		return done, err
	}
	done.AttemptBuckets = len(att)
	if err := k.refreshTime(ctx, ag, "agent_states", "kpi_agents", "started_at", "src_hour", agentKeys+", seconds",
		func(where, zeroWhere string) string {
			return agentRollup(agentRowsIn(k.db, "toStartOfHour(started_at)", where, 3600) + " UNION ALL " + agentZeroRows(k.db, zeroWhere))
		}); err != nil {
		return done, err
	}
	done.AgentBuckets = len(ag)
	n, err := k.refreshAccounts(ctx)
	done.AccountBuckets = n
	if done != (Refreshed{}) {
		k.log.Debug("kpi: refreshed", "db", k.db, "attempt_buckets", done.AttemptBuckets, "agent_buckets", done.AgentBuckets,
			"account_buckets", done.AccountBuckets)
	}
	return done, err
}

// staleTimeBuckets lists the attempt and agent buckets in s whose counts
// moved since they were computed.
func (k *KPI) staleTimeBuckets(ctx context.Context, s RefreshScope) ([]bucketCount, error) {
	var conds []string
	var args []any
	scope := func() {
		if len(s.Campaigns) > 0 {
			conds = append(conds, "campaign_id IN ("+marks(len(s.Campaigns))+")")
			for _, c := range s.Campaigns {
				args = append(args, c)
			}
		}
		// An agent interval counts up to maxAgentSpan after its bucket.
		if !s.From.IsZero() {
			conds = append(conds, "bucket >= if(source = 'agents', ?, ?)")
			args = append(args, unix(s.From.Add(-maxAgentSpan)), unix(s.From))
		}
		if !s.To.IsZero() {
			conds = append(conds, "bucket < ?")
			args = append(args, unix(s.To))
		}
	}
	conds = []string{"source IN ('attempts', 'agents')"}
	scope()
	where := strings.Join(conds, " AND ")
	dirtyArgs := args
	conds, args = []string{"source IN ('attempts', 'agents')"}, nil
	scope()
	q := `SELECT source, campaign_id, bucket, n FROM (
    SELECT source, campaign_id, bucket, sum(n) AS n FROM ` + k.db + `.kpi_dirty WHERE ` + where + ` GROUP BY source, campaign_id, bucket
) ANY LEFT JOIN (
    SELECT source, campaign_id, bucket, argMax(n, ver) AS seen FROM ` + k.db + `.kpi_refreshed WHERE ` + strings.Join(conds, " AND ") + `
    GROUP BY source, campaign_id, bucket
) USING (source, campaign_id, bucket) WHERE n != seen ORDER BY source, campaign_id, bucket`
	return k.counts(ctx, "stale attempt and agent buckets", q, append(dirtyArgs, args...))
}

func (k *KPI) counts(ctx context.Context, what, q string, args []any) ([]bucketCount, error) {
	var out []bucketCount
	err := k.query(ctx, what, q, args, func(r driver.Rows) error {
		var b bucketCount
		if err := r.Scan(&b.source, &b.campaign, &b.bucket, &b.n); err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

// maxRangesPerStatement bounds one refresh statement's WHERE (ClickHouse's
// max_query_size is 256 KiB).
const maxRangesPerStatement = 200

// refreshTime recomputes the stale time buckets of one roll-up: their raw
// rows (rawCol is the raw table's time column) and the groups the roll-up
// already holds (rollCol its bucket column), by runs of consecutive hours
// of a campaign.
func (k *KPI) refreshTime(ctx context.Context, stale []bucketCount, raw, rollup, rawCol, rollCol, columns string,
	sel func(where, zeroWhere string) string) error {
	type span struct {
		campaign string
		from, to uint32
	}
	var spans []span
	for _, b := range stale {
		if n := len(spans); n > 0 && spans[n-1].campaign == b.campaign && spans[n-1].to == b.bucket {
			spans[n-1].to += 3600
			continue
		}
		spans = append(spans, span{b.campaign, b.bucket, b.bucket + 3600})
	}
	for len(spans) > 0 {
		chunk := spans[:min(len(spans), maxRangesPerStatement)]
		spans = spans[len(chunk):]
		var rawConds, rollConds []string
		var rawArgs, rollArgs []any
		for _, sp := range chunk {
			rawConds = append(rawConds, "(campaign_id = ? AND "+rawCol+" >= toDateTime(?) AND "+rawCol+" < toDateTime(?))")
			rollConds = append(rollConds, "(campaign_id = ? AND "+rollCol+" >= toDateTime(?) AND "+rollCol+" < toDateTime(?))")
			rawArgs = append(rawArgs, sp.campaign, sp.from, sp.to)
			rollArgs = append(rollArgs, sp.campaign, sp.from, sp.to)
		}
		ver := k.nextVer()
		q := `INSERT INTO ` + k.db + `.` + rollup + ` (` + columns + `, ver) SELECT ` + columns + `, toUInt64(` + fmt.Sprint(ver) + `) FROM (` +
			sel(strings.Join(rawConds, " OR "), strings.Join(rollConds, " OR ")) + `)`
		if err := k.exec(ctx, "refresh "+rollup+" from "+raw, q, append(rawArgs, rollArgs...)...); err != nil {
			return err
		}
	}
	return k.markRefreshed(ctx, stale)
}

// markRefreshed records the counts the buckets were computed from.
func (k *KPI) markRefreshed(ctx context.Context, bs []bucketCount) error {
	if len(bs) == 0 {
		return nil
	}
	b, err := k.conn.PrepareBatch(ctx, "INSERT INTO "+k.db+".kpi_refreshed (source, campaign_id, bucket, n, ver)")
	if err != nil {
		return fmt.Errorf("kpi: record refreshed buckets in %s: %w", k.db, err)
	}
	ver := k.nextVer()
	for _, c := range bs {
		if err := b.Append(c.source, c.campaign, c.bucket, c.n, ver); err != nil {
			return fmt.Errorf("kpi: record refreshed buckets in %s: %w", k.db, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("kpi: record refreshed buckets in %s: %w", k.db, err)
	}
	return nil
}

// accountSources are what account buckets are computed from.
var accountSources = []string{"promises", "payments", "contacts"}

// refreshAccounts recomputes the promise outcomes and payment attribution of
// the stale account buckets.
func (k *KPI) refreshAccounts(ctx context.Context) (int, error) {
	q := `SELECT source, campaign_id, bucket, n FROM (
    SELECT source, campaign_id, bucket, sum(n) AS n FROM ` + k.db + `.kpi_dirty WHERE source IN ('promises', 'payments')
    GROUP BY source, campaign_id, bucket
    UNION ALL
    SELECT 'contacts' AS source, '' AS campaign_id, bucket, count() AS n FROM ` + k.db + `.kpi_contacts GROUP BY bucket
) ANY LEFT JOIN (
    SELECT source, campaign_id, bucket, argMax(n, ver) AS seen FROM ` + k.db + `.kpi_refreshed
    WHERE source IN ('promises', 'payments', 'contacts') GROUP BY source, campaign_id, bucket
) USING (source, campaign_id, bucket) WHERE n != seen ORDER BY bucket`
	stale, err := k.counts(ctx, "stale account buckets", q, nil)
	if err != nil || len(stale) == 0 {
		return 0, err
	}
	var buckets []uint32
	for _, b := range stale {
		if len(buckets) == 0 || buckets[len(buckets)-1] != b.bucket {
			buckets = append(buckets, b.bucket)
		}
	}
	set := bucketSet(buckets)
	raw, touches := analytics.SQLAccountBucket+" IN "+set, "bucket IN "+set
	if err := k.settle(ctx, raw, touches); err != nil {
		return 0, err
	}
	return len(buckets), k.markRefreshed(ctx, stale)
}

// settle writes the promise outcomes and payment attribution of the
// accounts raw selects (touches: the same accounts in kpi_contacts).
func (k *KPI) settle(ctx context.Context, raw, touches string) error {
	depth, err := k.depth(ctx, raw)
	if err != nil {
		return err
	}
	ver := fmt.Sprint(k.nextVer())
	if depth > 0 {
		if err := k.exec(ctx, "settle promises", `INSERT INTO `+k.db+`.kpi_promises (`+promiseColumns+`, ver) SELECT `+
			promiseColumns+`, toUInt64(`+ver+`) FROM (`+promiseOutcomes(k.db, raw, depth)+`)`); err != nil {
			return err
		}
	}
	if err := k.exec(ctx, "settle cancelled promises", `INSERT INTO `+k.db+`.kpi_promises (`+promiseColumns+`, ver) SELECT `+
		promiseColumns+`, toUInt64(`+ver+`) FROM (`+cancelledPromises(k.db, raw)+`)`); err != nil {
		return err
	}
	return k.exec(ctx, "attribute payments", `INSERT INTO `+k.db+`.kpi_payments (`+paymentColumns+`, ver) SELECT `+
		paymentColumns+`, toUInt64(`+ver+`) FROM (`+paymentAttribution(k.db, k.db+".kpi_contacts", raw, touches)+`)`)
}

// maxDepth bounds the promises one account may hold in one currency (the
// allocation is that many nested steps).
const maxDepth = 400

// depth is how many steps the allocation of raw's promises needs.
func (k *KPI) depth(ctx context.Context, raw string) (int, error) {
	var n uint64
	if err := k.query(ctx, "count promises per account", maxPromises(k.db, raw), nil,
		func(r driver.Rows) error { return r.Scan(&n) }); err != nil {
		return 0, err
	}
	if n > maxDepth {
		return 0, fmt.Errorf("kpi: an account in %s holds %d promises in one currency; promise outcomes are computed for up to %d",
			k.db, n, maxDepth)
	}
	return int(n), nil
}

func bucketSet(bs []uint32) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = fmt.Sprint(b)
	}
	return "(" + strings.Join(s, ", ") + ")"
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func unix(t time.Time) uint32 {
	if t.Unix() < 0 {
		return 0
	}
	return uint32(min(t.Unix(), 1<<32-1))
}
