// Package report is `marcador report`: the KPIs of analytics/kpi in the
// terminal (an aligned table with the total), as CSV or as the JSON the
// API answers.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/marcador/marcador/analytics/kpi"
)

// Formats are the output formats.
func Formats() []string { return []string{"table", "csv", "json"} }

// Write prints rep in format.
func Write(w io.Writer, rep *kpi.Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		return rep.CSV(w)
	case "table", "":
		return table(w, rep)
	}
	return fmt.Errorf("format %q: want %s", format, strings.Join(Formats(), ", "))
}

// column is one column of the table: its heading and how a row shows it.
type column struct {
	head string
	cell func(r kpi.Row) string
}

func count(v uint64) string { return fmt.Sprint(v) }

func pct(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *v*100)
}

func num(v *float64, places int) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", places, *v)
}

func money(m kpi.Money) string {
	if len(m) == 0 {
		return "-"
	}
	curs := make([]string, 0, len(m))
	for c := range m {
		curs = append(curs, c)
	}
	slices.Sort(curs)
	parts := make([]string, len(curs))
	for i, c := range curs {
		parts[i] = m[c].StringFixed(2) + " " + c
	}
	return strings.Join(parts, " + ")
}

var columns = []column{
	{"attempts", func(r kpi.Row) string { return count(r.Attempts) }},
	{"debtors", func(r kpi.Row) string { return count(r.Debtors) }},
	{"contact", func(r kpi.Row) string { return pct(r.ContactRate) }},
	{"per debtor", func(r kpi.Row) string { return pct(r.DebtorContactRate) }},
	{"RPC", func(r kpi.Row) string { return pct(r.RPCRate) }},
	{"promises", func(r kpi.Row) string { return count(r.Promises) }},
	{"promise", func(r kpi.Row) string { return pct(r.PromiseRate) }},
	{"promised", func(r kpi.Row) string { return money(r.Promised) }},
	{"kept", func(r kpi.Row) string { return pct(r.KeptRate) }},
	{"kept/broken/pending", func(r kpi.Row) string { return fmt.Sprintf("%d/%d/%d", r.Kept, r.Broken, r.Pending) }},
	{"recovered", func(r kpi.Row) string { return money(r.Recovered) }},
	{"abandon", func(r kpi.Row) string { return pct(r.AbandonRate) }},
	{"30d", func(r kpi.Row) string { return pct(r.AbandonRate30) }},
	{"agent h", func(r kpi.Row) string { return num(r.AgentHours, 2) }},
	{"occupancy", func(r kpi.Row) string { return pct(r.Occupancy) }},
	{"AHT s", func(r kpi.Row) string { return num(r.AHTSeconds, 1) }},
	{"delivered", func(r kpi.Row) string { return pct(r.DeliveryRate) }},
	{"replies", func(r kpi.Row) string { return pct(r.ReplyRate) }},
	{"cost/contact", func(r kpi.Row) string { return money(r.CostPerContact) }},
}

// table prints the main KPIs, one line per row, the total last, numbers
// aligned right; csv and json have every figure.
func table(w io.Writer, rep *kpi.Report) error {
	by := string(rep.By)
	if by == "" {
		by = "total"
	}
	fmt.Fprintf(w, "KPIs %s to %s (%s), by %s; recovery within %d days\n", rep.From, rep.To, rep.TZ, by, rep.AttributionDays)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(key string, cells []string) {
		fmt.Fprintf(tw, "%s\t%s\t\n", key, strings.Join(cells, "\t"))
	}
	heads := make([]string, len(columns))
	for i, c := range columns {
		heads[i] = c.head
	}
	line(by, heads)
	show := func(r kpi.Row) {
		cells := make([]string, len(columns))
		for i, c := range columns {
			cells[i] = c.cell(r)
		}
		key := r.Key
		if key == "" {
			key = "(none)"
		}
		line(key, cells)
	}
	for _, r := range rep.Rows {
		show(r)
	}
	show(rep.Total)
	return tw.Flush()
}
