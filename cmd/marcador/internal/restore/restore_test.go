package restore

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/analytics/writer/writertest"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// A Tuesday morning in Santiago: CL's window is open.
func clNow() time.Time {
	return time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CLT", -3*3600))
}

// env is a private Redis (the tests empty it) and a database of their own.
type env struct {
	rdb   redis.UniversalClient
	conn  driver.Conn
	db    string
	w     *writer.Writer
	gate  *compliance.Gate
	store *queue.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := redistest.StartServer(t)
	e := &env{rdb: srv.Client(), conn: chtest.Conn(t)}
	e.db = chtest.Database(t, e.conn)
	e.w = writertest.Start(t, e.conn, e.db)
	cal, _ := compliance.LoadCalendars("", nil)
	var err error
	e.gate, err = compliance.NewGate(compliance.GateOptions{Client: e.rdb, Calendars: cal, Profiles: compliance.Builtin(),
		Now: clNow, Writer: e.w, Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	e.store = queue.New(queue.Options{Client: e.rdb, NodeID: "n1"})
	return e
}

// wipe is Redis restarted without its data.
func (e *env) wipe(t *testing.T) {
	t.Helper()
	if err := e.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// Every way a number is listed reaches dnc_events through the gate; after
// Redis loses the lists, a rebuild blocks those numbers again, and a number
// taken off later stays off.
func TestDNCRebuild(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	listed := []compliance.DNCEntry{
		{Phone: "+56912340001", Channel: "all", Reason: "creditor's list", Source: "api"},
		{Phone: "+56912340002", Channel: "voice", Reason: "opted out in the IVR", Source: "ivr"},
		{Phone: "+56912340003", Channel: "sms", Reason: `replied "BAJA"`, Source: "sms"},
		{Phone: "+56912340004", Channel: "sms", Reason: "twilio 21610: opted out", Source: "twilio"},
		{Phone: "+56912340005", Channel: "all", Reason: "invalid_number", Source: "dialer"},
		{Phone: "+56912340006", Channel: "voice", Campaign: "c-1", Reason: "asked the agent", Source: "api"},
	}
	if err := e.gate.AddDNC(ctx, listed...); err != nil {
		t.Fatal(err)
	}
	later := compliance.DNCEntry{Phone: "+56912340007", Channel: "voice", Reason: "asked", Source: "api"}
	if err := e.gate.AddDNC(ctx, later); err != nil {
		t.Fatal(err)
	}
	// Taken off again, in the same second as the listing (the clock stands still).
	if err := e.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: later.Phone, Channel: "all", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]compliance.DNCEntry{}
	for _, l := range append(listed, later) {
		for _, ch := range analytics.Channels() {
			if got, ok, err := e.gate.LookupDNC(ctx, l.Phone, ch, l.Campaign); err != nil {
				t.Fatal(err)
			} else if ok {
				want[l.Phone+"/"+string(ch)] = got
			}
		}
	}
	if len(want) != 3+1+1+1+3+1 {
		t.Fatalf("%d listings before the loss: %v", len(want), want)
	}
	e.flush(t)
	var rows uint64
	if err := e.conn.QueryRow(ctx, "SELECT count() FROM "+e.db+".dnc_events WHERE node_id = 'n1'").Scan(&rows); err != nil || rows != 10+1+3 {
		t.Fatalf("dnc_events rows: %d %v", rows, err)
	}

	e.wipe(t)
	if _, ok, _ := e.gate.LookupDNC(ctx, listed[0].Phone, analytics.Voice, ""); ok {
		t.Fatal("the wipe left the lists")
	}
	r, err := DNC(ctx, e.conn, e.db, e.gate)
	if err != nil {
		t.Fatal(err)
	}
	if r.Listed != 10 || r.Unlisted != 3 {
		t.Fatalf("rebuild: %+v", r)
	}
	got := map[string]compliance.DNCEntry{}
	for _, l := range append(listed, later) {
		for _, ch := range analytics.Channels() {
			e2, ok, err := e.gate.LookupDNC(ctx, l.Phone, ch, l.Campaign)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				got[l.Phone+"/"+string(ch)] = e2
			}
		}
	}
	for k, w := range want {
		g := got[k]
		if g.Phone != w.Phone || g.Channel != w.Channel || g.Campaign != w.Campaign || g.Reason != w.Reason || g.Source != w.Source ||
			!g.At.Equal(w.At.Truncate(time.Second)) {
			t.Errorf("%s: rebuilt %+v, was %+v", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rebuilt %d listings, want %d: %v", len(got), len(want), got)
	}
	if _, ok, _ := e.gate.LookupDNC(ctx, later.Phone, analytics.Voice, ""); ok {
		t.Error("a number taken off the list is listed again")
	}
	// The campaign's listing blocks only in that campaign.
	if _, ok, _ := e.gate.LookupDNC(ctx, "+56912340006", analytics.Voice, ""); ok {
		t.Error("a campaign listing became global")
	}
	// The rebuild wrote no events of its own.
	e.flush(t)
	if err := e.conn.QueryRow(ctx, "SELECT count() FROM "+e.db+".dnc_events").Scan(&rows); err != nil || rows != 14 {
		t.Fatalf("dnc_events rows after the rebuild: %d %v", rows, err)
	}
}

// CL allows one call a week: after Redis loses the history, the attempt in
// contact_attempts keeps the second call from going out once rebuilt.
func TestHistoryRebuildKeepsCaps(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := queue.Campaign{ID: "cl-1", Mode: queue.ModeIVR, Country: "CL", Profile: "CL", TimeZone: "America/Santiago"}
	acct := queue.Account{ID: "A1", NationalID: "12.345.678-5", Country: "CL", Phones: []queue.Phone{{Number: "+56912345001"}},
		Balance: decimal.NewFromInt(90000), Currency: "CLP"}
	upload := func() {
		t.Helper()
		if _, err := e.store.PutCampaign(ctx, c, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Load(ctx, c.ID, []queue.Account{acct}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	upload()
	profile := compliance.Builtin()["CL"]
	subj := compliance.Subject{Phone: acct.Phones[0].Number, Account: acct.ID, NationalID: acct.NationalID, Country: "CL",
		DefaultZone: c.TimeZone, Campaign: c.ID}
	// The first call of the week, as the runner makes it: reserved, then recorded.
	id := analytics.NewAttemptID()
	d, err := e.gate.Reserve(ctx, profile, subj, analytics.Voice, id, false)
	if err != nil || !d.Allowed {
		t.Fatalf("first call: %+v %v", d, err)
	}
	at := clNow()
	if err := e.w.Write(ctx, &analytics.Attempt{AttemptID: id, CampaignID: c.ID, AccountID: acct.ID, Phone: subj.Phone,
		Channel: analytics.Voice, NodeID: "n1", StartedAt: at, EndedAt: at.Add(20 * time.Second), Disposition: "busy", SIPCode: 486, Ver: 1}); err != nil {
		t.Fatal(err)
	}
	// A blocked try is not an attempt.
	if err := e.w.Write(ctx, &analytics.Attempt{AttemptID: analytics.NewAttemptID(), CampaignID: c.ID, AccountID: acct.ID,
		Phone: subj.Phone, Channel: analytics.Voice, StartedAt: at, Disposition: "blocked", Ver: 1}); err != nil {
		t.Fatal(err)
	}
	e.flush(t)
	check := func() compliance.Decision {
		t.Helper()
		d, err := e.gate.Check(ctx, profile, subj, analytics.Voice, clNow(), false)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := check(); d.Allowed {
		t.Fatalf("second call allowed before the loss: %+v", d)
	}

	e.wipe(t)
	if d := check(); !d.Allowed {
		t.Fatalf("the wipe left the history: %+v", d)
	}
	// Restored before the campaign is uploaded again: the history is kept
	// by account, and restore says which campaign is missing.
	r, err := History(ctx, e.conn, e.db, e.gate, e.store)
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != 2 || r.Events != 1 || r.Unmatched != 2 || !reflect.DeepEqual(r.MissingCampaigns, []string{c.ID}) {
		t.Fatalf("restore before upload: %+v", r)
	}
	upload()
	r, err = History(ctx, e.conn, e.db, e.gate, e.store)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 1 || r.Unmatched != 0 || len(r.MissingCampaigns) != 0 {
		t.Fatalf("restore after upload: %+v", r)
	}
	d = check()
	if d.Allowed || !strings.Contains(d.Reason, "week") {
		t.Fatalf("second call after the rebuild: %+v", d)
	}
	// Again: nothing is added twice.
	if r, err := History(ctx, e.conn, e.db, e.gate, e.store); err != nil || r.Events != 0 {
		t.Fatalf("second restore: %+v %v", r, err)
	}
	// explain finds the debtor by number again (the index keys are back).
	ex, err := e.gate.Explain(ctx, compliance.ExplainRequest{Profile: "CL", Phone: subj.Phone, Channel: analytics.Voice, At: clNow()})
	if err != nil || ex.Allowed {
		t.Fatalf("explain by number after the rebuild: %+v %v", ex, err)
	}
}

func TestEvents(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	o := func(ch analytics.Channel, disp, status string, keyed, abandoned bool, account string) analytics.AttemptOutcome {
		return analytics.AttemptOutcome{AttemptID: "x", AccountID: account, Channel: ch, StartedAt: t0, EndedAt: t1,
			Disposition: disp, MessageStatus: status, Keyed: keyed, Abandoned: abandoned}
	}
	kinds := func(evs []compliance.Event) string {
		var k []string
		for _, e := range evs {
			k = append(k, e.Kind)
		}
		return strings.Join(k, ",")
	}
	for _, tc := range []struct {
		in   analytics.AttemptOutcome
		want string
	}{
		{o(analytics.Voice, "busy", "", false, false, "a"), "attempt"},
		{o(analytics.Voice, "answered", "", true, false, "a"), "attempt,contact,conversation"},
		{o(analytics.Voice, "answered", "", false, false, "a"), "attempt"},
		{o(analytics.Voice, "ivr_error", "", true, false, "a"), "attempt,contact,conversation"},
		{o(analytics.Voice, "wrong_party", "", true, false, "a"), "attempt"},  // keyed 2: not the debtor
		{o(analytics.Voice, "not_verified", "", true, false, "a"), "attempt"}, // keyed a wrong id, or the script failed before a check passed
		{func() analytics.AttemptOutcome {
			x := o(analytics.Voice, "answered", "", false, false, "a")
			x.AgentID, x.TalkMS = "ag", 1
			return x
		}(), "attempt,contact,conversation"}, // bridged to an agent, no keys
		{func() analytics.AttemptOutcome {
			x := o(analytics.Voice, "answered", "", false, false, "a")
			x.AgentID, x.TalkMS, x.AgentCode = "ag", 5000, "wrong_party"
			return x
		}(), "attempt"},
		{func() analytics.AttemptOutcome {
			x := o(analytics.SMS, "delivered", "delivered", false, false, "a")
			x.AgentID, x.TalkMS = "ag", 5000 // a text an agent sent: a contact once delivered, never a conversation
			return x
		}(), "attempt,contact"},
		{o(analytics.Voice, "answered", "", false, true, "a"), "attempt,abandoned"},
		{o(analytics.Voice, "blocked", "", false, false, "a"), ""},
		{o(analytics.Voice, "local_error", "", false, false, "a"), ""},
		{o(analytics.Voice, "interrupted", "", false, false, "a"), "attempt"},
		{o(analytics.Voice, "config_error", "", false, false, "a"), "attempt"}, // a 401 from the carrier: it was dialled
		{o(analytics.Voice, "inbound", "", true, false, "a"), "contact,conversation"},
		{o(analytics.Voice, "inbound", "", false, false, ""), ""},
		{o(analytics.SMS, "delivered", "delivered", false, false, "a"), "attempt,contact"},
		{o(analytics.WhatsApp, "read", "read", false, false, "a"), "attempt,contact"},
		{o(analytics.SMS, "queued", "queued", false, false, "a"), "attempt"},
		{o(analytics.SMS, "config_error", "", false, false, "a"), ""},
		{o(analytics.SMS, "blocked", "", false, false, "a"), ""},
	} {
		got := Events(tc.in)
		if kinds(got) != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.in.Channel, tc.in.Disposition, kinds(got), tc.want)
		}
		for _, e := range got {
			if (e.Kind == compliance.KindAttempt) != e.At.Equal(t0) || e.AttemptID != "x" || string(e.Channel) != string(tc.in.Channel) {
				t.Errorf("%s %s: event %+v", tc.in.Channel, tc.in.Disposition, e)
			}
		}
	}
}

// Calls answered by someone who never proved they are the debtor (a wrong
// party, a failed check, a script that failed before anyone was verified)
// are no conversation for the caps, live or restored, nor is an agent's
// call the agent says reached someone else: the runner records a contact
// and a conversation by analytics.Spoke and AgentTalked on the row it
// writes, and
// restore rebuilds by the same rule from the row read back, so after Redis
// loses the history each debtor's rebuilt history is what the live path
// had recorded.
func TestHistoryRestoresWhatTheLivePathCounted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	profile := compliance.Builtin()["CL"]
	at := clNow()
	type call struct {
		account, disposition, path, dtmf, reason string
		right                                    bool
		conversation                             bool // what the live path counts
		agent, code                              string
		talk                                     uint32 // an agent call's bridged time
	}
	calls := []call{
		{"VERIFIED", analytics.Answered, "rpc-greeting>verify>overdue-menu", "4821/1", "", true, true, "", "", 0},
		{"WRONG", analytics.WrongParty, "rpc-greeting>wrong-party", "2", "whoever answered said they are not the debtor", false, false, "", "", 0},
		{"FAILED", analytics.NotVerified, "rpc-greeting>verify>limited", "1111/2222", "whoever answered did not prove they are the debtor (hangup)", false, false, "", "", 0},
		// The runner's row for a script that failed before anyone was verified (identified).
		{"ERR-UNVERIFIED", analytics.NotVerified, "rpc-greeting>verify", "9", "whoever answered did not prove they are the debtor (error); then the script failed: no prompt", false, false, "", "", 0},
		{"ERR-VERIFIED", analytics.IVRError, "rpc-greeting>verify>overdue-intro", "4821", "amount: no currency", true, true, "", "", 0},
		{"UNCHECKED", analytics.Answered, "message>menu", "1", "", false, true, "", "", 0},
		{"SILENT", analytics.Answered, "rpc-greeting", "", "", false, false, "", "", 0},
		// Agent calls: bridged (talk_ms), and what the agent's code says.
		{"AGENT", analytics.Answered, "", "", "", false, true, "ag-1", "", 42000},
		{"AGENT-REFUSED", analytics.Answered, "", "", "", true, true, "ag-1", "refused", 30000},
		{"AGENT-WRONG", analytics.Answered, "", "", "", false, false, "ag-1", "wrong_party", 8000},
		{"AGENT-THIRD", analytics.Answered, "", "", "", false, false, "ag-1", "third_party", 9000},
		{"AGENT-MACHINE", analytics.Machine, "voicemail-limited", "", "", false, false, "ag-1", "", 2500},
		{"PREVIEW-UNBRIDGED", analytics.Answered, "", "", "the debtor hung up before an agent came", false, false, "ag-1", "", 0},
		// Keyed in the IVR, then an agent who says it is someone else: the
		// script's side counts it (no check was asked of it).
		{"IVR-THEN-AGENT", analytics.Answered, "menu>transfer", "3", "", false, true, "ag-1", "third_party", 12000},
	}
	for i, c := range calls {
		// As the runner: the gate reserves the call, the row is written,
		// and a conversation recorded when the row's rule says so.
		s := compliance.Subject{Phone: "+5691234600" + strconv.Itoa(i), Account: c.account, Country: "CL", DefaultZone: "America/Santiago",
			Campaign: "cl-rpc"}
		id := analytics.NewAttemptID()
		if d, err := e.gate.Reserve(ctx, profile, s, analytics.Voice, id, false); err != nil || !d.Allowed {
			t.Fatalf("%s: %+v %v", c.account, d, err)
		}
		a := &analytics.Attempt{AttemptID: id, CampaignID: "cl-rpc", AccountID: c.account, Phone: s.Phone, Channel: analytics.Voice, NodeID: "n1",
			StartedAt: at.Add(time.Duration(i) * time.Second), AnsweredAt: at.Add(time.Duration(i)*time.Second + 3*time.Second),
			EndedAt: at.Add(time.Duration(i)*time.Second + 40*time.Second), Disposition: c.disposition, Reason: c.reason, IVRPath: c.path,
			DTMF: c.dtmf, RightParty: c.right, SIPCode: 200, AgentID: c.agent, AgentCode: c.code, TalkMS: c.talk, Ver: 1}
		if got := analytics.Spoke(a.Channel, a.Disposition, a.IVRPath != "" && a.DTMF != "") ||
			analytics.AgentTalked(a.AgentID, a.TalkMS, a.Disposition, a.AgentCode, a.RightParty); got != c.conversation {
			t.Fatalf("%s: the live rule says conversation %v, want %v", c.account, got, c.conversation)
		}
		if c.conversation {
			for _, kind := range []string{compliance.KindContact, compliance.KindConversation} {
				if err := e.gate.Record(ctx, s, analytics.Voice, kind, id, e.gate.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := e.w.Write(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	e.flush(t)
	// The history of each debtor, as kinds counted (the gate's key).
	history := func(c call) map[string]int {
		t.Helper()
		ms, err := e.rdb.ZRange(ctx, "marcador:{debtor:acct:"+c.account+"}:history", 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, m := range ms {
			n[strings.Split(m, "|")[2]]++
		}
		return n
	}
	live := map[string]map[string]int{}
	for _, c := range calls {
		live[c.account] = history(c)
		want := map[string]int{compliance.KindAttempt: 1}
		if c.conversation {
			want[compliance.KindContact], want[compliance.KindConversation] = 1, 1
		}
		if !reflect.DeepEqual(live[c.account], want) {
			t.Fatalf("%s: live history %v, want %v", c.account, live[c.account], want)
		}
	}

	e.wipe(t)
	r, err := History(ctx, e.conn, e.db, e.gate, e.store)
	if err != nil {
		t.Fatal(err)
	}
	if r.Attempts != len(calls) {
		t.Fatalf("restore read %+v", r)
	}
	for _, c := range calls {
		if got := history(c); !reflect.DeepEqual(got, live[c.account]) {
			t.Errorf("%s (%s, keys %q): restored history %v, live %v", c.account, c.disposition, c.dtmf, got, live[c.account])
		}
	}
}
