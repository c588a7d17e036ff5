package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/report"
)

// listFlag is a flag that may repeat (and take comma-separated values).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", "report -config FILE [-campaign ID]... [-from YYYY-MM-DD -to YYYY-MM-DD] [-tz ZONE] "+
		"[-by day|campaign|agent|hour|segment|channel] [-country CC]... [-segment S]... [-channel C]... [-agent ID]... "+
		"[-format table|csv|json] [-raw]\n\n"+
		"The KPIs of README \"KPIs\" for the campaigns and days given (both days included, in -tz), one row per -by and the\n"+
		"total; the same figures GET /api/v1/kpis answers with the same parameters.", stderr)
	cfgPath := fs.String("config", "", "YAML config file")
	lists := map[string]*listFlag{}
	for name, what := range map[string]string{"campaign": "campaigns", "country": "countries (ISO codes)", "segment": "segments",
		"channel": "channels (voice, sms, whatsapp)", "agent": "agents"} {
		lists[name] = &listFlag{}
		fs.Var(lists[name], name, "only these "+what+" (repeat, or comma-separated)")
	}
	from := fs.String("from", "", "first day (default: six days before -to)")
	to := fs.String("to", "", "last day (default: today in -tz)")
	tz := fs.String("tz", "UTC", "IANA time zone the days are in")
	by := fs.String("by", "", "one row per day, campaign, agent, hour, segment or channel (default: the total alone)")
	format := fs.String("format", "table", "table, csv or json")
	raw := fs.Bool("raw", false, "compute from the raw tables instead of the roll-ups (slower; the figures are the same)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("report: unexpected %q", fs.Arg(0))
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return fmt.Errorf("report: -format %q: want table, csv or json", *format)
	}
	q := url.Values{}
	for name, l := range lists {
		for _, v := range *l {
			q.Add(name, v)
		}
	}
	for name, v := range map[string]string{"from": *from, "to": *to, "tz": *tz, "by": *by} {
		if v != "" {
			q.Set(name, v)
		}
	}
	f, b, err := kpi.ParseQuery(q, time.Now())
	if err != nil {
		return fmt.Errorf("report: -%w", err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.ClickHouse, Schema: app.SchemaRequired,
		Logger: app.NewLogger(cfg.Log, stderr), Version: version})
	if err != nil {
		return readsClickHouse("report", err)
	}
	defer a.Close()
	src := kpi.Rollup
	if *raw {
		src = kpi.Raw
	}
	rep, err := a.KPI.Report(ctx, f, b, src)
	if err != nil {
		return err
	}
	return report.Write(stdout, rep, *format)
}
