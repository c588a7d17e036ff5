package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/queue"
)

// The agents' part of the demo: simulated collection agents (sipgo phones
// that REGISTER with digest and auto-answer their nailed-up legs) work a
// progressive campaign against the carrier simulator through the HTTP API,
// and one takes a debtor the IVR transfers to an agent.

const (
	agentCampaignID    = "demo-agents"
	transferCampaignID = "demo-transfer"
	// transferNumber is the debtor who asks the IVR for an advisor
	// (demoDebtor; last digit 3: a person answers).
	transferNumber = "+525599990003"
	agentPassword  = "demo-agent-pass-01"
	// agentCalls is about how many debtors the agents' campaign tries.
	agentCalls = 16
)

// demoAgent is one simulated agent.
type demoAgent struct {
	id, name, campaign string
	phone              *agenttest.Phone
}

func agentCampaigns() []queue.Campaign {
	overdue := demoCampaigns()[1]
	return []queue.Campaign{
		{ID: agentCampaignID, Name: "Cobranza con agentes", Mode: queue.ModePredictive, Country: "MX", TimeZone: "America/Mexico_City",
			Profile: queue.ProfileAuto, Trunk: "sim", CallerID: "+525550000300", CallbackNumber: "+525550000300", Company: "Financiera Sol",
			PayURL: overdue.PayURL, LinesPerAgent: 1.5, TargetAbandon: 0.03, MaxLinesPerAgent: 2.5, WrapUp: queue.Duration(5 * time.Second), RingTimeout: queue.Duration(queue.MinRingTimeout),
			Promise: overdue.Promise, Retry: queue.RetryPolicy{MaxAttempts: 3},
			// Answering machines never reach an agent: each gets the
			// limited-content voicemail after its beep.
			AMD: &queue.AMD{Mode: queue.AMDOn, OnMachine: queue.OnMachineVoicemail}},
		{ID: transferCampaignID, Name: "Recordatorio con asesor", Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City",
			Profile: queue.ProfileAuto, Trunk: "sim", CallerID: "+525550000200", Script: "reminder-overdue", MaxConcurrent: 1,
			CallbackNumber: "+525550000200", Company: "Financiera Sol", PayURL: overdue.PayURL, Promise: overdue.Promise,
			Retry: queue.RetryPolicy{MaxAttempts: 1}},
	}
}

// agentDebtors are the agents' campaign's accounts: most numbers reach a
// person (last digit 0-3), some an answering machine (4), are busy (6) or
// ring out (7).
func agentDebtors() []map[string]any {
	digits := []int{0, 1, 2, 4, 3, 6, 0, 1, 7, 4}
	var out []map[string]any
	for i := range agentCalls {
		out = append(out, map[string]any{"account_id": fmt.Sprintf("AG-%03d", i+1), "name": fmt.Sprintf("Deudor de agentes %d", i+1),
			"phone": fmt.Sprintf("+52558%06d%d", 700000+i, digits[i%len(digits)]), "balance": fmt.Sprintf("%d.00", 2000+i*450),
			"currency": "MXN", "due_date": time.Now().AddDate(0, 0, -20-i).Format(time.DateOnly), "days_past_due": 20 + i,
			"national_id": fmt.Sprintf("AGDEMO%04d", i+1), "producto": "tarjeta"})
	}
	return out
}

// agentsRun is step 7: agents log in, a progressive campaign dials for
// them, a debtor in an IVR call asks for an advisor and reaches one.
func (r *run) agentsRun(ctx context.Context) error {
	r.p("\n7. Agents: a predictive campaign with answering-machine detection dials for ready agents; an IVR caller asks for an advisor\n")
	r.agentsStart = time.Now()
	for _, c := range agentCampaigns() {
		if err := r.app.Store.DeleteCampaign(ctx, c.ID); err != nil {
			return err
		}
		// The loop's dial counts are kept with the campaign's id: this
		// run's start from zero.
		if err := r.app.Store.Client().Del(ctx, campaign.PacingKey(c.ID)).Err(); err != nil {
			return fmt.Errorf("reset the pacing counts of %s: %w", c.ID, err)
		}
		b, _ := json.Marshal(c)
		var saved queue.Campaign
		if err := r.api.do(ctx, "POST", "/campaigns", "application/json", b, &saved, http.StatusCreated, http.StatusOK); err != nil {
			return fmt.Errorf("create campaign %s: %w", c.ID, err)
		}
		r.p("   POST /campaigns %-14s mode=%-11s", saved.ID, saved.Mode)
		if saved.HasAgents() {
			r.p(" target_abandon=%g max_lines_per_agent=%g abandon_after=%s wrap_up=%s", saved.AbandonTarget(), saved.MaxLinesPerAgent,
				time.Duration(saved.AbandonAfter), time.Duration(saved.WrapUp))
		}
		r.p("\n")
	}
	balances := map[string]decimal.Decimal{}
	for _, d := range agentDebtors() {
		balances[d["account_id"].(string)] = decimal.RequireFromString(d["balance"].(string))
	}
	if err := r.uploadJSON(ctx, agentCampaignID, agentDebtors()); err != nil {
		return err
	}
	transfer := []map[string]any{{"account_id": "AG-IVR-1", "name": "Deudora que pide asesor", "phone": transferNumber,
		"balance": "6400.00", "currency": "MXN", "due_date": time.Now().AddDate(0, 0, -45).Format(time.DateOnly), "days_past_due": 45,
		"national_id": "AGDEMOIVR1", "birth_date": "1979-05-17"}}
	r.proofs.Store(transferNumber, "17051979") // she proves who she is at the reminder's right-party check
	balances["AG-IVR-1"] = decimal.RequireFromString("6400.00")
	if err := r.uploadJSON(ctx, transferCampaignID, transfer); err != nil {
		return err
	}
	agents, err := r.loginAgents(ctx)
	defer func() {
		for _, a := range agents {
			var st httpapi.StatusView
			r.api.do(context.WithoutCancel(ctx), "POST", "/agents/"+a.id+"/logout", "", nil, &st)
			a.phone.Close()
		}
	}()
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(func() { r.work(wctx, a, balances) })
	}
	err = r.dialForAgents(ctx)
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	return r.agentsSummary(ctx)
}

// uploadJSON loads accounts into a campaign through the API.
func (r *run) uploadJSON(ctx context.Context, campaign string, rows []map[string]any) error {
	b, _ := json.Marshal(rows)
	var res struct {
		Loaded struct{ Inserted, Updated int }
	}
	if err := r.api.do(ctx, "POST", "/campaigns/"+campaign+"/contacts", "application/json", b, &res); err != nil {
		return fmt.Errorf("upload to %s: %w", campaign, err)
	}
	r.p("   POST /campaigns/%s/contacts: %d accounts\n", campaign, res.Loaded.Inserted+res.Loaded.Updated)
	return nil
}

// loginAgents defines the agents, starts their phones (which REGISTER
// with digest) and logs them in: the node calls each phone, which answers
// by itself, and keeps that leg up.
func (r *run) loginAgents(ctx context.Context) ([]*demoAgent, error) {
	defs := []*demoAgent{{id: "ana", name: "Ana Torres", campaign: agentCampaignID}, {id: "beto", name: "Alberto Ruiz", campaign: agentCampaignID},
		{id: "carla", name: "Carla Méndez", campaign: transferCampaignID}}
	var out []*demoAgent
	for _, a := range defs {
		var st httpapi.StatusView
		r.api.do(ctx, "POST", "/agents/"+a.id+"/logout", "", nil, &st, http.StatusOK, http.StatusNotFound, http.StatusConflict) // a run cut short
		body, _ := json.Marshal(map[string]any{"id": a.id, "name": a.name, "sip_user": "demo-" + a.id, "password": agentPassword,
			"campaigns": []string{agentCampaignID, transferCampaignID}, "language": "es"})
		var def map[string]any
		if err := r.api.do(ctx, "POST", "/agents", "application/json", body, &def, http.StatusCreated, http.StatusOK); err != nil {
			return out, err
		}
		ph, err := agenttest.Start(agenttest.Options{User: "demo-" + a.id, Password: agentPassword, Registrar: r.app.Endpoint.Addr(),
			Logger: r.opt.Logger})
		if err != nil {
			return out, err
		}
		a.phone = ph
		out = append(out, a)
		if err := ph.Register(ctx); err != nil {
			return out, fmt.Errorf("agent %s: register: %w", a.id, err)
		}
		in, _ := json.Marshal(map[string]string{"campaign": a.campaign})
		t := time.Now()
		if err := r.api.do(ctx, "POST", "/agents/"+a.id+"/login", "application/json", in, &st); err != nil {
			return out, err
		}
		r.p("   agent %-5s phone registered (digest), POST /agents/%s/login → %s in %s after its phone took the nailed-up call (%s)\n",
			a.id, a.id, st.State, st.Campaign, time.Since(t).Round(time.Millisecond))
	}
	return out, nil
}

// dialForAgents runs both campaigns until the agents' one has tried its
// debtors and the IVR caller has been handled, then pauses them and waits
// for the calls in progress.
func (r *run) dialForAgents(ctx context.Context) error {
	r.p("   POST /campaigns/%s/start and /campaigns/%s/start; each agent takes its calls, talks 2-5 s and posts a disposition\n",
		agentCampaignID, transferCampaignID)
	for _, id := range []string{agentCampaignID, transferCampaignID} {
		if err := r.app.Runner.Start(ctx, id); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(100 * time.Second)
	for time.Now().Before(deadline) {
		c, err := r.app.Store.Counts(ctx, agentCampaignID, time.Now())
		if err != nil {
			return err
		}
		t, err := r.app.Store.Counts(ctx, transferCampaignID, time.Now())
		if err != nil {
			return err
		}
		if c.DueNow == 0 && c.Leased == 0 && t.DueNow == 0 && t.Leased == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, id := range []string{agentCampaignID, transferCampaignID} {
		if err := r.app.Runner.Pause(ctx, id); err != nil {
			return err
		}
	}
	r.app.Runner.Wait()
	r.p("   done in %s\n", time.Since(r.agentsStart).Round(time.Second))
	return r.flush(ctx, "the agents' attempts")
}

// work is one agent at its desk, through the API: when a call comes it
// talks for a while, records what the debtor said and hangs up.
func (r *run) work(ctx context.Context, a *demoAgent, balances map[string]decimal.Decimal) {
	done := map[string]bool{}
	for ctx.Err() == nil {
		var st httpapi.StatusView
		if err := r.api.do(ctx, "GET", "/agents/"+a.id, "", nil, &st); err == nil && st.State == "talking" && st.Call != "" && !done[st.Call] {
			done[st.Call] = true
			r.handle(ctx, a, st.Call, balances)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// handle is one call at an agent's desk: a sampled talk, then the
// disposition (most promise, some ask to be called back, some refuse) and
// the hang-up.
func (r *run) handle(ctx context.Context, a *demoAgent, call string, balances map[string]decimal.Decimal) {
	h := fnv.New32a()
	h.Write([]byte(call))
	n := h.Sum32()
	talk := 2*time.Second + time.Duration(n%3000)*time.Millisecond
	select {
	case <-ctx.Done():
		return
	case <-time.After(talk):
	}
	var info struct {
		Account string `json:"account"`
	}
	if err := r.api.do(ctx, "GET", "/calls/"+call, "", nil, &info); err != nil {
		return
	}
	mx := time.Now().In(mustZone("America/Mexico_City"))
	var d map[string]any
	switch n % 5 {
	case 0, 1, 2:
		amount := balances[info.Account].Mul(decimal.RequireFromString("0.3")).Round(0)
		d = map[string]any{"code": "promise", "amount": amount.StringFixed(2), "date": mx.AddDate(0, 0, 7).Format(time.DateOnly)}
	case 3:
		d = map[string]any{"code": "callback", "callback_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}
	default:
		d = map[string]any{"code": "refused"}
	}
	b, _ := json.Marshal(d)
	var ans map[string]any
	if err := r.api.do(ctx, "POST", "/calls/"+call+"/disposition", "application/json", b, &ans); err != nil {
		r.opt.Logger.Warn("demo: disposition not taken", "agent", a.id, "call", call, "err", err)
	}
	r.api.do(ctx, "POST", "/calls/"+call+"/hangup", "", nil, &ans, http.StatusOK, http.StatusConflict, http.StatusNotFound)
	via := ""
	if a.campaign == transferCampaignID {
		via = " (the debtor asked the IVR for an advisor)"
	}
	r.p("   agent %-5s call with %-9s %s talk, disposition %s%s\n", a.id, info.Account, talk.Round(100*time.Millisecond), d["code"], via)
}

// agentsSummary reads the agents' work back from ClickHouse: this run's
// attempt rows by agent (calls, talk time, promises, abandons: an
// abandoned call has no agent), beside the KPI code's report by agent for
// the day (connects and handle time over every run today: the KPIs are
// kept by day).
func (r *run) agentsSummary(ctx context.Context) error {
	now := time.Now().UTC()
	from := r.agentsStart.Add(-time.Second)
	q := url.Values{"from": {from.Format(time.DateOnly)}, "to": {now.Format(time.DateOnly)}, "by": {string(kpi.ByAgent)},
		"campaign": {agentCampaignID, transferCampaignID}}
	f, by, err := kpi.ParseQuery(q, now)
	if err != nil {
		return err
	}
	rep, err := r.app.KPI.Report(ctx, f, by, kpi.Rollup)
	if err != nil {
		return err
	}
	kpis := map[string]kpi.Row{}
	for _, row := range rep.Rows {
		kpis[row.Key] = row
	}
	rows, err := r.app.Conn.Query(ctx, "SELECT agent_id, count(), countIf(disposition = 'answered'), sumIf(talk_ms, agent_id != ''), countIf(agent_code = 'promise'), "+
		"toString(sum(promise_amount)), countIf(abandoned = 1) FROM "+r.opt.Config.ClickHouse.Database+".contact_attempts FINAL "+
		"WHERE campaign_id IN (?, ?) AND channel = 'voice' AND started_at >= ? GROUP BY agent_id ORDER BY agent_id = '', agent_id",
		agentCampaignID, transferCampaignID, from)
	if err != nil {
		return err
	}
	defer rows.Close()
	r.p("\n   read back from ClickHouse: this run's attempt rows by agent; connects and handle time today from the KPI code\n"+
		"   (marcador report -by agent -campaign %s,%s):\n", agentCampaignID, transferCampaignID)
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "   agent\tcalls\tanswered\ttalk s\tpromises\tpromised MXN\tabandoned\tKPI connects today\tKPI AHT s\t\n")
	for rows.Next() {
		var id, amount string
		var calls, answered, talkMS, promises, abandoned uint64
		if err := rows.Scan(&id, &calls, &answered, &talkMS, &promises, &amount, &abandoned); err != nil {
			return err
		}
		promised, _ := decimal.NewFromString(amount)
		k, name := kpis[id], id
		if id == "" {
			name = "(no agent)" // unanswered, busy, abandoned
		}
		aht := "-"
		if k.AHTSeconds != nil {
			aht = fmt.Sprintf("%.1f", *k.AHTSeconds)
		}
		fmt.Fprintf(tw, "   %s\t%d\t%d\t%.1f\t%d\t%s\t%d\t%d\t%s\t\n", name, calls, answered, float64(talkMS)/1000, promises,
			promised.StringFixed(2), abandoned, k.Connects, aht)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := r.pacingSummary(ctx, rep.Total); err != nil {
		return err
	}
	return r.amdSummary(ctx)
}

// pacingSummary is the predictive campaign's pacing: the calls placed and
// those placed ahead of the ready agents (the loop's counts in Redis), the
// abandon rate against its limit and the agents' occupancy (the KPI code,
// from ClickHouse's attempt and agent_states rows). A run this short stays mostly in the pacer's
// progressive start: it dials ahead once it has learned enough outcomes.
func (r *run) pacingSummary(ctx context.Context, k kpi.Row) error {
	c, err := r.app.Store.Campaign(ctx, agentCampaignID)
	if err != nil {
		return err
	}
	counts, err := r.app.Store.Client().HGetAll(ctx, campaign.PacingKey(agentCampaignID)).Result()
	if err != nil {
		return fmt.Errorf("pacing counts of %s: %w", agentCampaignID, err)
	}
	pct := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", *v*100)
	}
	r.p("   pacing (%s; progressive until it has learned %d outcomes): %s calls placed this run, %s of them ahead of the ready agents\n"+
		"   KPI today: abandon rate %s of %d live answers (limit %.0f%%), agents' occupancy %s\n", c.Mode, pacing.DefaultWarmUp,
		orZero(counts["dials"]), orZero(counts["dials_ahead"]), pct(k.AbandonRate), k.LiveAnswers, c.AbandonTarget()*100, pct(k.Occupancy))
	return nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}
