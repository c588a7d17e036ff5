package kpi

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports, at scrape time, what the alert rules in
// deploy/prometheus watch: each campaign's abandon rate (over 30 days and
// today, UTC), each trunk's calls and failures in the current and previous
// hour, whether ClickHouse answered, and how the roll-up refreshes go. It
// reads the roll-ups as they stand (serve refreshes them every
// kpi.refresh), never the raw tables.
type Collector struct {
	k                                *KPI
	up, abandon, live, calls, failed *prometheus.Desc
	refreshErrors, lastRefresh       *prometheus.Desc
	refreshFailures, refreshedAt     atomic.Int64
}

// NewCollector returns the collector of k.
func NewCollector(k *KPI) *Collector {
	return &Collector{k: k,
		up: prometheus.NewDesc("marcador_clickhouse_up", "1 when ClickHouse answered this scrape's KPI queries, else 0.", nil, nil),
		abandon: prometheus.NewDesc("marcador_kpi_abandon_ratio",
			"Abandoned calls over live answers per campaign (window 30d: the last 30 days; today: since 00:00 UTC).",
			[]string{"campaign", "window"}, nil),
		live: prometheus.NewDesc("marcador_kpi_live_answers", "Calls answered by a person per campaign, in the window.",
			[]string{"campaign", "window"}, nil),
		calls: prometheus.NewDesc("marcador_kpi_trunk_calls", "Calls placed on the trunk in the current and previous hour.",
			[]string{"trunk"}, nil),
		failed: prometheus.NewDesc("marcador_kpi_trunk_failures",
			"Calls the trunk or carrier failed (network_error) in the current and previous hour.", []string{"trunk"}, nil),
		refreshErrors: prometheus.NewDesc("marcador_kpi_refresh_errors_total", "Roll-up refreshes that failed.", nil, nil),
		lastRefresh: prometheus.NewDesc("marcador_kpi_last_refresh_timestamp_seconds",
			"When the roll-ups were last brought up to date (0: not yet).", nil, nil),
	}
}

// Refreshed records a refresh's outcome (serve's refresher calls it).
func (c *Collector) Refreshed(err error, at time.Time) {
	if err != nil {
		c.refreshFailures.Add(1)
		return
	}
	c.refreshedAt.Store(at.Unix())
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.abandon, c.live, c.calls, c.failed, c.refreshErrors, c.lastRefresh} {
		ch <- d
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch <- prometheus.MustNewConstMetric(c.refreshErrors, prometheus.CounterValue, float64(c.refreshFailures.Load()))
	ch <- prometheus.MustNewConstMetric(c.lastRefresh, prometheus.GaugeValue, float64(c.refreshedAt.Load()))
	now := c.k.opt.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	from := today.Add(-window + 24*time.Hour)
	up := 1.0
	defer func() { ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up) }()
	scope := &conds{}
	scope.add("bucket >= ?", unix(from))
	v, args := c.k.versions("campaign_id, hour", "campaign_id, toDateTime(bucket)", []string{srcAttempts}, scope)
	q := `SELECT campaign_id, sum(abandoned), sum(live), sumIf(abandoned, hour >= toDateTime(?)), sumIf(live, hour >= toDateTime(?))
FROM ` + c.k.db + `.kpi_attempts WHERE ` + v + ` AND hour >= toDateTime(?) GROUP BY campaign_id`
	if err := c.k.query(ctx, "abandon rates", q, append([]any{unix(today), unix(today)}, append(args, unix(from))...),
		func(r driver.Rows) error {
			var campaign string
			var ab, live, abToday, liveToday uint64
			if err := r.Scan(&campaign, &ab, &live, &abToday, &liveToday); err != nil {
				return err
			}
			for _, w := range []struct {
				name     string
				ab, live uint64
			}{{"30d", ab, live}, {"today", abToday, liveToday}} {
				ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, float64(w.live), campaign, w.name)
				if w.live > 0 {
					ch <- prometheus.MustNewConstMetric(c.abandon, prometheus.GaugeValue, float64(w.ab)/float64(w.live), campaign, w.name)
				}
			}
			return nil
		}); err != nil {
		c.k.log.Warn("kpi metrics: abandon rates", "err", err)
		up = 0
		return
	}
	hourAgo := now.Truncate(time.Hour).Add(-time.Hour)
	scope = &conds{}
	scope.add("bucket >= ?", unix(hourAgo))
	v, args = c.k.versions("campaign_id, hour", "campaign_id, toDateTime(bucket)", []string{srcAttempts}, scope)
	q = `SELECT trunk, sum(placed), sum(trunk_failures) FROM ` + c.k.db + `.kpi_attempts
WHERE ` + v + ` AND hour >= toDateTime(?) AND channel = 'voice' GROUP BY trunk`
	if err := c.k.query(ctx, "trunk failures", q, append(args, unix(hourAgo)), func(r driver.Rows) error {
		var trunk string
		var calls, failed uint64
		if err := r.Scan(&trunk, &calls, &failed); err != nil {
			return err
		}
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.GaugeValue, float64(calls), trunk)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(failed), trunk)
		return nil
	}); err != nil {
		c.k.log.Warn("kpi metrics: trunk failures", "err", err)
		up = 0
	}
}
