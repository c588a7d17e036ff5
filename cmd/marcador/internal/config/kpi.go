package config

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
)

// KPI tunes the managers' analytics (analytics/kpi, marcador report, GET
// /api/v1/kpis).
type KPI struct {
	// AttributionDays: a payment is recovered by the account's latest touch
	// at most this many days before it. Default 7.
	AttributionDays int `yaml:"attribution_days"`
	// Refresh is how often serve brings the roll-ups up to date for the
	// dashboards that read them directly (the API and report always do it
	// first). Default 1m.
	Refresh time.Duration `yaml:"refresh"`
	Costs   Costs         `yaml:"costs"`
}

// Costs are what calls and texts cost, in Currency; without prices the
// cost KPIs are left out.
type Costs struct {
	Currency           string               `yaml:"currency"`
	Trunks             map[string]TrunkCost `yaml:"trunks"` // by trunk name (file only)
	SMSPerSegment      float64              `yaml:"sms_per_segment"`
	WhatsAppPerMessage float64              `yaml:"whatsapp_per_message"`
}

// TrunkCost is a trunk's prices: per call placed, and per minute billed by
// the second.
type TrunkCost struct {
	PerCall   float64 `yaml:"per_call"`
	PerMinute float64 `yaml:"per_minute"`
}

// Options are k as analytics/kpi takes them.
func (k KPI) Options() kpi.Options {
	c := kpi.Costs{Currency: k.Costs.Currency, SMSPerSegment: decimal.NewFromFloat(k.Costs.SMSPerSegment),
		WhatsAppPerMessage: decimal.NewFromFloat(k.Costs.WhatsAppPerMessage)}
	for name, t := range k.Costs.Trunks {
		if c.Trunks == nil {
			c.Trunks = map[string]kpi.TrunkCost{}
		}
		c.Trunks[name] = kpi.TrunkCost{PerCall: decimal.NewFromFloat(t.PerCall), PerMinute: decimal.NewFromFloat(t.PerMinute)}
	}
	return kpi.Options{AttributionDays: k.AttributionDays, Costs: c}
}

func (c *Config) validateKPI() error {
	k := &c.KPI
	if k.AttributionDays == 0 {
		k.AttributionDays = kpi.DefaultAttributionDays
	}
	if k.Refresh == 0 {
		k.Refresh = time.Minute
	}
	switch {
	case k.AttributionDays < 1 || k.AttributionDays > 90:
		return fmt.Errorf("kpi.attribution_days %d: want 1-90", k.AttributionDays)
	case k.Refresh < 5*time.Second || k.Refresh > 24*time.Hour:
		return fmt.Errorf("kpi.refresh %s: want 5s-24h", k.Refresh)
	}
	co := k.Costs
	prices := map[string]float64{"sms_per_segment": co.SMSPerSegment, "whatsapp_per_message": co.WhatsAppPerMessage}
	for name, t := range co.Trunks {
		prices["trunks."+name+".per_call"], prices["trunks."+name+".per_minute"] = t.PerCall, t.PerMinute
	}
	priced := false
	for key, v := range prices {
		if v < 0 || v > 1000 {
			return fmt.Errorf("kpi.costs.%s %g: want 0-1000", key, v)
		}
		priced = priced || v > 0
	}
	if priced && !analytics.ValidCurrency(co.Currency) {
		return fmt.Errorf("kpi.costs.currency %q: want the ISO 4217 code the prices are in", co.Currency)
	}
	return nil
}
