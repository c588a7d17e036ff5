package kpi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Debtors by day. Counting the distinct debtors of each day from
// kpi_debtors walks every (debtor, day) pair of the range (seconds at 10M
// attempts), so kpi_debtor_days keeps each campaign's calendar days in a
// zone counted already: a debtor is an account of a campaign, so the
// campaigns' counts add up to the day's. A day is stale when the
// kpi_dirty counts of the attempt hours that overlap it (in its zone) moved
// since it was counted; it is then counted again from the raw rows read
// newest version first, like every roll-up (see refresh.go). A zone's days
// are kept from the first question by day in it on.

// daysPrefix starts kpi_refreshed's source for a zone's day counts.
const daysPrefix = "debtor_days/"

func daysSource(tz string) string { return daysPrefix + tz }

// dayNum is the number (days since 1970-01-01) of the calendar day t falls
// on in loc.
func dayNum(t time.Time, loc *time.Location) uint32 {
	y, m, d := t.In(loc).Date()
	return uint32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// dayStart is when day number n starts in loc.
func dayStart(n uint32, loc *time.Location) time.Time {
	return time.Date(1970, 1, 1+int(n), 0, 0, 0, 0, loc)
}

// keptZones are the zones whose day counts are kept, with zones.
func (k *KPI) keptZones(ctx context.Context, zones []string) ([]string, error) {
	out := append([]string(nil), zones...)
	err := k.query(ctx, "zones counted by day", "SELECT DISTINCT source FROM "+k.db+".kpi_refreshed WHERE startsWith(source, ?)",
		[]any{daysPrefix}, func(r driver.Rows) error {
			var s string
			if err := r.Scan(&s); err != nil {
				return err
			}
			if tz := strings.TrimPrefix(s, daysPrefix); !slices.Contains(out, tz) {
				out = append(out, tz)
			}
			return nil
		})
	return out, err
}

// refreshDays counts again the stale days of zone tz in s.
func (k *KPI) refreshDays(ctx context.Context, tz string, s RefreshScope) (int, error) {
	loc, err := zone(tz)
	if err != nil {
		return 0, err
	}
	stale, err := k.dayBuckets(ctx, tz, loc, s)
	if err != nil {
		return 0, err
	}
	// Consecutive days of a campaign make one range; a statement takes up
	// to maxHoursPerStatement/24 campaign-days.
	done := 0
	for len(stale) > 0 {
		n := min(len(stale), maxHoursPerStatement/24)
		chunk := stale[:n]
		stale = stale[n:]
		var conds []string
		var args []any
		for i := 0; i < len(chunk); {
			j := i + 1
			for j < len(chunk) && chunk[j].campaign == chunk[i].campaign && chunk[j].bucket == chunk[j-1].bucket+1 {
				j++
			}
			conds = append(conds, "(campaign_id = ? AND started_at >= toDateTime(?) AND started_at < toDateTime(?))")
			args = append(args, chunk[i].campaign, unix(dayStart(chunk[i].bucket, loc)), unix(dayStart(chunk[j-1].bucket+1, loc)))
			i = j
		}
		ver := k.nextVer()
		q := `INSERT INTO ` + k.db + `.kpi_debtor_days (tz, campaign_id, day, debtors, reached, rpc, ver)
SELECT '` + tz + `', campaign_id, day, debtors, reached, rpc, toUInt64(` + fmt.Sprint(ver) + `) FROM (
    SELECT campaign_id, toDate(hour, '` + tz + `') AS day, uniqExactIf(account_id, f_attempt = 1) AS debtors,
        uniqExactIf(account_id, f_contact = 1) AS reached, uniqExactIf(account_id, f_rpc = 1) AS rpc
    FROM (` + attemptRows(k.db, "started_at", strings.Join(conds, " OR ")) + `) GROUP BY campaign_id, day
)`
		if err := k.exec(ctx, "count debtors by day in "+tz, q, args...); err != nil {
			return done, err
		}
		if err := k.markRefreshed(ctx, chunk, ver); err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

// dayBuckets lists the stale days of zone tz in s, by campaign and day:
// a day's count is the sum of the kpi_dirty counts of the attempt hours
// that overlap it (an hour may overlap two days in a zone whose offset is
// not whole hours).
func (k *KPI) dayBuckets(ctx context.Context, tz string, loc *time.Location, s RefreshScope) ([]bucketCount, error) {
	src := daysSource(tz)
	hours, days := &conds{}, &conds{}
	hours.add("source = '" + srcAttempts + "'")
	hours.in("campaign_id", s.Campaigns)
	days.in("campaign_id", s.Campaigns)
	if !s.From.IsZero() {
		hours.add("bucket >= ?", unix(s.From.Add(-48*time.Hour)))
		days.add("bucket >= ?", dayNum(s.From, loc))
	}
	if !s.To.IsZero() {
		hours.add("bucket < ?", unix(s.To.Add(48*time.Hour)))
		days.add("bucket <= ?", dayNum(s.To.Add(-time.Second), loc))
	}
	q := `SELECT '` + src + `' AS source, campaign_id, bucket, n, seen FROM (
    SELECT campaign_id, day AS bucket, sum(n) AS n FROM (
        SELECT campaign_id, toUInt32(arrayJoin(arrayDistinct([toDate(toDateTime(bucket), '` + tz + `'),
            toDate(toDateTime(bucket + 3599), '` + tz + `')]))) AS day, n
        FROM ` + k.db + `.kpi_dirty WHERE ` + hours.String() + `
    ) WHERE ` + days.String() + ` GROUP BY campaign_id, bucket
) ANY LEFT JOIN (
    SELECT campaign_id, bucket, argMax(n, ver) AS seen FROM ` + k.db + `.kpi_refreshed WHERE source = ? AND ` + days.String() + `
    GROUP BY campaign_id, bucket
) USING (campaign_id, bucket) WHERE n != seen ORDER BY campaign_id, bucket`
	args := append(append(append([]any{}, hours.args...), days.args...), src)
	return k.counts(ctx, "stale days in "+tz, q, append(args, days.args...))
}

// zone loads tz. A zone is written into the SQL (ClickHouse wants a
// constant), so only IANA names' characters are let through.
func zone(tz string) (*time.Location, error) {
	if strings.Trim(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != "" || len(tz) > 64 || tz == "Local" {
		return nil, fmt.Errorf("kpi: time zone %q: want an IANA name", clipped(tz))
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("kpi: time zone %q: %w", clipped(tz), err)
	}
	return loc, nil
}

// byDayCounts says whether kpi_debtor_days answers the debtors of f by
// day: it has no country, segment, channel or agent.
func (rd *reader) byDayCounts(by By) bool {
	return rd.src == Rollup && by == ByDay && len(rd.f.Countries) == 0 && len(rd.f.Segments) == 0 && len(rd.f.Channels) == 0 &&
		len(rd.f.Agents) == 0
}

// dayQuery reads the debtors by day from kpi_debtor_days: each campaign's
// day of its latest count, summed over the campaigns.
func (rd *reader) dayQuery() (string, []any) {
	from, to := rd.f.Range()
	d0, d1 := dayNum(from, rd.f.loc), dayNum(to.Add(-time.Second), rd.f.loc)
	scope := &conds{}
	scope.in("campaign_id", rd.f.Campaigns)
	scope.add("bucket >= ? AND bucket <= ?", d0, d1)
	v, vargs := rd.k.versions("campaign_id, day", "campaign_id, toDate(bucket)", []string{daysSource(rd.f.TZ)}, scope)
	c := &conds{}
	c.add("tz = ? AND day >= toDate(?) AND day <= toDate(?)", rd.f.TZ, d0, d1)
	c.in("campaign_id", rd.f.Campaigns)
	c.add(v, vargs...)
	return `SELECT toString(day) AS k, sum(debtors), sum(reached), sum(rpc) FROM ` + rd.k.db + `.kpi_debtor_days
WHERE ` + c.String() + ` GROUP BY k`, c.args
}
