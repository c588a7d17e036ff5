package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
)

// KPIOptions of `bench kpi`.
type KPIOptions struct {
	Config    config.Config // the ClickHouse to use
	Attempts  int           // attempts to generate
	Days      int           // spread over this many days, ending yesterday
	Campaigns int
	Database  string // the scratch database; default <clickhouse.database>_bench_kpi
	Runs      int    // timed runs of each roll-up query
	RawRuns   int    // timed runs of each raw query (the baseline)
	Keep      bool   // keep the scratch database
	Reuse     bool   // reuse the scratch database's data when it is there
	JSON      bool
}

type kpiTiming struct {
	Family      kpi.Family `json:"family"`
	Question    string     `json:"question"`
	RollupP50MS float64    `json:"rollup_p50_ms"`
	RollupP95MS float64    `json:"rollup_p95_ms"`
	RawP50MS    float64    `json:"raw_p50_ms,omitempty"`
	RawP95MS    float64    `json:"raw_p95_ms,omitempty"`
	SpeedUp     float64    `json:"speed_up,omitempty"`
	// The debtors counted by walking kpi_debtors' arrays only (the path
	// before migration 14), on the same data.
	ArraysP50MS float64 `json:"arrays_p50_ms,omitempty"`
	ArraysP95MS float64 `json:"arrays_p95_ms,omitempty"`
}

type kpiResult struct {
	Attempts      int         `json:"attempts"`
	RawRows       uint64      `json:"raw_attempt_rows"`
	Promises      uint64      `json:"promises"`
	Payments      uint64      `json:"payments"`
	AgentStates   uint64      `json:"agent_states"`
	Days          int         `json:"days"`
	Campaigns     int         `json:"campaigns"`
	GenerateS     float64     `json:"generate_s"`
	BuildS        float64     `json:"rollup_build_s"`
	RollupRows    uint64      `json:"rollup_attempt_rows"`
	Timings       []kpiTiming `json:"timings"`
	SlowestP50MS  float64     `json:"slowest_rollup_p50_ms"`
	GoalP50MS     float64     `json:"goal_p50_ms"`
	Runs, RawRuns int
}

// KPI generates attempts, promises, payments, agents' time and replies in a
// scratch database (inside ClickHouse, from numbers(), so generating is
// cheap), builds the roll-ups, and times every KPI family's query on the
// roll-ups and, in the same run, on the raw tables.
func KPI(ctx context.Context, o KPIOptions, stdout, stderr io.Writer) error {
	ch := o.Config.ClickHouse
	// Generating and building run statements for minutes.
	conn, err := analytics.Open(ctx, analytics.ConnOptions{Addr: []string{ch.Addr}, Username: ch.Username, Password: ch.Password,
		ReadTimeout: time.Hour})
	if err != nil {
		return err
	}
	defer conn.Close()
	db := o.Database
	if db == "" {
		db = ch.Database + "_bench_kpi"
	}
	if !analytics.ValidIdent(db) || db == ch.Database {
		return fmt.Errorf("bench kpi: scratch database %q: letters, digits and _, not the configured database", db)
	}
	res := kpiResult{Attempts: o.Attempts, Days: o.Days, Campaigns: o.Campaigns, GoalP50MS: 500, Runs: o.Runs, RawRuns: o.RawRuns}
	end := time.Now().UTC().Truncate(24 * time.Hour)
	start := end.AddDate(0, 0, -o.Days)
	var have uint64
	if o.Reuse {
		_ = conn.QueryRow(ctx, "SELECT toUInt64(count()) FROM system.tables WHERE database = ? AND name = 'contact_attempts'", db).Scan(&have)
	}
	if have == 0 {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return fmt.Errorf("drop %s: %w", db, err)
		}
		if _, err := analytics.Migrate(ctx, conn, db); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "generating %d attempts over %d days and %d campaigns in %s...\n", o.Attempts, o.Days, o.Campaigns, db)
		t0 := time.Now()
		if err := generateKPIData(ctx, conn, db, o, start, stderr); err != nil {
			return err
		}
		res.GenerateS = time.Since(t0).Seconds()
		fmt.Fprintf(stderr, "generated in %.1f s\n", res.GenerateS)
	} else {
		// The roll-ups a newer migration adds are built from the raw rows.
		if _, err := analytics.Migrate(ctx, conn, db); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "reusing %s\n", db)
		var first time.Time
		if err := conn.QueryRow(ctx, "SELECT min(started_at) FROM "+db+".contact_attempts").Scan(&first); err != nil {
			return err
		}
		start = first.UTC().Truncate(24 * time.Hour)
		end = start.AddDate(0, 0, o.Days)
	}
	if !o.Keep {
		defer conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	}
	for _, c := range []struct {
		q string
		v *uint64
	}{{"SELECT count() FROM " + db + ".contact_attempts", &res.RawRows}, {"SELECT count() FROM " + db + ".promises", &res.Promises},
		{"SELECT count() FROM " + db + ".payments", &res.Payments}, {"SELECT count() FROM " + db + ".agent_states", &res.AgentStates}} {
		if err := conn.QueryRow(ctx, c.q).Scan(c.v); err != nil {
			return err
		}
	}
	ks, err := kpiPaths(conn, db)
	if err != nil {
		return err
	}
	if err := buildKPIRollups(ctx, conn, ks[0], db, &res, stderr); err != nil {
		return err
	}

	if err := timeKPIQuestions(ctx, ks, o, start, end, &res, stderr); err != nil {
		return err
	}
	printKPIBench(stdout, res)
	if o.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	return nil
}

// buildKPIRollups refreshes db's roll-ups and merges them, into res.
func buildKPIRollups(ctx context.Context, conn driver.Conn, k *kpi.KPI, db string, res *kpiResult, stderr io.Writer) error {
	fmt.Fprintf(stderr, "building the roll-ups...\n")
	t0 := time.Now()
	// Debtors by day are counted in the zones asked by day: the bench asks
	// in UTC.
	if _, err := k.Refresh(ctx, kpi.RefreshScope{Zones: []string{"UTC"}}); err != nil {
		return err
	}
	res.BuildS = time.Since(t0).Seconds()
	// Merged parts read faster; a live table is merged in the background.
	for _, t := range []string{"kpi_attempts", "kpi_agents", "kpi_debtors", "kpi_promises", "kpi_payments", "kpi_debtor_days",
		"kpi_debtor_sets", "kpi_dirty", "kpi_refreshed"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+"."+t+" FINAL"); err != nil {
			return fmt.Errorf("optimize %s: %w", t, err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".kpi_attempts FINAL").Scan(&res.RollupRows); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "built in %.1f s (%d roll-up rows for %d raw attempt rows)\n", res.BuildS, res.RollupRows, res.RawRows)
	return nil
}

// kpiPaths are the KPIs of db as served, and with debtors counted by
// walking kpi_debtors' arrays only.
func kpiPaths(conn driver.Conn, db string) ([2]*kpi.KPI, error) {
	var ks [2]*kpi.KPI
	for i, o := range []kpi.Options{{}, {DebtorArrays: true}} {
		o.Costs, o.Logger = benchCosts(), discard()
		k, err := kpi.New(conn, db, o)
		if err != nil {
			return ks, err
		}
		ks[i] = k
	}
	return ks, nil
}

// timeKPIQuestions times each family on each question, on the roll-ups
// and, for the first question, on the raw tables, into res; the debtors
// alone also on the arrays-only path (ks[1]).
func timeKPIQuestions(ctx context.Context, ks [2]*kpi.KPI, o KPIOptions, start, end time.Time, res *kpiResult, stderr io.Writer) error {
	k := ks[0]
	last := end.AddDate(0, 0, -1)
	all := fmt.Sprintf("all campaigns, %d days, ", o.Days)
	rng := "&from=" + start.Format(time.DateOnly) + "&to=" + last.Format(time.DateOnly)
	// The first question is also timed on the raw tables; the last ones
	// time the debtors alone, in the other groupings a report has (its
	// total is the grouping "").
	questions := []struct {
		name, query string
		only        kpi.Family
	}{
		{all + "by day", "by=day" + rng, ""},
		{all + "by campaign", "by=campaign" + rng, ""},
		{"one campaign, 7 days, by agent", "by=agent&campaign=bench-10&from=" + last.AddDate(0, 0, -6).Format(time.DateOnly) + "&to=" + last.Format(time.DateOnly), ""},
		{all + "total", rng[1:], kpi.FamilyDebtors},
		{all + "by hour", "by=hour" + rng, kpi.FamilyDebtors},
		{all + "by segment", "by=segment" + rng, kpi.FamilyDebtors},
		{all + "by channel", "by=channel" + rng, kpi.FamilyDebtors},
		{"all campaigns, 7 days, by day", "by=day&from=" + last.AddDate(0, 0, -6).Format(time.DateOnly) + "&to=" + last.Format(time.DateOnly), kpi.FamilyDebtors},
		{"all campaigns, 7 days, total", "from=" + last.AddDate(0, 0, -6).Format(time.DateOnly) + "&to=" + last.Format(time.DateOnly), kpi.FamilyDebtors},
	}
	for qi, q := range questions {
		v, _ := url.ParseQuery(q.query)
		f, by, err := kpi.ParseQuery(v, end)
		if err != nil {
			return err
		}
		fams := append(kpi.Families(), kpi.FamilyBestTime)
		for _, fam := range fams {
			if (fam == kpi.FamilyBestTime && qi > 0) || (q.only != "" && fam != q.only) || !k.Applies(f, by, fam) {
				continue
			}
			t := kpiTiming{Family: fam, Question: q.name}
			roll, err := timeRuns(ctx, o.Runs, func() (time.Duration, error) { return k.Measure(ctx, f, by, kpi.Rollup, fam) })
			if err != nil {
				return fmt.Errorf("%s (roll-up): %w", fam, err)
			}
			t.RollupP50MS, t.RollupP95MS = ms(percentile(roll, 0.5)), ms(percentile(roll, 0.95))
			if qi == 0 && o.RawRuns > 0 {
				raw, err := timeRuns(ctx, o.RawRuns, func() (time.Duration, error) { return k.Measure(ctx, f, by, kpi.Raw, fam) })
				if err != nil {
					return fmt.Errorf("%s (raw): %w", fam, err)
				}
				t.RawP50MS, t.RawP95MS = ms(percentile(raw, 0.5)), ms(percentile(raw, 0.95))
				t.SpeedUp = t.RawP50MS / max(t.RollupP50MS, 0.001)
			}
			if q.only == kpi.FamilyDebtors {
				arr, err := timeRuns(ctx, o.Runs, func() (time.Duration, error) { return ks[1].Measure(ctx, f, by, kpi.Rollup, fam) })
				if err != nil {
					return fmt.Errorf("%s (arrays): %w", fam, err)
				}
				t.ArraysP50MS, t.ArraysP95MS = ms(percentile(arr, 0.5)), ms(percentile(arr, 0.95))
			}
			res.SlowestP50MS = max(res.SlowestP50MS, t.RollupP50MS)
			res.Timings = append(res.Timings, t)
			fmt.Fprintf(stderr, "  %-10s %-40s roll-up p50 %7.1f ms  raw p50 %8.1f ms  arrays p50 %7.1f ms\n", fam, q.name,
				t.RollupP50MS, t.RawP50MS, t.ArraysP50MS)
		}
	}
	return nil
}

func timeRuns(ctx context.Context, n int, f func() (time.Duration, error)) ([]time.Duration, error) {
	var out []time.Duration
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := f()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printKPIBench(w io.Writer, r kpiResult) {
	fmt.Fprintf(w, "%d attempts (%d raw rows with versions and replays), %d promises, %d payments, %d agent intervals; %d days, %d campaigns\n",
		r.Attempts, r.RawRows, r.Promises, r.Payments, r.AgentStates, r.Days, r.Campaigns)
	fmt.Fprintf(w, "generated in %.1f s; roll-ups built in %.1f s (%d kpi_attempts rows)\n", r.GenerateS, r.BuildS, r.RollupRows)
	fmt.Fprintf(w, "p50/p95 over %d roll-up runs and %d raw runs each:\n", r.Runs, r.RawRuns)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "family\tquestion\troll-up p50 ms\tp95 ms\traw p50 ms\tp95 ms\tspeed-up\tarrays-only p50 ms\tp95 ms\t\n")
	for _, t := range r.Timings {
		raw, raw95, up, arr, arr95 := "", "", "", "", ""
		if t.RawP50MS > 0 {
			raw, raw95, up = fmt.Sprintf("%.1f", t.RawP50MS), fmt.Sprintf("%.1f", t.RawP95MS), fmt.Sprintf("%.1fx", t.SpeedUp)
		}
		if t.ArraysP50MS > 0 {
			arr, arr95 = fmt.Sprintf("%.1f", t.ArraysP50MS), fmt.Sprintf("%.1f", t.ArraysP95MS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", t.Family, t.Question, t.RollupP50MS, t.RollupP95MS, raw, raw95,
			up, arr, arr95)
	}
	tw.Flush()
	verdict := "met"
	if r.SlowestP50MS >= r.GoalP50MS {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "slowest roll-up p50: %.1f ms (goal < %.0f ms: %s)\n", r.SlowestP50MS, r.GoalP50MS, verdict)
}

func benchCosts() kpi.Costs {
	c := kpi.Costs{Currency: "USD", Trunks: map[string]kpi.TrunkCost{}}
	for i := range 3 {
		c.Trunks[fmt.Sprintf("t%d", i)] = kpi.TrunkCost{PerCall: dec("0.002"), PerMinute: dec("0.011")}
	}
	c.SMSPerSegment, c.WhatsAppPerMessage = dec("0.0079"), dec("0.005")
	return c
}

// generateKPIData fills db from numbers(): every value is a hash of the
// row number, so a run is reproducible. Campaigns bench-10..: the first
// half with agents (30 each, 8-hour shifts), the rest IVR; MX, CO and CL;
// four segments; 85% calls, 12% SMS, 3% WhatsApp. Half the texts are
// written twice (queued, then their outcome) and 1% of all rows are
// delivered again (a replayed batch).
func generateKPIData(ctx context.Context, conn driver.Conn, db string, o KPIOptions, start time.Time, stderr io.Writer) error {
	nc := o.Campaigns
	agentCampaigns := nc / 2
	base := start.Unix()
	// Per row n: campaign c, a debtor of 50,000 per campaign, a local hour
	// 8-19 on one of the days, a channel, an outcome.
	src := fmt.Sprintf(`SELECT n, c, h, acct, country, offs, local_h, started, ch, d, voice, agent_c FROM (
    SELECT number AS n, n %% %[1]d AS c, cityHash64(n, 11) AS h,
        concat('b', toString(c), '-', toString(cityHash64(n, 1) %% 50000)) AS acct,
        arrayElement(['MX', 'CO', 'CL'], c %% 3 + 1) AS country, arrayElement([-6, -5, -3], c %% 3 + 1) AS offs,
        8 + cityHash64(n, 3) %% 12 AS local_h,
        toDateTime(%[2]d + (cityHash64(n, 2) %% %[3]d) * 86400 + (local_h - offs) * 3600 + cityHash64(n, 4) %% 3600) AS started,
        multiIf(cityHash64(n, 5) %% 100 < 85, 'voice', cityHash64(n, 5) %% 100 < 97, 'sms', 'whatsapp') AS ch,
        cityHash64(n, 6) %% 100 AS d, ch = 'voice' AS voice, c < %[4]d AS agent_c
    FROM numbers(%[5]d))`, nc, base, o.Days, agentCampaigns, o.Attempts)
	disp := `multiIf(voice, multiIf(d < 25, 'answered', d < 35, 'machine', d < 37, 'abandoned', d < 77, 'no_answer', d < 87, 'busy',
        d < 90, 'rejected', d < 92, 'network_error', d < 94, 'invalid_number', d < 97, 'blocked', 'answered'),
    multiIf(d < 70, 'delivered', d < 80, 'read', d < 90, 'undelivered', d < 95, 'failed', 'blocked'))`
	cols := `attempt_id, campaign_id, account_id, phone, channel, node_id, trunk, attempt_no, started_at, answered_at, ended_at, ring_ms,
    talk_ms, sip_code, disposition, amd, agent_id, abandoned, currency, message_sid, message_status, country, local_hour, local_weekday,
    ver, segments, template, wrap_ms, agent_code, right_party, segment`
	row := func(status, ver string) string {
		return `SELECT concat('b', toString(n)) AS attempt_id, concat('bench-', toString(10 + c)) AS campaign_id, acct AS account_id,
    concat('+52', toString(5500000000 + cityHash64(n, 1) % 50000)) AS phone,
    CAST(ch AS Enum8('voice' = 1, 'sms' = 2, 'whatsapp' = 3)) AS channel, 'bench' AS node_id,
    if(voice, concat('t', toString(c % 3)), '+15550001') AS trunk, toUInt16(1 + h % 6) AS attempt_no, started AS started_at,
    if(disposition IN ('answered', 'machine', 'abandoned'), started + 5, toDateTime(0)) AS answered_at, started + 60 AS ended_at,
    toUInt32(if(voice, 3000 + h % 20000, 0)) AS ring_ms,
    toUInt32(if(disposition = 'answered', if(agent_c, 30000 + cityHash64(n, 8) % 270000, 20000 + cityHash64(n, 8) % 60000), 0)) AS talk_ms,
    toUInt16(if(voice, 200, 0)) AS sip_code, ` + status + ` AS disposition,
    multiIf(disposition = 'machine', 'machine', disposition IN ('answered', 'abandoned'), if(d >= 97, 'notsure', 'human'), '') AS amd,
    if(agent_c AND disposition = 'answered', concat('ag', toString(c), '-', toString(cityHash64(n, 7) % 30)), '') AS agent_id,
    toUInt8(disposition = 'abandoned') AS abandoned, arrayElement(['MXN', 'COP', 'CLP'], c % 3 + 1) AS currency,
    if(NOT voice AND disposition != 'blocked', concat('SM', toString(n)), '') AS message_sid,
    if(voice, '', disposition) AS message_status, country, toUInt8(local_h) AS local_hour,
    toUInt8(toDayOfWeek(toDate(started + offs * 3600))) AS local_weekday, toUInt64(` + ver + `) AS ver,
    toUInt8(if(voice, 0, 1 + h % 2)) AS segments, if(voice, '', 'missed-call') AS template,
    toUInt32(if(agent_c AND disposition = 'answered', 5000 + cityHash64(n, 9) % 55000, 0)) AS wrap_ms,
    if(agent_c AND disposition = 'answered', if(cityHash64(n, 10) % 100 < 60, 'promise', 'callback'), '') AS agent_code,
    toUInt8(disposition = 'answered' AND cityHash64(n, 10) % 100 < 60) AS right_party,
    arrayElement(['early', 'mid', 'late', 'legal'], cityHash64(n, 12) % 4 + 1) AS segment
FROM (` + src + `)`
	}
	steps := []struct{ what, q string }{
		{"attempts", `INSERT INTO ` + db + `.contact_attempts (` + cols + `) ` + row(disp, "2")},
		{"texts' first versions", `INSERT INTO ` + db + `.contact_attempts (` + cols + `) SELECT * FROM (` + row("'queued'", "1") +
			`) WHERE channel != 'voice' AND cityHash64(attempt_id, 13) % 2 = 0`},
		{"a replayed 1%", `INSERT INTO ` + db + `.contact_attempts (` + cols + `) SELECT * FROM (` + row(disp, "2") +
			`) WHERE cityHash64(attempt_id, 14) % 100 = 0`},
		// 40% of right-party contacts promise; due in 1-14 days.
		{"promises", `INSERT INTO ` + db + `.promises (promise_id, campaign_id, account_id, attempt_id, channel, created_at, due_date, amount,
    currency, status, node_id, ver, grace_days, keep_percent, country, segment, agent_id)
SELECT concat('p', attempt_id), campaign_id, account_id, attempt_id, CAST(if(agent_id = '', 'ivr', 'agent') AS Enum8('ivr' = 1, 'agent' = 2, 'sms' = 3)),
    ended_at, addDays(toDate(started_at), 1 + cityHash64(attempt_id, 20) % 14), toDecimal64(50 + cityHash64(attempt_id, 21) % 5000, 2),
    currency, 'open', 'bench', toUInt64(1), toUInt8(0), toUInt8(0), country, segment, agent_id
FROM ` + db + `.contact_attempts FINAL WHERE right_party = 1 AND cityHash64(attempt_id, 22) % 100 < 40`},
		// 65% of promises see a payment: in full (70%), half (20%) or
		// double (10%), from the day after to four days past the due date.
		{"payments", `INSERT INTO ` + db + `.payments (payment_id, campaign_id, account_id, promise_id, paid_at, amount, currency, method, reference, ver)
SELECT concat('y', promise_id), campaign_id, account_id, '',
    created_at + 86400 * (1 + cityHash64(promise_id, 30) % (toUInt32(due_date) - toUInt32(toDate(created_at)) + 4)),
    multiIf(cityHash64(promise_id, 31) % 10 < 7, amount, cityHash64(promise_id, 31) % 10 < 9, amount / 2, amount * 2), currency,
    'link', '', toUInt64(1)
FROM ` + db + `.promises WHERE cityHash64(promise_id, 32) % 100 < 65`},
		{"agents' time", fmt.Sprintf(`INSERT INTO %[1]s.agent_states (interval_id, agent_id, campaign_id, node_id, state, reason, started_at, ended_at, ver)
SELECT concat('s', toString(number)), concat('ag', toString(c), '-', toString(ag)), concat('bench-', toString(10 + c)), 'bench', st, '',
    toDateTime(hs + arrayElement([0, 1200, 2700, 3300], k + 1)), toDateTime(hs + arrayElement([1200, 2700, 3300, 3600], k + 1)), toUInt64(1)
FROM (
    SELECT number, number %% 4 AS k, intDiv(number, 4) %% 8 AS hr, intDiv(number, 32) %% 30 AS ag, intDiv(number, 960) %% %[2]d AS c,
        intDiv(number, 960 * %[2]d) AS dd, arrayElement(['ready', 'talking', 'wrap_up', 'ready'], k + 1) AS st,
        %[3]d + dd * 86400 + (9 + hr + 5) * 3600 AS hs
    FROM numbers(%[4]d)
)`, db, agentCampaigns, base, o.Days*960*agentCampaigns)},
		{"replies", `INSERT INTO ` + db + `.messages (message_sid, direction, campaign_id, account_id, phone, channel, body, action, at, node_id, ver)
SELECT concat('MM', attempt_id), 'inbound', campaign_id, account_id, phone, channel, 'x',
    if(cityHash64(attempt_id, 40) % 10 < 3, 'optout', 'conversation'), started_at + 600, 'bench', toUInt64(1)
FROM ` + db + `.contact_attempts WHERE channel != 'voice' AND disposition IN ('delivered', 'read') AND cityHash64(attempt_id, 41) % 100 < 4`},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := conn.Exec(ctx, s.q); err != nil {
			return fmt.Errorf("generate %s: %w", s.what, err)
		}
		fmt.Fprintf(stderr, "  %s: %.1f s\n", s.what, time.Since(t0).Seconds())
	}
	return nil
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
