package analytics_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer/writertest"
)

// readFixture writes, through a real writer, two campaigns' attempts,
// promises and messages inside [from, from+1h), and rows outside it (an
// earlier attempt, another campaign) that no scoped question may count.
func readFixture(t *testing.T) (*analytics.Reader, time.Time) {
	t.Helper()
	ctx := context.Background()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	w := writertest.Start(t, conn, db)
	from := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return from.Add(time.Duration(min) * time.Minute) }
	attempt := func(id, campaign string, ch analytics.Channel, disp string, start time.Time) *analytics.Attempt {
		return &analytics.Attempt{AttemptID: id, CampaignID: campaign, AccountID: "acct-" + id, Phone: "+5255000000" + id[len(id)-2:],
			Channel: ch, NodeID: "n", Trunk: "sim", AttemptNo: 1, StartedAt: start, EndedAt: start.Add(time.Minute),
			Disposition: disp, Country: "MX", Ver: 1}
	}
	a1 := attempt("a01", "c1", analytics.Voice, "answered", at(1))
	a1.RingMS, a1.TalkMS, a1.SIPCode, a1.DTMF, a1.IVRPath = 3000, 40000, 200, "112", "greet>menu>promise"
	a1.PromiseAmount, a1.Currency = decimal.RequireFromString("1500.50"), "MXN"
	a2 := attempt("a02", "c1", analytics.Voice, "answered", at(2))
	a2.RingMS, a2.TalkMS, a2.SIPCode = 5000, 20000, 200
	a3 := attempt("a03", "c2", analytics.Voice, "no_answer", at(3))
	a3.RingMS, a3.SIPCode, a3.Reason = 15000, 480, "ring timeout"
	s1 := attempt("a04", "c1", analytics.SMS, "sent", at(4))
	s1.MessageSID, s1.MessageStatus, s1.Segments, s1.Reason = "SM1", "sent", 2, "first"
	s1again := *s1 // the delivery callback writes the row again with a higher ver
	s1again.MessageStatus, s1again.Ver = "delivered", 2
	s2 := attempt("a05", "c2", analytics.SMS, "blocked", at(5))
	s2.Reason = "window: 22:00 is after 21:00"
	s3 := attempt("a06", "c1", analytics.WhatsApp, "failed", at(6))
	s3.MessageSID, s3.MessageStatus, s3.Segments = "SM3", "failed", 1
	early := attempt("a07", "c1", analytics.Voice, "busy", from.Add(-time.Second))
	other := attempt("a08", "c3", analytics.SMS, "sent", at(7))
	other.MessageSID, other.MessageStatus = "SM8", "delivered"
	late := attempt("a09", "c1", analytics.Voice, "busy", from.Add(time.Hour))

	promise := func(id, campaign, status, amount, cur string, created time.Time, ver uint64) *analytics.Promise {
		return &analytics.Promise{PromiseID: id, CampaignID: campaign, AccountID: "acct-" + id, AttemptID: "a01", Channel: analytics.PromiseIVR,
			CreatedAt: created, DueDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Amount: decimal.RequireFromString(amount),
			Currency: cur, Status: status, NodeID: "n", Ver: ver}
	}
	message := func(sid, dir, action string, at time.Time) *analytics.Message {
		return &analytics.Message{MessageSID: sid, Direction: dir, CampaignID: "c1", Phone: "+525500000004", Channel: analytics.SMS,
			Body: "x", Action: action, At: at, NodeID: "n", Ver: 1}
	}
	rows := []analytics.Row{a1, a2, a3, s1, &s1again, s2, s3, early, other, late,
		promise("p1", "c1", "open", "100.00", "MXN", at(1), 1),
		promise("p1", "c1", "kept", "100.00", "MXN", at(1), 2), // kept later: the newest version counts
		promise("p2", "c1", "open", "250.25", "MXN", at(2), 1),
		promise("p3", "c2", "broken", "400000", "COP", at(3), 1),
		promise("p4", "c3", "open", "1", "CLP", at(4), 1),
		promise("p5", "c1", "open", "9", "MXN", from.Add(-time.Hour), 1),
		message("IN1", "inbound", "optout", at(10)), message("IN2", "inbound", "paylink", at(11)),
		message("IN3", "inbound", "conversation", at(12)), message("IN4", "inbound", "conversation", at(13)),
		message("RE1", "reply", "optout", at(10)), message("IN0", "inbound", "optout", from.Add(-time.Minute)),
	}
	for _, r := range rows {
		if err := w.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := analytics.NewReader(conn, db)
	if err != nil {
		t.Fatal(err)
	}
	return r, from
}

func TestReader(t *testing.T) {
	ctx := context.Background()
	r, from := readFixture(t)
	runs := analytics.Scope{Campaigns: []string{"c1", "c2"}, From: from, To: from.Add(time.Hour)}

	counts, err := r.AttemptCounts(ctx, runs)
	if err != nil {
		t.Fatal(err)
	}
	want := []analytics.AttemptCount{
		{Channel: analytics.SMS, Disposition: "blocked", Attempts: 1, Reason: "window: 22:00 is after 21:00"},
		{Channel: analytics.SMS, Disposition: "sent", Attempts: 1, Segments: 2, Reason: "first"},
		{Channel: analytics.Voice, Disposition: "answered", Attempts: 2, RingMS: 8000, TalkMS: 60000, Keyed: 1},
		{Channel: analytics.Voice, Disposition: "no_answer", Attempts: 1, RingMS: 15000, Reason: "ring timeout"},
		{Channel: analytics.WhatsApp, Disposition: "failed", Attempts: 1, Segments: 1},
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("attempt counts:\n got %+v\nwant %+v", counts, want)
	}

	voice := runs
	voice.Channels = []analytics.Channel{analytics.Voice}
	list, err := r.Attempts(ctx, voice)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, a.AttemptID)
	}
	if !reflect.DeepEqual(ids, []string{"a01", "a02", "a03"}) {
		t.Fatalf("voice attempts: %v", ids)
	}
	if a := list[0]; a.Phone != "+525500000001" || a.DTMF != "112" || a.IVRPath != "greet>menu>promise" || a.SIPCode != 200 ||
		!a.PromiseAmount.Equal(decimal.RequireFromString("1500.50")) || a.Currency != "MXN" || a.Country != "MX" ||
		a.Channel != analytics.Voice || a.Trunk != "sim" || !a.StartedAt.Equal(from.Add(time.Minute)) || a.RingMS != 3000 {
		t.Errorf("first attempt read back: %+v", a)
	}

	texts, err := r.Texts(ctx, runs)
	if err != nil {
		t.Fatal(err)
	}
	if texts != (analytics.TextTotals{Sent: 2, Delivered: 1}) {
		t.Errorf("texts: %+v", texts)
	}
	every, err := r.Texts(ctx, analytics.Scope{From: from})
	if err != nil {
		t.Fatal(err)
	}
	if every != (analytics.TextTotals{Sent: 3, Delivered: 2}) {
		t.Errorf("texts of every campaign: %+v", every)
	}

	totals, err := r.PromiseTotals(ctx, runs)
	if err != nil {
		t.Fatal(err)
	}
	wantTotals := []analytics.PromiseTotal{
		{Status: "broken", Currency: "COP", Promises: 1, Amount: decimal.RequireFromString("400000")},
		{Status: "kept", Currency: "MXN", Promises: 1, Amount: decimal.RequireFromString("100")},
		{Status: "open", Currency: "MXN", Promises: 1, Amount: decimal.RequireFromString("250.25")},
	}
	if len(totals) != len(wantTotals) {
		t.Fatalf("promise totals: %+v", totals)
	}
	for i, w := range wantTotals {
		g := totals[i]
		if g.Status != w.Status || g.Currency != w.Currency || g.Promises != w.Promises || !g.Amount.Equal(w.Amount) {
			t.Errorf("promise total %d: got %+v, want %+v", i, g, w)
		}
	}
	ps, err := r.Promises(ctx, analytics.Scope{Campaigns: []string{"c1"}, From: from})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].PromiseID != "p1" || ps[0].Status != "kept" || ps[0].Channel != analytics.PromiseIVR ||
		ps[1].PromiseID != "p2" || !ps[1].Amount.Equal(decimal.RequireFromString("250.25")) || ps[1].Currency != "MXN" {
		t.Errorf("promises of c1: %+v", ps)
	}

	replies, err := r.Replies(ctx, analytics.Scope{From: from})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replies, map[string]uint64{"optout": 1, "paylink": 1, "conversation": 2}) {
		t.Errorf("replies: %v", replies)
	}

	applied, err := r.Applied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(analytics.Migrations()); len(applied) != n || applied[0].Version != 1 || applied[n-1].Name != analytics.Migrations()[n-1].Name {
		t.Errorf("applied migrations: %+v", applied)
	}
	tables, err := r.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []analytics.TableRows{{Table: "contact_attempts", Rows: 9}, {Table: "promises", Rows: 5}, {Table: "payments"},
		{Table: "messages", Rows: 6}, {Table: "dnc_events"}, {Table: "agent_states"}}
	if !reflect.DeepEqual(tables, wantRows) {
		t.Errorf("rows:\n got %+v\nwant %+v", tables, wantRows)
	}
}

func TestReaderRefusesABadDatabaseName(t *testing.T) {
	if _, err := analytics.NewReader(nil, "x; DROP TABLE y"); err == nil {
		t.Fatal("a database name with SQL in it was accepted")
	}
}
