package queue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports each campaign's queue depths, read from Redis at scrape time.
type Collector struct {
	s                                   *Store
	now                                 func() time.Time
	accounts, due, dueNow, leased, done *prometheus.Desc
}

// NewCollector returns a Collector over s; now gives the time "due now" is measured at.
func NewCollector(s *Store, now func() time.Time) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("marcador_queue_"+name, help, []string{"campaign"}, nil)
	}
	return &Collector{s: s, now: now,
		accounts: d("accounts", "Accounts loaded into the campaign."),
		due:      d("due", "Contacts queued (any eligible time)."),
		dueNow:   d("due_now", "Contacts queued and eligible now."),
		leased:   d("leased", "Contacts claimed by a node and in progress."),
		done:     d("done", "Contacts finished in the campaign."),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.accounts, c.due, c.dueNow, c.leased, c.done} {
		ch <- d
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids, err := c.s.CampaignIDs(ctx)
	if err != nil {
		c.s.log.Warn("queue metrics: list campaigns", "err", err)
		return
	}
	now := c.now()
	for _, id := range ids {
		n, err := c.s.Counts(ctx, id, now)
		if err != nil {
			c.s.log.Warn("queue metrics: counts", "campaign", id, "err", err)
			continue
		}
		g := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), id)
		}
		g(c.accounts, n.Accounts)
		g(c.due, n.Due)
		g(c.dueNow, n.DueNow)
		g(c.leased, n.Leased)
		g(c.done, n.Done)
	}
}
