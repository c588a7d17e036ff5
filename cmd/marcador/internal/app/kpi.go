package app

import (
	"context"
	"time"

	"github.com/marcador/marcador/analytics/kpi"
)

// buildKPI is the KPI reader of the node's database (it brings nothing:
// it asks ClickHouse only when asked).
func (a *App) buildKPI() error {
	opt := a.Config.KPI.Options()
	opt.Logger = a.Log
	k, err := kpi.New(a.Conn, a.Config.ClickHouse.Database, opt)
	if err != nil {
		return err
	}
	a.KPI = k
	return nil
}

// refreshKPIs keeps the roll-ups up to date every kpi.refresh, for the
// dashboards that read them directly (the API and report refresh first
// anyway), and tells the metrics how it went.
func refreshKPIs(ctx context.Context, k *kpi.KPI, c *kpi.Collector, every time.Duration, log interface {
	Warn(string, ...any)
}) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, err := k.Refresh(ctx, kpi.RefreshScope{})
			c.Refreshed(err, time.Now())
			// One line when refreshing starts failing, not one per tick.
			if err != nil && !failing && ctx.Err() == nil {
				log.Warn("kpi roll-ups not refreshed; dashboards show them as they were", "err", err)
			}
			failing = err != nil
		}
	}
}
