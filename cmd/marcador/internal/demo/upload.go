package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
	"github.com/marcador/marcador/cmd/marcador/internal/portfolio"
	"github.com/marcador/marcador/queue"
)

// createCampaigns is step 1: the demo's campaigns, afresh, through the API.
func (r *run) createCampaigns(ctx context.Context) error {
	r.p("1. Campaigns (POST %s/campaigns)\n", r.api.base)
	for _, c := range demoCampaigns() {
		// Each run starts from a clean slate so its figures are reproducible.
		if err := r.app.Store.DeleteCampaign(ctx, c.ID); err != nil {
			return err
		}
		b, _ := json.Marshal(c)
		var saved queue.Campaign
		if err := r.api.do(ctx, "POST", "/campaigns", "application/json", b, &saved, http.StatusCreated, http.StatusOK); err != nil {
			return fmt.Errorf("create campaign %s: %w", c.ID, err)
		}
		r.p("   %-16s %-28s mode=%-11s profile=%s retry max=%d\n", saved.ID, saved.Name, saved.Mode, saved.Profile, saved.Retry.MaxAttempts)
	}
	return nil
}

// upload is steps 2 and 3: a generated portfolio, uploaded as the CSV a
// creditor would send (the overdue file with rows an operator must fix),
// then what it holds.
func (r *run) upload(ctx context.Context) error {
	debtors := portfolio.Generate(portfolio.Options{N: r.opt.Debtors, Countries: []string{"MX", "CO", "CL"}, Seed: r.opt.Seed, Now: r.now})
	r.remember(debtors...)
	var pre, over []queue.Account
	for _, a := range debtors {
		if a.DaysPastDue > 0 {
			over = append(over, a)
		} else {
			pre = append(pre, a)
		}
	}
	r.p("\n2. Portfolio: %d debtors generated (seed %d), uploaded as CSV with national-format phones\n", len(debtors), r.opt.Seed)
	for _, part := range []struct {
		id    string
		accts []queue.Account
		bad   bool
	}{{"demo-preventive", pre, false}, {"demo-overdue", over, true}} {
		var res httpapi.UploadResult
		if err := r.api.do(ctx, "POST", "/campaigns/"+part.id+"/contacts", "text/csv", portfolioCSV(part.accts, part.bad), &res,
			http.StatusOK, http.StatusUnprocessableEntity); err != nil {
			return fmt.Errorf("upload to %s: %w", part.id, err)
		}
		r.p("   %-16s rows=%d inserted=%d updated=%d rejected=%d\n", part.id, res.Received, res.Loaded.Inserted, res.Loaded.Updated, res.Rejected)
		for _, e := range res.Errors {
			r.p("      row %d (%s) %s: %s\n", e.Row, e.AccountID, e.Field, e.Reason)
		}
	}
	var again httpapi.UploadResult
	if err := r.api.do(ctx, "POST", "/campaigns/demo-preventive/contacts", "text/csv", portfolioCSV(pre, false), &again); err != nil {
		return fmt.Errorf("re-upload: %w", err)
	}
	r.p("   the same preventive file again: inserted=%d updated=%d (uploads are idempotent by account id)\n", again.Loaded.Inserted, again.Loaded.Updated)
	r.p("\n3. Portfolio by country\n")
	printPortfolio(r.out, debtors)
	return nil
}

// queueState is step 4: the queues as GET /campaigns/{id} reports them.
func (r *run) queueState(ctx context.Context) error {
	r.p("\n4. Queue state (GET %s/campaigns/{id})\n", r.api.base)
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   campaign\taccounts\tdue\tdue now\tleased\tdone\n")
	for _, c := range demoCampaigns() {
		var v httpapi.CampaignView
		if err := r.api.do(ctx, "GET", "/campaigns/"+c.ID, "", nil, &v); err != nil {
			return fmt.Errorf("get campaign %s: %w", c.ID, err)
		}
		q := v.Queue
		fmt.Fprintf(tw, "   %s\t%d\t%d\t%d\t%d\t%d\n", c.ID, q.Accounts, q.Due, q.DueNow, q.Leased, q.Done)
	}
	return tw.Flush()
}

// portfolioCSV renders accounts the way a creditor's export looks: national
// phone formats, DD/MM/YYYY dates; bad adds rows an operator must fix.
func portfolioCSV(accts []queue.Account, bad bool) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"account_id", "name", "national_id", "phone1", "phone2", "balance", "currency", "due_date", "country", "segment", "product",
		"fecha_nacimiento"})
	for _, a := range accts {
		phones := []string{"", ""}
		for i, ph := range a.Phones {
			if i < 2 {
				phones[i] = national(ph.Number)
			}
		}
		due := a.DueDate
		if t, err := time.Parse(queue.DateLayout, due); err == nil {
			due = t.Format("02/01/2006")
		}
		born := a.BirthDate
		if t, err := time.Parse(queue.DateLayout, born); err == nil {
			born = t.Format("02/01/2006")
		}
		w.Write([]string{a.ID, a.Name, a.NationalID, phones[0], phones[1], a.Balance.StringFixed(2), a.Currency, due, a.Country, a.Segment, a.Fields["product"],
			born})
	}
	if bad {
		w.Write([]string{"BAD-1", "Teléfono Incompleto", "", "55 12", "", "1200.00", "MXN", "01/12/2026", "MX", "early", "", ""})
		w.Write([]string{"", "Sin Identificador", "", "300 555 0101", "", "500000", "COP", "01/12/2026", "CO", "early", "", ""})
		w.Write([]string{"BAD-3", "Fecha Imposible", "", "9 8765 4321", "", "90000", "CLP", "31/02/2026", "CL", "mid", "", ""})
	}
	w.Flush()
	return b.Bytes()
}

func national(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return e164
	}
	return phonenumbers.Format(num, phonenumbers.NATIONAL)
}

func printPortfolio(w io.Writer, debtors []queue.Account) {
	type agg struct {
		n        int
		currency string
		total    decimal.Decimal
		segments map[string]int
	}
	by := map[string]*agg{}
	for _, a := range debtors {
		g := by[a.Country]
		if g == nil {
			g = &agg{currency: a.Currency, segments: map[string]int{}}
			by[a.Country] = g
		}
		g.n++
		g.total = g.total.Add(a.Balance)
		g.segments[a.Segment]++
	}
	countries := make([]string, 0, len(by))
	for c := range by {
		countries = append(countries, c)
	}
	sort.Strings(countries)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   country\tdebtors\tbalance\tsegments\n")
	for _, c := range countries {
		g := by[c]
		var segs []string
		for _, s := range []string{"preventive", "early", "mid", "late"} {
			if g.segments[s] > 0 {
				segs = append(segs, fmt.Sprintf("%s %d", s, g.segments[s]))
			}
		}
		fmt.Fprintf(tw, "   %s\t%d\t%s %s\t%s\n", c, g.n, money(g.total), g.currency, strings.Join(segs, ", "))
	}
	tw.Flush()
}

// money writes an amount with thousands grouped: 1,514,583,000.00.
func money(d decimal.Decimal) string {
	s := d.StringFixed(2)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}
