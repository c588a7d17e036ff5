package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
)

// KPIs answers the KPI routes (analytics/kpi's *KPI).
type KPIs interface {
	Report(ctx context.Context, f kpi.Filter, by kpi.By, src kpi.Source) (*kpi.Report, error)
	BestTime(ctx context.Context, f kpi.Filter, by string, src kpi.Source) ([]kpi.Cell, error)
}

// getKPIs is GET /api/v1/kpis?campaign=..&from=..&to=..&by=..&tz=..: the
// KPIs as `marcador report -format json` prints them. A bad parameter is
// 400 naming it.
func (a *API) getKPIs(w http.ResponseWriter, r *http.Request) {
	f, by, err := kpi.ParseQuery(r.URL.Query(), a.opt.Now())
	if err != nil {
		writeAnalyticsFieldError(w, err)
		return
	}
	rep, err := a.opt.KPIs.Report(r.Context(), f, by, kpi.Rollup)
	if err != nil {
		a.log.Error("api: kpis", "query", r.URL.RawQuery, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the KPIs could not be read from ClickHouse")
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// getBestTime is GET /api/v1/kpis/best-time: contact and right-party rates
// by the debtor's local weekday and hour; by=country or segment splits the
// grid.
func (a *API) getBestTime(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	by := q.Get("by")
	q.Del("by")
	f, _, err := kpi.ParseQuery(q, a.opt.Now())
	if err == nil && by != "" && by != "country" && by != "segment" {
		err = &analytics.FieldError{Field: "by", Reason: "want country or segment"}
	}
	if err != nil {
		writeAnalyticsFieldError(w, err)
		return
	}
	cells, err := a.opt.KPIs.BestTime(r.Context(), f, by, kpi.Rollup)
	if err != nil {
		a.log.Error("api: best time", "query", r.URL.RawQuery, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the KPIs could not be read from ClickHouse")
		return
	}
	if cells == nil {
		cells = []kpi.Cell{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": f.From, "to": f.To, "tz": f.TZ, "by": by, "cells": cells})
}

// writeAnalyticsFieldError answers 400 {"error","field","reason"} for an
// *analytics.FieldError.
func writeAnalyticsFieldError(w http.ResponseWriter, err error) {
	var fe *analytics.FieldError
	if errors.As(err, &fe) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "field": fe.Field, "reason": fe.Reason})
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}
