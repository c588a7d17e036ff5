// Package kpitest holds the hand-built KPI fixture (attempts, promises,
// payments, agents' time and replies of two campaigns, and the promise
// cases of promises.json) whose KPIs analytics/kpi's tests assert, for any
// package's tests: the API's, the report's, the dashboards'. The expected
// figures are in analytics/kpi/kpi_test.go with how each was computed.
package kpitest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
)

// Now is the instant the fixture's KPIs are computed at.
var Now = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

//go:embed promises.json
var promisesJSON []byte

// PromiseCases are the hand-computed promise cases (promises.json): each
// case one account, with the promises, payments and the expected status
// and received amount of every promise at Now (the file's "now").
func PromiseCases() PromiseFixture {
	var fx PromiseFixture
	if err := json.Unmarshal(promisesJSON, &fx); err != nil {
		panic(fmt.Sprintf("kpitest: promises.json: %v", err))
	}
	return fx
}

// PromiseRows are the promise cases as rows (campaign "promises", account
// case-NN for the NNth case) and as kpi.Settle's inputs.
func PromiseRows(t testing.TB) ([]analytics.Row, []kpi.PromiseTerms, []kpi.PaymentIn) {
	return promiseRows(t, PromiseCases())
}

// Load inserts the fixture into db: its rows, the batch the writer
// delivers again, and the promise cases.
func Load(t testing.TB, conn driver.Conn, db string) {
	f := build()
	Insert(t, conn, db, f.first...)
	Insert(t, conn, db, f.replay...)
	rows, _, _ := PromiseRows(t)
	Insert(t, conn, db, rows...)
}

// Rows are the fixture's rows (without the replay and the promise cases).
func Rows() []analytics.Row { return build().first }

// Call, Text and Money build rows like the fixture's (for tests that add
// to it).
func Call(id, acct string, at time.Time, disp string, f func(*analytics.Attempt)) *analytics.Attempt {
	return call(id, acct, at, disp, f)
}

func Text(id, acct string, ch analytics.Channel, at time.Time, status string, segments uint8, ver uint64, segment string) *analytics.Attempt {
	return text(id, acct, ch, at, status, segments, ver, segment)
}

func Money(s string) decimal.Decimal { return money(s) }

// Day is 2026-03-d h:m UTC.
func Day(d, h, m int) time.Time { return day(d, h, m) }

type PromiseFixture struct {
	Now   time.Time `json:"now"`
	Cases []struct {
		Name     string `json:"name"`
		Promises []struct {
			ID          string          `json:"id"`
			Created     time.Time       `json:"created"`
			Due         string          `json:"due"`
			Amount      decimal.Decimal `json:"amount"`
			Currency    string          `json:"currency"`
			GraceDays   int             `json:"grace_days"`
			KeepPercent int             `json:"keep_percent"`
			Status      string          `json:"status"`
		} `json:"promises"`
		Payments []struct {
			ID       string          `json:"id"`
			PaidAt   time.Time       `json:"paid_at"`
			Amount   decimal.Decimal `json:"amount"`
			Currency string          `json:"currency"`
		} `json:"payments"`
		Expect map[string]struct {
			Status   string          `json:"status"`
			Received decimal.Decimal `json:"received"`
		} `json:"expect"`
	} `json:"cases"`
}

// promiseRows turns the promise cases into rows (each case its own account) and
// the rule's inputs.
func promiseRows(t testing.TB, fx PromiseFixture) ([]analytics.Row, []kpi.PromiseTerms, []kpi.PaymentIn) {
	var rows []analytics.Row
	var terms []kpi.PromiseTerms
	var pays []kpi.PaymentIn
	for i, c := range fx.Cases {
		acct := fmt.Sprintf("case-%02d", i)
		for _, p := range c.Promises {
			due, err := time.Parse(time.DateOnly, p.Due)
			if err != nil {
				t.Fatal(err)
			}
			status := p.Status
			if status == "" {
				status = "open"
			}
			rows = append(rows, &analytics.Promise{PromiseID: p.ID, CampaignID: "promises", AccountID: acct, AttemptID: "x",
				Channel: analytics.PromiseIVR, CreatedAt: p.Created, DueDate: due, Amount: p.Amount, Currency: p.Currency,
				Status: status, Ver: 1, GraceDays: uint8(p.GraceDays), KeepPercent: uint8(p.KeepPercent)})
			terms = append(terms, kpi.PromiseTerms{ID: p.ID, Account: acct, Currency: p.Currency, Created: p.Created, Due: due,
				GraceDays: p.GraceDays, KeepPercent: p.KeepPercent, Amount: p.Amount, Cancelled: status == "cancelled"})
		}
		for _, y := range c.Payments {
			id := acct + "/" + y.ID
			rows = append(rows, &analytics.Payment{PaymentID: id, AccountID: acct, PaidAt: y.PaidAt, Amount: y.Amount,
				Currency: y.Currency, Ver: 1})
			pays = append(pays, kpi.PaymentIn{ID: id, Account: acct, Currency: y.Currency, PaidAt: y.PaidAt, Amount: y.Amount})
		}
	}
	return rows, terms, pays
}

// Insert sends rows to ClickHouse as the writer does, one batch per table;
// inserting the same rows again is a replayed batch.
func Insert(t testing.TB, conn driver.Conn, db string, rows ...analytics.Row) {
	t.Helper()
	ctx := context.Background()
	byTable := map[*analytics.Table][]analytics.Row{}
	var order []*analytics.Table
	for _, r := range rows {
		if err := r.Validate(); err != nil {
			t.Fatalf("fixture row: %v", err)
		}
		rec, _ := r.AppendBinary(nil)
		tbl, err := analytics.TableOf(rec)
		if err != nil {
			t.Fatal(err)
		}
		if byTable[tbl] == nil {
			order = append(order, tbl)
		}
		byTable[tbl] = append(byTable[tbl], r)
	}
	for _, tbl := range order {
		b, err := conn.PrepareBatch(ctx, tbl.InsertSQL(db))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range byTable[tbl] {
			if err := tbl.Append(b, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatalf("insert into %s: %v", tbl.Name, err)
		}
	}
}

var (
	mx  = mustZone("America/Mexico_City")
	co  = mustZone("America/Bogota")
	day = func(d, h, m int) time.Time { return time.Date(2026, 3, d, h, m, 0, 0, time.UTC) }
)

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func money(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// call is a voice attempt of campaign c1 (MX, trunk t1) unless changed.
func call(id, acct string, at time.Time, disp string, f func(*analytics.Attempt)) *analytics.Attempt {
	a := &analytics.Attempt{AttemptID: id, CampaignID: "c1", AccountID: acct, Phone: "+525512345678", Channel: analytics.Voice,
		NodeID: "n1", Trunk: "t1", AttemptNo: 1, StartedAt: at, EndedAt: at.Add(time.Minute), Disposition: disp, Country: "MX",
		Segment: "early", Currency: "MXN", Ver: 1}
	if disp == analytics.Answered || disp == analytics.Abandoned {
		a.AnsweredAt, a.AMD, a.SIPCode = at.Add(5*time.Second), "human", 200
	}
	if f != nil {
		f(a)
	}
	loc := mx
	if a.Country == "CO" {
		loc = co
	}
	a.SetLocalTime(loc)
	return a
}

// text is a text attempt of campaign c1 at one of its statuses.
func text(id, acct string, ch analytics.Channel, at time.Time, status string, segments uint8, ver uint64, segment string) *analytics.Attempt {
	a := &analytics.Attempt{AttemptID: id, CampaignID: "c1", AccountID: acct, Phone: "+525512345678", Channel: ch, NodeID: "n1",
		Trunk: "+15550001", AttemptNo: 1, StartedAt: at, Disposition: status, MessageSID: "SM" + id, MessageStatus: status,
		Segments: segments, Template: "missed-call", Country: "MX", Segment: segment, Ver: ver}
	a.SetLocalTime(mx)
	return a
}

type fixture struct {
	first, replay []analytics.Row
}

func build() fixture {
	var f fixture
	f.attempts()
	f.money()
	f.agentStates()
	f.messages()
	return f
}

func (f *fixture) add(rows ...analytics.Row) { f.first = append(f.first, rows...) }

// attempts are calls and texts of both campaigns; the first calls are
// delivered twice.
func (f *fixture) attempts() {
	add := f.add
	calls := []analytics.Row{
		call("a01", "A1", day(2, 10, 0), analytics.Answered, func(a *analytics.Attempt) { a.TalkMS, a.RightParty = 61000, true }),
		call("a02", "A2", day(2, 10, 5), analytics.NoAnswer, func(a *analytics.Attempt) { a.RingMS, a.SIPCode = 25000, 487 }),
		call("a03", "A3", day(2, 10, 10), analytics.Machine, func(a *analytics.Attempt) {
			a.Segment, a.AnsweredAt, a.AMD, a.AMDCause = "late", day(2, 10, 10), "machine", "long_greeting"
		}),
		call("a04", "A4", day(2, 10, 15), analytics.Abandoned, func(a *analytics.Attempt) { a.Segment, a.Abandoned = "late", true }),
		call("a05", "A5", day(2, 13, 50), analytics.Answered, func(a *analytics.Attempt) {
			a.AgentID, a.TalkMS, a.WrapMS, a.AgentCode = "ag1", 120000, 30000, "wrong_party"
		}),
		call("a06", "A1", day(2, 14, 10), analytics.Answered, func(a *analytics.Attempt) {
			a.AgentID, a.TalkMS, a.WrapMS, a.AgentCode, a.RightParty = "ag2", 200000, 10000, "promise", true
			a.PromiseAmount, a.PromiseDate = money("500"), time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)
		}),
		// A verified caller on the callback line.
		call("a07", "A6", day(2, 16, 0), analytics.Inbound, func(a *analytics.Attempt) { a.Trunk, a.TalkMS, a.Segment = "inbound", 90000, "late" }),
	}
	add(calls...)
	f.replay = calls // the writer delivers the batch again
	add(
		call("a08", "A2", day(2, 10, 20), analytics.Blocked, func(a *analytics.Attempt) { a.Reason = "calling window" }),
		call("a09", "A6", day(2, 16, 0), analytics.IdentityFailed, func(a *analytics.Attempt) { a.Trunk = "inbound" }),
		// A caller never verified: no account.
		call("a16", "", day(2, 17, 0), analytics.Inbound, func(a *analytics.Attempt) { a.Trunk = "inbound" }),
		// An SMS replaced three times: queued, sent, delivered, read.
		text("a10", "A2", analytics.SMS, day(2, 11, 0), analytics.Queued, 2, 1, "early"),
		text("a10", "A2", analytics.SMS, day(2, 11, 0), analytics.Sent, 2, 2, "early"),
		text("a10", "A2", analytics.SMS, day(2, 11, 0), analytics.Delivered, 2, 3, "early"),
		text("a10", "A2", analytics.SMS, day(2, 11, 0), analytics.Read, 2, 4, "early"),
		text("a11", "A3", analytics.SMS, day(2, 11, 5), analytics.Queued, 1, 1, "late"),
		text("a11", "A3", analytics.SMS, day(2, 11, 5), analytics.Undelivered, 1, 2, "late"),
		text("a12", "A4", analytics.WhatsApp, day(2, 11, 10), analytics.Delivered, 1, 1, "late"),
	)
	c2 := func(a *analytics.Attempt) {
		a.CampaignID, a.Trunk, a.Country, a.Segment, a.Currency = "c2", "t2", "CO", "late", "COP"
	}
	add(
		call("a14", "A7", day(3, 15, 0), analytics.Answered, func(a *analytics.Attempt) { c2(a); a.TalkMS, a.RightParty = 30000, true }),
		call("a15", "A7", day(3, 15, 10), analytics.Busy, func(a *analytics.Attempt) { c2(a); a.SIPCode = 486 }),
		// 22:30 on the 9th in Bogota, the 10th in UTC.
		call("a17", "A8", day(10, 3, 30), analytics.Answered, func(a *analytics.Attempt) { c2(a); a.TalkMS, a.RightParty = 45000, true }),
	)
}

// money is the promises and the payments against them.
func (f *fixture) money() {
	add := f.add
	promise := func(id, campaign, acct string, ch analytics.PromiseChannel, created time.Time, due int, amount, cur, country, segment, agent string) *analytics.Promise {
		return &analytics.Promise{PromiseID: id, CampaignID: campaign, AccountID: acct, AttemptID: "x", Channel: ch,
			CreatedAt: created, DueDate: time.Date(2026, 3, due, 0, 0, 0, 0, time.UTC), Amount: money(amount), Currency: cur,
			Status: "open", Ver: 1, Country: country, Segment: segment, AgentID: agent}
	}
	pay := func(id, acct string, at time.Time, amount, cur string) *analytics.Payment {
		return &analytics.Payment{PaymentID: id, AccountID: acct, PaidAt: at, Amount: money(amount), Currency: cur, Method: "link", Ver: 1}
	}
	add(
		promise("pr-a06", "c1", "A1", analytics.PromiseAgent, day(2, 14, 13), 6, "500", "MXN", "MX", "early", "ag2"),
		// Another currency, made on the callback line.
		promise("pr-usd", "c1", "A6", analytics.PromiseIVR, day(2, 16, 3), 4, "20", "USD", "MX", "late", ""),
		promise("pr-a14", "c2", "A7", analytics.PromiseIVR, day(3, 15, 5), 8, "200000", "COP", "CO", "late", ""),
		promise("pr-a17", "c2", "A8", analytics.PromiseIVR, day(10, 3, 35), 25, "50000", "COP", "CO", "late", ""),
		pay("y-a1", "A1", day(5, 9, 0), "500", "MXN"),
		pay("y-a6", "A6", day(4, 10, 0), "20", "USD"),
		pay("y-a7", "A7", day(12, 9, 0), "100000", "COP"), // after pr-a14's deadline, 8 days 18 h after the last touch
		pay("y-a2", "A2", day(8, 12, 0), "30", "MXN"),     // 6 days after the delivered text
		pay("y-a3", "A3", day(6, 9, 0), "40", "MXN"),      // no touch: a machine and an undelivered text
	)
}

// agentStates are two agents' shifts, overlapping from 14:00 to 15:00;
// the second agent's intervals are delivered twice.
func (f *fixture) agentStates() {
	add := f.add
	state := func(id, agent, st string, from, to time.Time) *analytics.AgentState {
		return &analytics.AgentState{IntervalID: id, AgentID: agent, CampaignID: "c1", NodeID: "n1", State: st, StartedAt: from,
			EndedAt: to, Ver: 1}
	}
	sec := func(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 0, time.UTC) }
	ag2 := []analytics.Row{
		state("s21", "ag2", "ready", sec(14, 0, 0), sec(14, 10, 0)),
		state("s22", "ag2", "talking", sec(14, 10, 0), sec(14, 13, 20)),
		state("s23", "ag2", "wrap_up", sec(14, 13, 20), sec(14, 13, 30)),
		state("s24", "ag2", "ready", sec(14, 13, 30), sec(15, 0, 0)),
		state("s25", "ag2", "paused", sec(15, 0, 0), sec(15, 30, 0)),
		state("s26", "ag2", "ready", sec(15, 30, 0), sec(16, 0, 0)),
	}
	add(
		state("s11", "ag1", "ready", sec(13, 0, 0), sec(13, 50, 0)),
		state("s12", "ag1", "talking", sec(13, 50, 0), sec(13, 52, 0)),
		state("s13", "ag1", "wrap_up", sec(13, 52, 0), sec(13, 52, 30)),
		state("s14", "ag1", "ready", sec(13, 52, 30), sec(15, 0, 0)),
	)
	add(ag2...)
	f.replay = append(f.replay, ag2...)
}

// messages are inbound texts and our replies.
func (f *fixture) messages() {
	add := f.add
	msg := func(sid, dir, acct string, ch analytics.Channel, at time.Time, action string) *analytics.Message {
		return &analytics.Message{MessageSID: sid, Direction: dir, CampaignID: "c1", AccountID: acct, Phone: "+525512345678",
			Channel: ch, Body: "x", Action: action, At: at, NodeID: "n1", Ver: 1}
	}
	add(
		msg("MM1", "inbound", "A2", analytics.SMS, day(2, 12, 0), "optout"),
		msg("MM2", "reply", "A2", analytics.SMS, day(2, 12, 0), "optout"),
		msg("MM3", "inbound", "A4", analytics.WhatsApp, day(2, 12, 30), "conversation"),
	)
}

// Costs are the prices the expected costs are computed with.
var Costs = kpi.Costs{Currency: "USD",
	Trunks: map[string]kpi.TrunkCost{
		"t1": {PerCall: money("0.01"), PerMinute: money("0.02")},
		"t2": {PerCall: money("0.02"), PerMinute: money("0.01")},
	},
	SMSPerSegment: money("0.0075"), WhatsAppPerMessage: money("0.005")}
