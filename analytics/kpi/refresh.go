package kpi

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// How a roll-up stays exact. Views count the rows inserted into the raw
// tables per bucket (kpi_dirty: a campaign's hour for attempts and agents'
// time; an account bucket for the account-ordered copies of attempts,
// promises and payments). A refresh compares those counts with the counts
// each bucket was last computed from (kpi_refreshed), recomputes the
// buckets that moved from their rows read newest version first, writes
// them with a new ver, and then records the counts and that ver. A row
// inserted after the counts were read moves them again, so its bucket is
// recomputed next time; a raw row is in ClickHouse before its view's count
// is, and an account bucket records the rows its copies really held, so a
// recomputation never counts rows it did not see. Readers take each
// bucket's rows of the ver kpi_refreshed names (no FINAL); old versions
// are merged away in the background. Two refreshes at once compute the
// same rows; whichever ver kpi_refreshed keeps names rows that exist.

// maxAgentSpan is how far after its bucket an agent interval reaches.
const maxAgentSpan = maxIntervalHours * time.Hour

// The sources kpi_refreshed records.
const (
	srcAttempts = "attempts"
	srcAgents   = "agents"
)

// accountSources are the account-ordered copies, by kpi_dirty source name.
var accountSources = []struct{ source, table string }{
	{"account_attempts", "kpi_account_attempts"},
	{"account_promises", "kpi_account_promises"},
	{"account_payments", "kpi_account_payments"},
}

// RefreshScope says which attempt and agent buckets a refresh looks at;
// account buckets are always all looked at.
type RefreshScope struct {
	Campaigns []string  // empty: every campaign
	From, To  time.Time // hours From <= h < To; zero: no bound
	// Zones whose debtors by day are counted (kpi_debtor_days), besides
	// the zones already counted.
	Zones []string
}

// Refreshed says what a refresh recomputed.
type Refreshed struct {
	AttemptBuckets, AgentBuckets, AccountBuckets, DayBuckets int
}

type bucketCount struct {
	source, campaign string
	bucket           uint32
	n, seen          uint64
}

// Refresh recomputes every stale roll-up bucket in s. KPI questions call
// it first, so they never read a stale roll-up; serve also runs it on a
// timer (kpi.refresh), for the dashboards that read the roll-ups directly.
func (k *KPI) Refresh(ctx context.Context, s RefreshScope) (Refreshed, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var done Refreshed
	all, err := k.timeBuckets(ctx, s)
	if err != nil {
		return done, err
	}
	var att, ag []bucketCount
	for _, b := range all {
		switch b.source {
		case srcAttempts:
			att = append(att, b)
		case srcAgents:
			ag = append(ag, b)
		}
	}
	if done.AttemptBuckets, err = k.refreshTime(ctx, att, func(where string) []string {
		rows := attemptRows(k.db, "toStartOfHour(started_at)", where)
		return []string{
			"kpi_attempts (" + attemptColumns + ", ver)", attemptRollup(rows),
			"kpi_agent_attempts (" + agentAttemptColumns + ", ver)", agentAttemptRollup(rows),
		}
	}); err != nil {
		return done, err
	}
	if done.AgentBuckets, err = k.refreshTime(ctx, ag, func(where string) []string {
		return []string{"kpi_agents (" + agentKeys + ", seconds, ver)", agentRollup(agentRowsIn(k.db, "toStartOfHour(started_at)", where, 3600))}
	}); err != nil {
		return done, err
	}
	zones, err := k.keptZones(ctx, s.Zones)
	if err != nil {
		return done, err
	}
	for _, tz := range zones {
		n, err := k.refreshDays(ctx, tz, s)
		done.DayBuckets += n
		if err != nil {
			return done, err
		}
	}
	done.AccountBuckets, err = k.refreshAccounts(ctx)
	if done != (Refreshed{}) {
		k.log.Debug("kpi: refreshed", "db", k.db, "attempt_buckets", done.AttemptBuckets, "agent_buckets", done.AgentBuckets,
			"day_buckets", done.DayBuckets, "account_buckets", done.AccountBuckets)
	}
	return done, err
}

// timeBuckets lists the attempt and agent buckets in s that hold rows,
// with their counts now (n) and when last computed (seen).
func (k *KPI) timeBuckets(ctx context.Context, s RefreshScope) ([]bucketCount, error) {
	c := &conds{}
	c.add("source IN ('" + srcAttempts + "', '" + srcAgents + "')")
	c.in("campaign_id", s.Campaigns)
	// An agent interval counts up to maxAgentSpan after its bucket.
	if !s.From.IsZero() {
		c.add("bucket >= if(source = '"+srcAgents+"', ?, ?)", unix(s.From.Add(-maxAgentSpan)), unix(s.From))
	}
	if !s.To.IsZero() {
		c.add("bucket < ?", unix(s.To))
	}
	q := `SELECT source, campaign_id, bucket, n, seen FROM (
    SELECT source, campaign_id, bucket, sum(n) AS n FROM ` + k.db + `.kpi_dirty WHERE ` + c.String() + ` GROUP BY source, campaign_id, bucket
) ANY LEFT JOIN (
    SELECT source, campaign_id, bucket, argMax(n, ver) AS seen FROM ` + k.db + `.kpi_refreshed WHERE ` + c.String() + `
    GROUP BY source, campaign_id, bucket
) USING (source, campaign_id, bucket) ORDER BY source, campaign_id, bucket`
	return k.counts(ctx, "attempt and agent buckets", q, append(append([]any{}, c.args...), c.args...))
}

func (k *KPI) counts(ctx context.Context, what, q string, args []any) ([]bucketCount, error) {
	var out []bucketCount
	err := k.query(ctx, what, q, args, func(r driver.Rows) error {
		var b bucketCount
		if err := r.Scan(&b.source, &b.campaign, &b.bucket, &b.n, &b.seen); err != nil {
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

// maxHoursPerStatement bounds the campaign-hours one refresh statement
// recomputes.
const maxHoursPerStatement = 24 * 61

// refreshTime recomputes the stale buckets among a source's buckets (all
// of them, in campaign and time order): stale hours of a campaign become
// spans, broken only at a fresh hour that holds rows (hours without rows in
// between cost nothing), and statements return the INSERT targets and
// SELECTs that compute them from a WHERE over the raw table's campaign_id
// and started_at.
func (k *KPI) refreshTime(ctx context.Context, buckets []bucketCount, statements func(where string) []string) (int, error) {
	type span struct {
		campaign string
		from, to uint32
		stale    []bucketCount
	}
	var spans []span
	open := false
	for _, b := range buckets {
		if b.n == b.seen {
			open = false // a fresh hour with rows ends the span
			continue
		}
		if n := len(spans); open && n > 0 && spans[n-1].campaign == b.campaign {
			spans[n-1].to = b.bucket + 3600
			spans[n-1].stale = append(spans[n-1].stale, b)
			continue
		}
		spans = append(spans, span{b.campaign, b.bucket, b.bucket + 3600, []bucketCount{b}})
		open = true
	}
	stale := 0
	for len(spans) > 0 {
		// A statement takes up to maxRangesPerStatement spans and about two
		// months of campaign-hours, so none runs for long.
		var chunk []span
		hours := uint32(0)
		for len(spans) > 0 && len(chunk) < maxRangesPerStatement && hours < maxHoursPerStatement {
			sp := spans[0]
			if room := (maxHoursPerStatement - hours) * 3600; sp.to-sp.from > room {
				cut := sp.from + room
				var before, after []bucketCount
				for _, b := range sp.stale {
					if b.bucket < cut {
						before = append(before, b)
					} else {
						after = append(after, b)
					}
				}
				chunk = append(chunk, span{sp.campaign, sp.from, cut, before})
				spans[0].from, spans[0].stale = cut, after
				break
			}
			chunk = append(chunk, sp)
			hours += (sp.to - sp.from) / 3600
			spans = spans[1:]
		}
		var conds []string
		var args []any
		var marks []bucketCount
		for _, sp := range chunk {
			conds = append(conds, "(campaign_id = ? AND started_at >= toDateTime(?) AND started_at < toDateTime(?))")
			args = append(args, sp.campaign, sp.from, sp.to)
			marks = append(marks, sp.stale...)
		}
		ver := k.nextVer()
		st := statements(strings.Join(conds, " OR "))
		for i := 0; i < len(st); i += 2 {
			q := `INSERT INTO ` + k.db + `.` + st[i] + ` SELECT *, toUInt64(` + fmt.Sprint(ver) + `) FROM (` + st[i+1] + `)`
			if err := k.exec(ctx, "refresh "+strings.Fields(st[i])[0], q, args...); err != nil {
				return stale, err
			}
		}
		if err := k.markRefreshed(ctx, marks, ver); err != nil {
			return stale, err
		}
		stale += len(marks)
	}
	return stale, nil
}

// markRefreshed records the counts the buckets were computed from and the
// ver their rows were written with.
func (k *KPI) markRefreshed(ctx context.Context, bs []bucketCount, ver uint64) error {
	if len(bs) == 0 {
		return nil
	}
	b, err := k.conn.PrepareBatch(ctx, "INSERT INTO "+k.db+".kpi_refreshed (source, campaign_id, bucket, n, ver)")
	if err != nil {
		return fmt.Errorf("kpi: record refreshed buckets in %s: %w", k.db, err)
	}
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

// accountBucketsPerStatement is how many account buckets one statement
// recomputes.
const accountBucketsPerStatement = 2048

// refreshAccounts recomputes the per-debtor rows, promise outcomes and
// payment attribution of the stale account buckets.
func (k *KPI) refreshAccounts(ctx context.Context) (int, error) {
	var srcs []string
	for _, s := range accountSources {
		srcs = append(srcs, "'"+s.source+"'")
	}
	in := "source IN (" + strings.Join(srcs, ", ") + ")"
	q := `SELECT DISTINCT bucket FROM (
    SELECT source, campaign_id, bucket, sum(n) AS n FROM ` + k.db + `.kpi_dirty WHERE ` + in + ` GROUP BY source, campaign_id, bucket
) ANY LEFT JOIN (
    SELECT source, campaign_id, bucket, argMax(n, ver) AS seen FROM ` + k.db + `.kpi_refreshed WHERE ` + in + `
    GROUP BY source, campaign_id, bucket
) USING (source, campaign_id, bucket) WHERE n != seen ORDER BY bucket`
	var buckets []uint32
	if err := k.query(ctx, "stale account buckets", q, nil, func(r driver.Rows) error {
		var b uint32
		if err := r.Scan(&b); err != nil {
			return err
		}
		buckets = append(buckets, b)
		return nil
	}); err != nil || len(buckets) == 0 {
		return 0, err
	}
	for i := 0; i < len(buckets); i += accountBucketsPerStatement {
		if err := k.settle(ctx, buckets[i:min(len(buckets), i+accountBucketsPerStatement)]); err != nil {
			return 0, err
		}
	}
	return len(buckets), nil
}

// settle recomputes some account buckets. The counts recorded are the rows
// the copies hold, read before the rows themselves.
func (k *KPI) settle(ctx context.Context, buckets []uint32) error {
	set := bucketSet(buckets)
	var marks []bucketCount
	for _, s := range accountSources {
		seen := map[uint32]uint64{}
		if err := k.query(ctx, "count "+s.table, "SELECT bucket, count() FROM "+k.db+"."+s.table+" WHERE bucket IN "+set+" GROUP BY bucket",
			nil, func(r driver.Rows) error {
				var b uint32
				var n uint64
				if err := r.Scan(&b, &n); err != nil {
					return err
				}
				seen[b] = n
				return nil
			}); err != nil {
			return err
		}
		for _, b := range buckets {
			marks = append(marks, bucketCount{source: s.source, bucket: b, n: seen[b]})
		}
	}
	attempts, promises, payments := accountAttempts(k.db, set), accountPromises(k.db, set), accountPayments(k.db, set)
	depth, err := k.depth(ctx, promises)
	if err != nil {
		return err
	}
	ver := k.nextVer()
	ins := func(what, target, sel string) error {
		return k.exec(ctx, what, `INSERT INTO `+k.db+`.`+target+` SELECT *, toUInt64(`+fmt.Sprint(ver)+`) FROM (`+sel+`)`)
	}
	if err := ins("per-debtor rows", "kpi_debtors ("+debtorColumns+", ver)", debtorRollup(attempts)); err != nil {
		return err
	}
	if depth > 0 {
		if err := ins("settle promises", "kpi_promises ("+promiseColumns+", ver)", promiseOutcomes(promises, payments, depth)); err != nil {
			return err
		}
	}
	if err := ins("settle cancelled promises", "kpi_promises ("+promiseColumns+", ver)", cancelledPromises(promises)); err != nil {
		return err
	}
	if err := ins("attribute payments", "kpi_payments ("+paymentColumns+", ver)",
		paymentAttribution(payments, accountTouches(attempts))); err != nil {
		return err
	}
	return k.markRefreshed(ctx, marks, ver)
}

// maxDepth bounds the promises one account may hold in one currency (the
// allocation is that many nested steps).
const maxDepth = 400

// depth is how many steps the allocation of a promise source needs.
func (k *KPI) depth(ctx context.Context, promises string) (int, error) {
	var n uint64
	if err := k.query(ctx, "count promises per account", maxPromises(promises), nil,
		func(r driver.Rows) error { return r.Scan(&n) }); err != nil {
		return 0, err
	}
	if n > maxDepth {
		return 0, fmt.Errorf("kpi: an account in %s holds %d promises in one currency; promise outcomes are computed for up to %d",
			k.db, n, maxDepth)
	}
	return int(n), nil
}

// versions is the condition that picks, in a roll-up, the rows of the ver
// kpi_refreshed names for their bucket: cols are the roll-up's bucket
// columns, sel the same from kpi_refreshed's (campaign_id, bucket), scope
// a condition on kpi_refreshed.
func (k *KPI) versions(cols, sel string, sources []string, scope *conds) (string, []any) {
	for i := range sources {
		sources[i] = "'" + sources[i] + "'"
	}
	return "(" + cols + ", ver) IN (SELECT " + sel + ", max(ver) FROM " + k.db + ".kpi_refreshed WHERE source IN (" +
		strings.Join(sources, ", ") + ") AND " + scope.String() + " GROUP BY campaign_id, bucket)", scope.args
}

// accountVersions picks the rows of the account buckets' latest refresh.
func (k *KPI) accountVersions() string {
	var srcs []string
	for _, s := range accountSources {
		srcs = append(srcs, s.source)
	}
	v, _ := k.versions("bucket", "bucket", srcs, &conds{})
	return v
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
