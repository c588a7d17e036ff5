package demo

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
	"github.com/marcador/marcador/cmd/marcador/internal/report"
	"github.com/marcador/marcador/queue/compliance"
)

// What the demo reads back comes from ClickHouse through analytics.Reader,
// scoped to this run: the campaign's rows since the calls started.

func (r *run) scope(campaignID string, channels ...analytics.Channel) analytics.Scope {
	return analytics.Scope{Campaigns: []string{campaignID}, Channels: channels, From: r.since()}
}

// printAttempts lists this run's calls.
func (r *run) printAttempts(ctx context.Context, campaignID string) error {
	as, err := r.read.Attempts(ctx, r.scope(campaignID, analytics.Voice))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   account\tphone\tdisposition\tSIP\tring\ttalk\tkeys\tpromise\tpath or reason\n")
	for _, a := range as {
		prom := ""
		if !a.PromiseAmount.IsZero() {
			prom = money(a.PromiseAmount) + " " + a.Currency
		}
		path := a.IVRPath
		if path == "" {
			path = a.Reason
		}
		if len(path) > 70 {
			path = path[:67] + "..."
		}
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%d\t%.1fs\t%.1fs\t%s\t%s\t%s\n", a.AccountID, a.Phone, a.Disposition, a.SIPCode,
			float64(a.RingMS)/1000, float64(a.TalkMS)/1000, a.DTMF, prom, path)
	}
	return tw.Flush()
}

// printCampaign is the campaign as GET /campaigns/{id} reports it.
func (r *run) printCampaign(ctx context.Context, id string) error {
	var v httpapi.CampaignView
	if err := r.api.do(ctx, "GET", "/campaigns/"+id, "", nil, &v); err != nil {
		return fmt.Errorf("get campaign: %w", err)
	}
	r.p("   GET /campaigns/%s: status %s, %d in flight, %d done, %d due later, dispositions %v\n", id, v.Status, v.InFlight,
		v.Queue.Done, v.Queue.Due-v.Queue.DueNow, v.Dispositions)
	return nil
}

// explain is step 6: why the next contact would be refused, as an
// operator asks it, for a few of this run's debtors.
func (r *run) explain(ctx context.Context) error {
	c := demoCampaigns()[1]
	r.p("\n6. Compliance: calling the same debtors again right now? (GET %s/compliance/explain)\n", r.api.base)
	picks, err := r.explainPicks(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, a := range picks {
		at := r.gateNow().Add(time.Minute).Format(time.RFC3339)
		var e compliance.Explanation
		q := "/compliance/explain?profile=auto&channel=voice&phone=" + url.QueryEscape(a.Phone) + "&account=" + url.QueryEscape(a.AccountID) +
			"&campaign=" + c.ID + "&at=" + url.QueryEscape(at)
		if err := r.api.do(ctx, "GET", q, "", nil, &e); err != nil {
			return fmt.Errorf("explain %s: %w", a.Phone, err)
		}
		if e.Allowed {
			r.p("   %s %s after %s, profile %s: allowed\n", a.AccountID, a.Phone, a.Disposition, e.Profile)
			continue
		}
		next := "until " + e.NextAllowed
		if e.NextAllowed == "" {
			next = "with no next time"
		}
		r.p("   %s %s after %s, profile %s: BLOCKED %s\n      %s — %s\n", a.AccountID, a.Phone, a.Disposition, e.Profile, next, e.Rule, e.Reason)
	}
	return nil
}

type demoPick struct{ AccountID, Phone, Disposition string }

// explainPicks chooses from this run's attempts: a debtor who made a
// promise in each country, one on the do-not-contact list, one whose number
// was invalid.
func (r *run) explainPicks(ctx context.Context, campaignID string) ([]demoPick, error) {
	as, err := r.read.Attempts(ctx, r.scope(campaignID))
	if err != nil {
		return nil, err
	}
	byKey := map[string]demoPick{}
	for _, a := range as {
		p, key := demoPick{a.AccountID, a.Phone, a.Disposition}, a.Disposition
		if a.PromiseAmount.IsPositive() {
			key, p.Disposition = "promised "+a.Country, "a promise"
		}
		if _, ok := byKey[key]; !ok {
			byKey[key] = p
		}
	}
	var out []demoPick
	for _, k := range []string{"promised MX", "promised CO", "promised CL", analytics.Blocked, analytics.InvalidNumber} {
		if p, ok := byKey[k]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// summary is step 9: the schema, every table's rows, and the KPIs of this
// run's days.
func (r *run) summary(ctx context.Context) error {
	r.p("\n9. ClickHouse (%s)\n", r.opt.Config.ClickHouse.Database)
	applied, err := r.read.Applied(ctx)
	if err != nil {
		return err
	}
	names := make([]string, len(applied))
	for i, m := range applied {
		names[i] = fmt.Sprintf("%03d %s", m.Version, m.Name)
	}
	r.p("   schema migrations applied: %s\n", strings.Join(names, ", "))
	tables, err := r.read.Rows(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		r.p("   %-17s %d rows\n", t.Table, t.Rows)
	}
	return r.printKPIs(ctx)
}

// printKPIs is the summary's figures: the KPI code's report of the demo's
// campaigns over the days of this run, as `marcador report` prints it.
func (r *run) printKPIs(ctx context.Context) error {
	now := time.Now().UTC()
	from, to := r.since().UTC().Format(time.DateOnly), now.Format(time.DateOnly)
	q := url.Values{"from": {from}, "to": {to}, "by": {string(kpi.ByCampaign)}}
	for _, c := range demoCampaigns() {
		q.Add("campaign", c.ID)
	}
	f, by, err := kpi.ParseQuery(q, now)
	if err != nil {
		return err
	}
	rep, err := r.app.KPI.Report(ctx, f, by, kpi.Rollup)
	if err != nil {
		return err
	}
	r.p("\n   read back from ClickHouse by the KPI code (marcador report -campaign %s -from %s -to %s -by campaign):\n",
		strings.Join(q["campaign"], ","), from, to)
	if err := report.Write(r.out, rep, "table"); err != nil {
		return err
	}
	t := rep.Total
	r.p("   a right-party contact (RPC) is a debtor who proved who they are (1 and their birth date at the reminder's check,\n"+
		"   or on the callback line): %d of the day's %d contacts; relatives, wrong numbers, failed checks and, without AMD,\n"+
		"   answering machines (wrong_party, not_verified) heard only the company's name and a number to call.\n"+
		"   Promise rate = promises / RPCs (%d / %d); the day's figures include this database's earlier runs today.\n",
		t.RPC, t.Contacts, t.Promises, t.RPC)
	return r.printRunRPC(ctx, demoCampaigns()[1].ID)
}

// printRunRPC is this run's right-party figures for a campaign, from its
// attempt rows (the KPI table above covers whole days).
func (r *run) printRunRPC(ctx context.Context, campaignID string) error {
	as, err := r.read.Attempts(ctx, r.scope(campaignID, analytics.Voice))
	if err != nil {
		return err
	}
	var placed, answered, rpc, wrong, unverified, promises int
	for _, a := range as {
		switch a.Disposition {
		case analytics.Blocked, analytics.LocalError, analytics.IdentityFailed:
			continue
		case analytics.Answered, analytics.WrongParty, analytics.NotVerified, analytics.Inbound:
			answered++
		}
		placed++
		switch {
		case a.RightParty || a.Disposition == analytics.Inbound:
			rpc++
		case a.Disposition == analytics.WrongParty:
			wrong++
		case a.Disposition == analytics.NotVerified:
			unverified++
		}
		if a.PromiseAmount.IsPositive() {
			promises++
		}
	}
	r.p("   this run's %s calls: %d placed, %d answered: %d RPCs (%s of the calls), %d wrong parties, %d not verified;\n"+
		"   %d promises, a promise rate of %s\n", campaignID, placed, answered, rpc, percent(rpc, placed), wrong, unverified, promises,
		percent(promises, rpc))
	return nil
}

// percent is n of d as a percentage, "-" when d is 0.
func percent(n, d int) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(d))
}

// printTexts tabulates this run's texts by disposition, most first.
func (r *run) printTexts(ctx context.Context, campaignID string) error {
	counts, err := r.read.AttemptCounts(ctx, r.scope(campaignID, analytics.SMS, analytics.WhatsApp))
	if err != nil {
		return err
	}
	var byDisp []analytics.AttemptCount // SMS and WhatsApp together
	for _, c := range counts {
		i := slices.IndexFunc(byDisp, func(d analytics.AttemptCount) bool { return d.Disposition == c.Disposition })
		if i < 0 {
			byDisp = append(byDisp, analytics.AttemptCount{Disposition: c.Disposition})
			i = len(byDisp) - 1
		}
		d := &byDisp[i]
		d.Attempts, d.Segments = d.Attempts+c.Attempts, d.Segments+c.Segments
		if d.Reason == "" {
			d.Reason = c.Reason
		}
	}
	slices.SortStableFunc(byDisp, func(a, b analytics.AttemptCount) int {
		if a.Attempts != b.Attempts {
			return cmp.Compare(b.Attempts, a.Attempts)
		}
		return strings.Compare(a.Disposition, b.Disposition)
	})
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "   text attempts (contact_attempts, channel sms)\tcount\tsegments\texample reason\n")
	for _, d := range byDisp {
		reason := d.Reason
		if len(reason) > 80 {
			reason = reason[:77] + "..."
		}
		fmt.Fprintf(tw, "   %s\t%d\t%d\t%s\n", d.Disposition, d.Attempts, d.Segments, strings.TrimSpace(reason))
	}
	return tw.Flush()
}
