package kpi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/kpi/kpitest"
)

// setup loads the fixture (and the promise cases) into a fresh database,
// with its replayed batches.
func setup(t *testing.T, opt kpi.Options) (*kpi.KPI, func(rows ...analytics.Row)) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	kpitest.Load(t, conn, db)
	opt.Now = func() time.Time { return kpitest.Now }
	k, err := kpi.New(conn, db, opt)
	if err != nil {
		t.Fatal(err)
	}
	return k, func(rows ...analytics.Row) { kpitest.Insert(t, conn, db, rows...) }
}

func report(t *testing.T, k *kpi.KPI, src kpi.Source, q string) *kpi.Report {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	f, by, err := kpi.ParseQuery(v, kpitest.Now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := k.Report(context.Background(), f, by, src)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// check compares the fields of row named in want (by their JSON names).
// Numbers are compared exactly; money maps as decimals; nil is null.
func check(t *testing.T, label string, row kpi.Row, want map[string]any) {
	t.Helper()
	b, _ := json.Marshal(row)
	var got map[string]any
	json.Unmarshal(b, &got)
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: no field %s", label, name)
			continue
		}
		switch w := w.(type) {
		case map[string]string:
			gm, _ := g.(map[string]any)
			if len(gm) != len(w) {
				t.Errorf("%s: %s = %v, want %v", label, name, g, w)
				continue
			}
			for cur, amount := range w {
				s, _ := gm[cur].(string)
				if d, err := decimal.NewFromString(s); err != nil || !d.Equal(decimal.RequireFromString(amount)) {
					t.Errorf("%s: %s[%s] = %v, want %s", label, name, cur, gm[cur], amount)
				}
			}
		case int:
			if g != float64(w) {
				t.Errorf("%s: %s = %v, want %d", label, name, g, w)
			}
		default:
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s: %s = %v, want %v", label, name, g, w)
			}
		}
	}
}

func byKey(r *kpi.Report) map[string]kpi.Row {
	m := map[string]kpi.Row{}
	for _, row := range r.Rows {
		m[row.Key] = row
	}
	return m
}

// The hand-computed KPIs of the fixture, from the roll-ups and from the
// raw tables alike.
func TestFixtureKPIs(t *testing.T) {
	k, _ := setup(t, kpi.Options{Costs: kpitest.Costs})
	for _, src := range []kpi.Source{kpi.Rollup, kpi.Raw} {
		t.Run(src.String(), func(t *testing.T) {
			r := report(t, k, src, "from=2026-03-01&to=2026-03-14&by=campaign")
			rows := byKey(r)
			if len(r.Rows) != 3 {
				t.Fatalf("rows %v", r.Rows)
			}
			// c1: attempts a01-a07, a10, a11, a12 (not the blocked a08, the
			// failed identification a09, the unverified caller a16; the
			// replayed batch and the SMS's four versions once each).
			// Debtors A1-A6. Contacts a01, a05, a06, a07 (A1, A5, A6);
			// right party a01, a06, a07 (A1, A6). Live answers a01, a04,
			// a05, a06; abandoned a04. Connects a05 (150 s), a06 (210 s).
			// Texts sent a10, a11, a12; delivered a10 (read), a12.
			// Promises pr-a06 (kept by y-a1) and pr-usd (kept by y-a6).
			// Recovered: y-a1 after a06 (voice), y-a6 after a07 (voice),
			// y-a2 six days after a10 (sms); y-a3 had no touch.
			// Agents: ag1 13:00-15:00, ag2 14:00-16:00: 4 agent-hours;
			// talking 120 + 200 s, wrap-up 30 + 10 s.
			// Costs: t1 6 calls (a01-a06) x 0.01 + (61 + 120 + 200) s x
			// 0.02/60 = 0.187; SMS 3 segments x 0.0075; WhatsApp 0.005.
			check(t, "c1", rows["c1"], map[string]any{
				"attempts": 10, "debtors": 6, "contacts": 4, "debtors_reached": 3, "rpc": 3, "debtors_rpc": 2,
				"contact_rate": 0.4, "debtor_contact_rate": 0.5, "rpc_rate": 0.3, "debtor_rpc_rate": 0.3333,
				"promises": 2, "promise_rate": 0.6667, "promised": map[string]string{"MXN": "500", "USD": "20"},
				"kept": 2, "broken": 0, "pending": 0, "kept_rate": 1.0, "kept_amount": map[string]string{"MXN": "500", "USD": "20"},
				"recovered_payments": 3, "recovered": map[string]string{"MXN": "530", "USD": "20"},
				"live_answers": 4, "abandoned": 1, "abandon_rate": 0.25, "abandon_rate_30d": 0.25, "machines": 1,
				"agent_hours": 4.0, "occupancy": 0.025, "talk_minutes_per_agent_hour": 1.33, "connects": 2,
				"connects_per_agent_hour": 0.5, "aht_seconds": 180.0,
				"texts_sent": 3, "texts_delivered": 2, "delivery_rate": 0.6667, "replies": 2, "opt_outs": 1, "reply_rate": 1.0,
				"opt_out_rate": 0.5,
				"cost":         map[string]string{"USD": "0.2145"}, "cost_per_contact": map[string]string{"USD": "0.0536"},
				"cost_per_promise": map[string]string{"USD": "0.1073"},
			})
			// c2: a14, a15 (A7), a17 (A8); contacts and right party a14,
			// a17. pr-a14 broken (y-a7 came after its deadline), pr-a17
			// pending. y-a7 is 8 days 18 h after a14: not recovered in 7.
			// Costs: 3 calls x 0.02 + 75 s x 0.01/60.
			check(t, "c2", rows["c2"], map[string]any{
				"attempts": 3, "debtors": 2, "contacts": 2, "rpc": 2, "contact_rate": 0.6667, "promises": 2, "promise_rate": 1.0,
				"kept": 0, "broken": 1, "pending": 1, "kept_rate": 0.0, "promised": map[string]string{"COP": "250000"},
				"kept_amount": map[string]string{"COP": "0"}, "kept_amount_rate": map[string]any{"COP": 0.0},
				"recovered_payments": 0, "live_answers": 2, "abandon_rate": 0.0, "agent_hours": 0.0, "occupancy": nil,
				"aht_seconds": nil, "texts_sent": 0, "delivery_rate": nil, "replies": 0, "reply_rate": nil,
				"cost": map[string]string{"USD": "0.0725"}, "cost_per_contact": map[string]string{"USD": "0.0363"},
			})
			// The promise cases (testdata/promises.json) made in the range
			// (the two pending ones are made on the 15th; the cancelled one
			// counts nowhere): 19 promises, 12 kept, 7 broken; MXN 1700
			// promised, 1100 kept, 1180 paid on time; USD 20 promised, 10
			// paid, broken.
			check(t, "promises", rows["promises"], map[string]any{
				"attempts": 0, "promises": 19, "promise_rate": nil, "kept": 12, "broken": 7, "pending": 0, "kept_rate": 0.6316,
				"promised": map[string]string{"MXN": "1700", "USD": "20"}, "kept_amount": map[string]string{"MXN": "1100", "USD": "0"},
				"kept_amount_rate": map[string]any{"MXN": 0.6471, "USD": 0.0}, "paid_on_time": map[string]string{"MXN": "1180", "USD": "10"},
				"cost_per_promise": map[string]string{"USD": "0"},
			})
			check(t, "total", r.Total, map[string]any{
				"key": "total", "attempts": 13, "debtors": 8, "contacts": 6, "debtors_reached": 5, "rpc": 5, "debtors_rpc": 4,
				"promises": 23, "kept": 14, "broken": 8, "pending": 1, "live_answers": 6, "abandoned": 1, "abandon_rate": 0.1667,
				"abandon_rate_30d": 0.1667, "recovered": map[string]string{"MXN": "530", "USD": "20"}, "agent_hours": 4.0,
				"replies": 2, "cost": map[string]string{"USD": "0.287"}, "cost_per_contact": map[string]string{"USD": "0.0478"},
				"cost_per_promise": map[string]string{"USD": "0.0125"},
			})
		})
	}
}

// Rows by day follow the chosen zone: a17, at 03:30 UTC on the 10th, is
// on the 9th in Bogota.
func TestFixtureByDayInAZone(t *testing.T) {
	k, _ := setup(t, kpi.Options{})
	utc := byKey(report(t, k, kpi.Rollup, "from=2026-03-01&to=2026-03-14&by=day"))
	bog := byKey(report(t, k, kpi.Rollup, "from=2026-03-01&to=2026-03-14&by=day&tz=America/Bogota"))
	check(t, "UTC 03-02", utc["2026-03-02"], map[string]any{"attempts": 10, "contacts": 4})
	check(t, "UTC 03-10", utc["2026-03-10"], map[string]any{"attempts": 1, "promises": 1})
	// a17 and pr-a17 moved from the 10th, reneg-b (05:00 in Bogota) stays.
	check(t, "Bogota 03-09", bog["2026-03-09"], map[string]any{"attempts": 1, "contacts": 1, "promises": 2})
	if _, ok := bog["2026-03-10"]; ok {
		t.Errorf("Bogota has a row for the 10th: %+v", bog["2026-03-10"])
	}
	// India is five and a half hours ahead: the raw rows are read in
	// quarters of an hour, and agents' time too.
	ist := report(t, k, kpi.Rollup, "from=2026-03-02&to=2026-03-02&by=hour&tz=Asia/Kolkata")
	if ist.Total.AgentHours == nil || *ist.Total.AgentHours != 4 || ist.Total.Attempts != 10 {
		t.Errorf("Kolkata, 2 March: %+v", ist.Total)
	}
}

// Agents: by agent and by hour, the overlapping shifts counted per agent
// and split at the hour.
func TestFixtureAgents(t *testing.T) {
	k, _ := setup(t, kpi.Options{})
	ag := byKey(report(t, k, kpi.Rollup, "from=2026-03-02&to=2026-03-02&by=agent&campaign=c1"))
	check(t, "ag1", ag["ag1"], map[string]any{"agent_hours": 2.0, "occupancy": 0.0208, "talk_minutes_per_agent_hour": 1.0,
		"connects": 1, "connects_per_agent_hour": 0.5, "aht_seconds": 150.0, "promises": 0})
	check(t, "ag2", ag["ag2"], map[string]any{"agent_hours": 2.0, "occupancy": 0.0292, "talk_minutes_per_agent_hour": 1.67,
		"connects": 1, "aht_seconds": 210.0, "promises": 1})
	// By agent: the agents' rows (the total counts the rest); replies have
	// no agent (null).
	if _, ok := ag[""]; ok || len(ag) != 2 || ag["ag1"].Replies != nil {
		t.Errorf("by agent: %+v", ag)
	}
	hr := byKey(report(t, k, kpi.Rollup, "from=2026-03-02&to=2026-03-02&by=hour&campaign=c1"))
	// ag1 13:00-14:00; ag1 and ag2 14:00-15:00; ag2 15:00-16:00.
	for h, secs := range map[string]float64{"13": 1, "14": 2, "15": 1} {
		if got := hr[h].AgentHours; got == nil || *got != secs {
			t.Errorf("hour %s: %v agent-hours, want %v", h, got, secs)
		}
	}
	// Agents' time has no segment: null when filtered by one.
	seg := report(t, k, kpi.Rollup, "from=2026-03-02&to=2026-03-02&segment=early")
	check(t, "segment early", seg.Total, map[string]any{"attempts": 5, "agent_hours": nil, "replies": nil})
}

// Recovery by channel, and with a longer attribution window.
func TestFixtureRecovery(t *testing.T) {
	k, _ := setup(t, kpi.Options{})
	ch := byKey(report(t, k, kpi.Rollup, "from=2026-03-01&to=2026-03-14&by=channel"))
	check(t, "voice", ch["voice"], map[string]any{"recovered_payments": 2, "recovered": map[string]string{"MXN": "500", "USD": "20"},
		"attempts": 10, "texts_sent": 0})
	check(t, "sms", ch["sms"], map[string]any{"recovered_payments": 1, "recovered": map[string]string{"MXN": "30"},
		"texts_sent": 2, "texts_delivered": 1, "replies": 1, "opt_outs": 1})
	check(t, "whatsapp", ch["whatsapp"], map[string]any{"texts_sent": 1, "texts_delivered": 1, "replies": 1, "opt_outs": 0})
	k10, _ := setup(t, kpi.Options{AttributionDays: 10})
	r := report(t, k10, kpi.Rollup, "from=2026-03-01&to=2026-03-14&campaign=c2")
	check(t, "c2, 10 days", r.Total, map[string]any{"recovered_payments": 1, "recovered": map[string]string{"COP": "100000"}})
}

// What arrives after a refresh is counted at the next question: new
// versions of a text, a row whose grouping changed (its old group goes to
// zero), a replay of a refreshed batch, a payment that keeps a promise.
func TestRollupFollowsLaterRows(t *testing.T) {
	k, more := setup(t, kpi.Options{})
	before := report(t, k, kpi.Rollup, "from=2026-03-01&to=2026-03-14&by=segment")
	check(t, "before", before.Total, map[string]any{"attempts": 13, "texts_delivered": 2, "kept": 14, "pending": 1})
	late := kpitest.Text("a20", "A5", analytics.SMS, kpitest.Day(2, 11, 20), analytics.Queued, 1, 1, "early")
	more(late)
	mid := report(t, k, kpi.Rollup, "from=2026-03-01&to=2026-03-14")
	check(t, "queued", mid.Total, map[string]any{"attempts": 14, "texts_sent": 4, "texts_delivered": 2})
	// a12 moves from segment late to early (a new version; its old group
	// held it alone), a20 is delivered, the first batch is delivered again,
	// pr-a17 is paid.
	a12 := kpitest.Text("a12", "A4", analytics.WhatsApp, kpitest.Day(2, 11, 10), analytics.Read, 1, 2, "early")
	delivered := kpitest.Text("a20", "A5", analytics.SMS, kpitest.Day(2, 11, 20), analytics.Delivered, 1, 2, "early")
	more(append([]analytics.Row{a12, delivered, &analytics.Payment{PaymentID: "y-a8", AccountID: "A8", PaidAt: kpitest.Day(11, 9, 0),
		Amount: kpitest.Money("50000"), Currency: "COP", Ver: 1}}, kpitest.Rows()...)...)
	after := report(t, k, kpi.Rollup, "from=2026-03-01&to=2026-03-14&by=segment")
	raw := report(t, k, kpi.Raw, "from=2026-03-01&to=2026-03-14&by=segment")
	check(t, "after", after.Total, map[string]any{"attempts": 14, "texts_delivered": 3, "kept": 15, "pending": 0, "abandoned": 1})
	seg := byKey(after)
	// late: a03, a04, a07, a11, a14, a15, a17 (a12 left it); early: a01,
	// a02, a05, a06, a10, a12, a20.
	check(t, "late", seg["late"], map[string]any{"attempts": 7, "abandoned": 1, "texts_delivered": 0})
	check(t, "early", seg["early"], map[string]any{"attempts": 7, "abandoned": 0, "texts_delivered": 3})
	after.Source, raw.Source = "", ""
	if !reflect.DeepEqual(after, raw) {
		a, _ := json.Marshal(after)
		b, _ := json.Marshal(raw)
		t.Errorf("roll-up and raw differ:\n%s\n%s", a, b)
	}
}

func TestBestTime(t *testing.T) {
	k, _ := setup(t, kpi.Options{})
	v, _ := url.ParseQuery("from=2026-03-01&to=2026-03-14&campaign=c2")
	f, _, err := kpi.ParseQuery(v, kpitest.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []kpi.Source{kpi.Rollup, kpi.Raw} {
		cells, err := k.BestTime(context.Background(), f, "country", src)
		if err != nil {
			t.Fatal(err)
		}
		// Bogota: a14 and a15 Tuesday 10:00 and 10:10, a17 Monday 22:30.
		got := fmt.Sprint(cells)
		want := []kpi.Cell{
			{Group: "CO", Weekday: 1, Hour: 22, Attempts: 1, Contacts: 1, RPC: 1, ContactRate: ptr(1), RPCRate: ptr(1)},
			{Group: "CO", Weekday: 2, Hour: 10, Attempts: 2, Contacts: 1, RPC: 1, ContactRate: ptr(0.5), RPCRate: ptr(0.5)},
		}
		if !reflect.DeepEqual(cells, want) {
			t.Errorf("%s: %s", src, got)
		}
	}
}

func ptr(v float64) *float64 { return &v }

// Bad parameters are refused naming the parameter.
func TestParseQuery(t *testing.T) {
	for q, field := range map[string]string{
		"from=2026-13-01":                       "from",
		"to=yesterday":                          "to",
		"from=2026-03-10&to=2026-03-01":         "from",
		"by=week":                               "by",
		"tz=Mars/Olympus":                       "tz",
		"tz=" + url.QueryEscape("UTC';DROP"):    "tz",
		"channel=fax":                           "channel",
		"colour=red":                            "colour",
		"by=day&by=campaign":                    "by",
		"from=1999-01-01&to=2026-01-02":         "from",
		"campaign=" + url.QueryEscape("a\x01b"): "campaign",
	} {
		v, _ := url.ParseQuery(q)
		_, _, err := kpi.ParseQuery(v, kpitest.Now)
		if analytics.FieldOf(err) != field {
			t.Errorf("%s: %v, want an error naming %s", q, err, field)
		}
	}
	v, _ := url.ParseQuery("campaign=a,b&campaign=c&channel=sms")
	f, by, err := kpi.ParseQuery(v, kpitest.Now)
	if err != nil || by != kpi.ByNone || len(f.Campaigns) != 3 || f.From != "2026-03-14" || f.To != "2026-03-20" || f.TZ != "UTC" {
		t.Fatalf("%+v %v %v", f, by, err)
	}
}

// Every grouping reads the same from the roll-ups as from the raw tables.
func TestRollupEqualsRaw(t *testing.T) {
	k, _ := setup(t, kpi.Options{Costs: kpitest.Costs})
	for _, by := range append(kpi.Bys(), kpi.ByNone) {
		for _, extra := range []string{"", "&tz=America/Bogota", "&segment=late&channel=voice", "&agent=ag1,ag2"} {
			sameAsRaw(t, k, "", "from=2026-03-01&to=2026-03-14&by="+string(by)+extra)
		}
	}
}

// sameAsRaw checks that the roll-ups answer q as the raw tables do, and
// returns their answer (without its source).
func sameAsRaw(t *testing.T, k *kpi.KPI, label, q string) *kpi.Report {
	t.Helper()
	roll, raw := report(t, k, kpi.Rollup, q), report(t, k, kpi.Raw, q)
	roll.Source, raw.Source = "", ""
	if !reflect.DeepEqual(roll, raw) {
		a, _ := json.Marshal(roll)
		b, _ := json.Marshal(raw)
		t.Errorf("%s%s: roll-up and raw differ:\n%s\n%s", label, q, a, b)
	}
	return roll
}

// Query parameters are network input: whatever arrives, ParseQuery
// answers a filter whose zone is safe to write into SQL, or an error
// naming one of the parameters it was given.
func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{"from=2026-03-01&to=2026-03-14&by=day&tz=America/Bogota", "campaign=a,b&channel=sms", "tz=UTC'",
		"by=week", "from=2026-02-30", "agent=%00", "x=1"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		fl, _, err := kpi.ParseQuery(v, kpitest.Now)
		if err != nil {
			field := analytics.FieldOf(err)
			if _, ok := v[field]; !ok {
				t.Fatalf("%q: error %v names %q, not a parameter given", q, err, field)
			}
			return
		}
		if strings.ContainsAny(fl.TZ, `'\ `) {
			t.Fatalf("%q: zone %q accepted", q, fl.TZ)
		}
		from, to := fl.Range()
		if !from.Before(to) {
			t.Fatalf("%q: range %s to %s", q, from, to)
		}
	})
}

// Someone other than the debtor answered an outbound reminder (wrong_party)
// or never proved who they are (not_verified): live answers and contacts,
// never right-party contacts, in the roll-ups and the raw rows alike (the
// per-debtor flags come from migration 13's view).
func TestWrongPartiesAreContactsNotRPCs(t *testing.T) {
	k, more := setup(t, kpi.Options{})
	at := kpitest.Day(20, 10, 0)
	human := func(a *analytics.Attempt) {
		a.AnsweredAt, a.AMD, a.SIPCode = a.StartedAt.Add(5*time.Second), "human", 200
	}
	more(kpitest.Call("w1", "W1", at, analytics.WrongParty, human), kpitest.Call("w2", "W1", at.Add(time.Hour), analytics.NotVerified, human),
		kpitest.Call("w3", "W1", at.Add(2*time.Hour), analytics.Answered, func(a *analytics.Attempt) { human(a); a.RightParty = true }))
	for _, src := range []kpi.Source{kpi.Rollup, kpi.Raw} {
		r := report(t, k, src, "from=2026-03-20&to=2026-03-20")
		check(t, fmt.Sprint(src), r.Total, map[string]any{"attempts": 3, "contacts": 3, "live_answers": 3, "rpc": 1, "debtors_reached": 1,
			"debtors_rpc": 1, "rpc_rate": 0.3333})
	}
}
