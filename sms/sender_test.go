package sms_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/analytics/writer/writertest"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twilio"
	"github.com/marcador/marcador/sms/twiliotest"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "0123456789abcdef0123456789abcdef"
	from  = "+15005550006"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type harness struct {
	store  *queue.Store
	texts  *sms.Store
	gate   *compliance.Gate
	w      *writer.Writer
	conn   driver.Conn
	db     string
	twilio *twiliotest.Server
	sender *sms.Sender
	opt    sms.SenderOptions // h.sender's, for a test that needs a sender of its own
	hooks  *httptest.Server
	clock  *clock
	camp   string
}

func newHarness(t testing.TB, profile string) *harness {
	t.Helper()
	ctx := context.Background()
	rdb := redistest.Client(t)
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	w := writertest.Start(t, conn, db)
	// Tuesday 11:00 in Mexico City and Santiago: inside every SMS window.
	clk := &clock{t: time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CST", -6*3600))}
	cal, _ := compliance.LoadCalendars("", nil)
	gate, err := compliance.NewGate(compliance.GateOptions{Client: rdb, Calendars: cal, Profiles: compliance.Builtin(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	// An outbox of its own: the shared one may hold texts of other runs,
	// which this sender (its clock days ahead) would send and count.
	store := queue.New(queue.Options{Client: rdb, NodeID: "smstest"})
	texts := sms.NewStore(sms.StoreOptions{Client: rdb, OutboxKey: redistest.Key(t, rdb, "marcador:sms:outbox")})
	fake, err := twiliotest.Start(twiliotest.Options{AccountSID: sid, AuthToken: token, Numbers: []string{from}, CallbackDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	h := &harness{store: store, texts: texts, gate: gate, w: w, conn: conn, db: db, twilio: fake, clock: clk}
	mux := http.NewServeMux()
	h.hooks = httptest.NewServer(mux)
	t.Cleanup(h.hooks.Close)
	p, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, From: from, APIURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	tpls, err := sms.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	h.opt = sms.SenderOptions{Provider: p, Queue: store, Store: texts, Gate: gate, Writer: w, Templates: tpls,
		Link:      func(c queue.Campaign, a queue.Account) string { return "https://pay.example/p/" + a.ID },
		PublicURL: h.hooks.URL, Rate: 50, Backoff: 20 * time.Millisecond, Node: "smstest", Now: clk.Now}
	h.sender = sms.NewSender(h.opt)
	v := twilio.NewValidator(token, h.hooks.URL)
	mux.Handle("POST /webhooks/twilio/status", h.sender.StatusHandler(v))
	mux.Handle("POST /webhooks/twilio/inbound", h.sender.InboundHandler(v))

	h.camp = redistest.CampaignID(t, rdb)
	cc := queue.Campaign{ID: h.camp, Country: profile, Profile: profile, TimeZone: "America/Mexico_City", Company: "Financiera Sol"}
	if profile == "CL" {
		cc.TimeZone = "America/Santiago"
	}
	if _, err := store.PutCampaign(ctx, cc, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pat := range []string{"marcador:sms:send:{" + h.camp + "/*", "marcador:sms:tpl:{" + h.camp + "/*"} {
			iter := rdb.Scan(ctx, 0, pat, 100).Iterator()
			for iter.Next(ctx) {
				rdb.Del(ctx, iter.Val())
			}
		}
	})
	return h
}

// account loads one debtor with a fresh number ending in n.
func (h *harness) account(t *testing.T, id, number string) queue.Account {
	t.Helper()
	a := queue.Account{ID: id, Name: "Ana Pérez", Phones: []queue.Phone{{Number: number}}, Balance: decimal.RequireFromString("1250.50"),
		Currency: "MXN", Country: "MX", Language: "es"}
	if strings.HasPrefix(number, "+56") {
		a.Country, a.Currency = "CL", "CLP"
	}
	ctx := context.Background()
	h.gate.Forget(ctx, compliance.Subject{Phone: number, Account: id})
	h.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: number, Channel: "all"})
	if _, err := h.store.Load(ctx, h.camp, []queue.Account{a}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return a
}

func (h *harness) send(t *testing.T, key, acct, tpl string) sms.Result {
	t.Helper()
	res, err := h.sender.Send(context.Background(), sms.Request{Key: h.camp + "/" + key, Campaign: h.camp, Account: acct, Template: tpl})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// row reads an attempt's newest version.
func (h *harness) row(t *testing.T, attempt string) (disposition, status string, code uint32, ver uint64, segs uint8) {
	t.Helper()
	ctx := context.Background()
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	err := h.conn.QueryRow(ctx, "SELECT disposition, message_status, message_error, ver, segments FROM "+h.db+
		".contact_attempts FINAL WHERE attempt_id = ?", attempt).Scan(&disposition, &status, &code, &ver, &segs)
	if err != nil {
		t.Fatalf("attempt %s: %v", attempt, err)
	}
	return
}

// waitCallbacks waits until the fake made n callbacks for sid.
func (h *harness) waitCallbacks(t *testing.T, msgSID string, n int) []twiliotest.Callback {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []twiliotest.Callback
		for _, c := range h.twilio.Callbacks() {
			if c.SID == msgSID {
				got = append(got, c)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d callbacks, want %d", msgSID, len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSendDeliverAndRetryNeverTwice(t *testing.T) {
	h := newHarness(t, "MX")
	n := fmt.Sprintf("+5255%08d", time.Now().UnixNano()%1e8)
	h.account(t, "MX-1", n)
	res := h.send(t, "call-1/fallback/0", "MX-1", "missed-call")
	if res.Outcome != sms.Sent || res.SID == "" || res.Rendered.Encoding != sms.UCS2 || res.Rendered.Segments != 3 {
		t.Fatalf("send: %+v", res)
	}
	cbs := h.waitCallbacks(t, res.SID, 2)
	for _, c := range cbs {
		if c.HTTPStatus != http.StatusNoContent {
			t.Fatalf("callback %+v answered %d", c, c.HTTPStatus)
		}
	}
	if d, st, _, ver, segs := h.row(t, res.AttemptID); d != "delivered" || st != "delivered" || ver != 3 || segs != 3 {
		t.Fatalf("row: %s %s ver %d segments %d", d, st, ver, segs)
	}
	msgs := h.twilio.Messages()
	if len(msgs) != 1 || msgs[0].To != n || !strings.Contains(msgs[0].Body, "$1,250.50 MXN") ||
		!strings.Contains(msgs[0].Body, "https://pay.example/p/MX-1") || !strings.HasPrefix(msgs[0].StatusCallback, h.hooks.URL+"/webhooks/twilio/status") {
		t.Fatalf("twilio saw %+v", msgs)
	}

	if conv, err := h.sender.Conversation(context.Background(), n); err != nil || len(conv) != 1 || conv[0].Direction != "outbound" ||
		conv[0].SID != res.SID {
		t.Fatalf("conversation: %+v %v", conv, err)
	}

	// The same request again (a retry after a timeout, a redelivered
	// outbox item): nothing is sent.
	creates := h.twilio.Creates()
	again := h.send(t, "call-1/fallback/0", "MX-1", "missed-call")
	if again.Outcome != sms.Duplicate || again.SID != res.SID || again.AttemptID != res.AttemptID || h.twilio.Creates() != creates {
		t.Fatalf("retried request: %+v, creates %d -> %d", again, creates, h.twilio.Creates())
	}
	// Another attempt's fallback with the same template within the week:
	// skipped, not sent.
	if r := h.send(t, "call-2/fallback/0", "MX-1", "missed-call"); r.Outcome != sms.Skipped || h.twilio.Creates() != creates {
		t.Fatalf("same template again: %+v", r)
	}
	// A different template goes.
	if r := h.send(t, "call-2/ivr/payment-link", "MX-1", "payment-link"); r.Outcome != sms.Sent {
		t.Fatalf("payment link: %+v", r)
	}
}

func TestProviderFailures(t *testing.T) {
	h := newHarness(t, "MX")
	base := time.Now().UnixNano() % 1e7
	num := func(i int) string { return fmt.Sprintf("+5255%07d%d", base, i) }
	for i, o := range []twiliotest.Outcome{
		{Ambiguous: 1},                           // created, but the answer was a 500
		{Throttle: 2},                            // 429 twice, then accepted
		{Fail: 1},                                // 500 without creating, then accepted
		{CreateError: 21211},                     // invalid number
		{CreateError: 21610},                     // unsubscribed at Twilio
		{Final: "undelivered", ErrorCode: 30003}, // unreachable handset
		{Throttle: 10},                           // never gets through
		{Final: "undelivered", ErrorCode: 30006}, // landline
	} {
		h.twilio.SetOutcome(num(i), o)
		h.account(t, fmt.Sprintf("F-%d", i), num(i))
	}
	count := func(to string) int {
		n := 0
		for _, m := range h.twilio.Messages() {
			if m.To == to {
				n++
			}
		}
		return n
	}
	ctx := context.Background()
	res := make([]sms.Result, 8)
	for i := range res {
		res[i] = h.send(t, fmt.Sprintf("f%d", i), fmt.Sprintf("F-%d", i), "payment-link")
	}
	if res[0].Outcome != sms.Sent || count(num(0)) != 1 {
		t.Fatalf("ambiguous 500: %+v, %d messages", res[0], count(num(0)))
	}
	if res[1].Outcome != sms.Sent || count(num(1)) != 1 || res[2].Outcome != sms.Sent || count(num(2)) != 1 {
		t.Fatalf("429/500 retried: %+v %+v", res[1], res[2])
	}
	if d, _, code, _, _ := h.row(t, res[3].AttemptID); res[3].Outcome != sms.Failed || d != "invalid_number" || code != 21211 {
		t.Fatalf("21211: %+v row %s %d", res[3], d, code)
	}
	if _, listed, _ := h.gate.LookupDNC(ctx, num(3), analytics.Voice, h.camp); !listed {
		t.Fatal("21211 did not suppress the number")
	}
	if d, _, code, _, _ := h.row(t, res[4].AttemptID); d != "opted_out" || code != 21610 {
		t.Fatalf("21610 row %s %d", d, code)
	}
	_, smsListed, _ := h.gate.LookupDNC(ctx, num(4), analytics.SMS, h.camp)
	_, voiceListed, _ := h.gate.LookupDNC(ctx, num(4), analytics.Voice, h.camp)
	if !smsListed || voiceListed {
		t.Fatalf("21610: sms listed %v, voice listed %v; want only sms", smsListed, voiceListed)
	}
	h.waitCallbacks(t, res[5].SID, 2)
	if d, st, code, ver, _ := h.row(t, res[5].AttemptID); d != "undelivered" || st != "undelivered" || code != 30003 || ver != 3 {
		t.Fatalf("30003 row %s %s %d ver %d", d, st, code, ver)
	}
	if res[6].Outcome != sms.Failed || !strings.Contains(res[6].Reason, "gave up after 4 tries") {
		t.Fatalf("throttled for good: %+v", res[6])
	}
	h.waitCallbacks(t, res[7].SID, 2)
	if _, listed, _ := h.gate.LookupDNC(ctx, num(7), analytics.SMS, h.camp); !listed {
		t.Fatal("30006 (landline) did not suppress texting the number")
	}
	// A text to a suppressed number is blocked before Twilio sees it.
	creates := h.twilio.Creates()
	if r := h.send(t, "f3-again", "F-3", "missed-call"); r.Outcome != sms.Blocked || h.twilio.Creates() != creates {
		t.Fatalf("suppressed number: %+v", r)
	}
}

// Twilio may call back before its answer to the create reaches us: the
// statuses wait for the send to be recorded and are applied then, in order.
func TestStatusBeforeTheCreateAnswer(t *testing.T) {
	h := newHarness(t, "MX")
	n := fmt.Sprintf("+5255%08d", time.Now().UnixNano()%1e8)
	h.twilio.SetOutcome(n, twiliotest.Outcome{CallbackFirst: true, Final: "undelivered", ErrorCode: 30003})
	h.account(t, "E-1", n)
	r := h.send(t, "early-1", "E-1", "payment-link")
	if r.Outcome != sms.Sent {
		t.Fatalf("send: %+v", r)
	}
	h.waitCallbacks(t, r.SID, 2)
	if d, st, code, ver, _ := h.row(t, r.AttemptID); d != "undelivered" || st != "undelivered" || code != 30003 || ver != 3 {
		t.Fatalf("row %s %s %d ver %d", d, st, code, ver)
	}
}

// Chile allows two texts a week at least two days apart: the second is
// blocked by the gate and deferred to when it is allowed, then sent from
// the outbox.
func TestGateDefersToOutbox(t *testing.T) {
	h := newHarness(t, "CL")
	n := fmt.Sprintf("+569%08d", time.Now().UnixNano()%1e8)
	h.account(t, "CL-1", n)
	if r := h.send(t, "cl-1", "CL-1", "missed-call"); r.Outcome != sms.Sent {
		t.Fatalf("first: %+v", r)
	}
	r := h.send(t, "cl-2", "CL-1", "payment-link")
	if r.Outcome != sms.Blocked || r.Deferred.IsZero() || !strings.Contains(r.Reason, "less than 2d ago") {
		t.Fatalf("second within 2 days: %+v", r)
	}
	if d, _, _, _, _ := h.row(t, r.AttemptID); d != "blocked" {
		t.Fatalf("blocked row: %s", d)
	}
	h.clock.Set(r.Deferred.Add(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.sender.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.twilio.Messages()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("deferred text not sent from the outbox")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if m := h.twilio.Messages(); !strings.Contains(m[1].Body, "enlace de pago") {
		t.Fatalf("deferred text: %+v", m[1])
	}
}

func TestStatusWebhookSignature(t *testing.T) {
	h := newHarness(t, "MX")
	n := fmt.Sprintf("+5255%08d", time.Now().UnixNano()%1e8)
	h.account(t, "S-1", n)
	res := h.send(t, "sig-1", "S-1", "payment-link")
	h.waitCallbacks(t, res.SID, 2)
	u := h.hooks.URL + "/webhooks/twilio/status"
	post := func(form url.Values, sig string) int {
		req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	form := url.Values{"MessageSid": {res.SID}, "MessageStatus": {"read"}, "AccountSid": {sid}}
	good := twiliotest.Sign(token, u, form)
	tampered := url.Values{"MessageSid": {res.SID}, "MessageStatus": {"failed"}, "AccountSid": {sid}, "ErrorCode": {"30007"}}
	if c := post(tampered, good); c != http.StatusForbidden {
		t.Fatalf("tampered: %d", c)
	}
	if c := post(form, ""); c != http.StatusForbidden {
		t.Fatalf("missing: %d", c)
	}
	if c := post(form, twiliotest.Sign("ffffffffffffffffffffffffffffffff", u, form)); c != http.StatusForbidden {
		t.Fatalf("other key: %d", c)
	}
	if _, st, _, _, _ := h.row(t, res.AttemptID); st != "delivered" {
		t.Fatalf("a refused callback changed the row: %s", st)
	}
	if c := post(form, good); c != http.StatusNoContent {
		t.Fatalf("correct: %d", c)
	}
	// A late "sent" after "read" changes nothing.
	late := url.Values{"MessageSid": {res.SID}, "MessageStatus": {"sent"}}
	if c := post(late, twiliotest.Sign(token, u, late)); c != http.StatusNoContent {
		t.Fatalf("late: %d", c)
	}
	if _, st, _, ver, _ := h.row(t, res.AttemptID); st != "read" || ver != 4 {
		t.Fatalf("after read and a late sent: %s ver %d", st, ver)
	}
}

func TestInboundKeywords(t *testing.T) {
	h := newHarness(t, "MX")
	ctx := context.Background()
	base := time.Now().UnixNano() % 1e7
	hook := h.hooks.URL + "/webhooks/twilio/inbound"
	cases := []struct {
		body, reply string
		optout      bool
		whatsapp    bool
	}{
		{"STOP", "no recibirás más mensajes", true, false},
		{"baja", "no recibirás más mensajes", true, false},
		{"¡Alto!", "no recibirás más mensajes", true, false},
		{"CANCELÁR", "no recibirás más mensajes", true, true},
		{"Unsubscribe", "no recibirás más mensajes", true, false},
		{"pago", "https://pay.example/p/", false, false},
		{"LINK", "https://pay.example/p/", false, true},
		{"ya pagué ayer, revisen por favor", "", false, false},
	}
	for i, c := range cases {
		n := fmt.Sprintf("+5255%07d%d", base, i)
		h.account(t, fmt.Sprintf("IN-%d", i), n)
		fromAddr := n
		if c.whatsapp {
			fromAddr = "whatsapp:" + n
		}
		replies, status, err := h.twilio.Inbound(hook, fromAddr, from, c.body)
		if err != nil || status != 200 {
			t.Fatalf("%q: status %d %v", c.body, status, err)
		}
		if c.reply == "" && len(replies) != 0 || c.reply != "" && (len(replies) != 1 || !strings.Contains(replies[0], c.reply)) {
			t.Errorf("%q: replies %q, want %q", c.body, replies, c.reply)
		}
		ch := analytics.SMS
		other := analytics.WhatsApp
		if c.whatsapp {
			ch, other = analytics.WhatsApp, analytics.SMS
		}
		_, listed, _ := h.gate.LookupDNC(ctx, n, ch, h.camp)
		_, otherListed, _ := h.gate.LookupDNC(ctx, n, other, h.camp)
		if listed != c.optout || otherListed {
			t.Errorf("%q: %s listed %v (want %v), %s listed %v", c.body, ch, listed, c.optout, other, otherListed)
		}
		conv, err := h.sender.Conversation(ctx, n)
		if err != nil || len(conv) == 0 || conv[0].Body != c.body || conv[0].Account != fmt.Sprintf("IN-%d", i) {
			t.Errorf("%q: conversation %+v %v", c.body, conv, err)
		}
	}
	// The first debtor asks to get texts again: the listing made by text goes.
	n0 := fmt.Sprintf("+5255%07d%d", base, 0)
	replies, _, _ := h.twilio.Inbound(hook, n0, from, "Reactivar")
	if _, listed, _ := h.gate.LookupDNC(ctx, n0, analytics.SMS, h.camp); listed || len(replies) != 1 || !strings.Contains(replies[0], "volverás a recibir") {
		t.Fatalf("opt back in: listed %v, replies %q", listed, replies)
	}
	// A listing made another way (the creditor's) is not undone by a text.
	h.gate.AddDNC(ctx, compliance.DNCEntry{Phone: n0, Channel: "sms", Source: "api", Reason: "creditor"})
	replies, _, _ = h.twilio.Inbound(hook, n0, from, "START")
	if _, listed, _ := h.gate.LookupDNC(ctx, n0, analytics.SMS, h.camp); !listed || len(replies) != 0 {
		t.Fatalf("start against a creditor listing: listed %v, replies %q", listed, replies)
	}
	// An English debtor unknown to us gets the English reply.
	stranger := fmt.Sprintf("+1415%07d", base)
	h.gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: stranger, Channel: "all"})
	replies, _, _ = h.twilio.Inbound(hook, stranger, from, "stop")
	if len(replies) != 1 || !strings.Contains(replies[0], "You will not receive") {
		t.Fatalf("unknown sender: %q", replies)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var inbound, repl, conversations uint64
	h.conn.QueryRow(ctx, "SELECT countIf(direction = 'inbound'), countIf(direction = 'reply'), countIf(action = 'conversation') FROM "+
		h.db+".messages FINAL").Scan(&inbound, &repl, &conversations)
	if inbound != 11 || repl != 9 || conversations != 1 {
		t.Fatalf("messages rows: inbound %d replies %d conversations %d", inbound, repl, conversations)
	}
	// Unsigned inbound requests are refused.
	resp, err := http.Post(hook, "application/x-www-form-urlencoded", strings.NewReader("From=%2B1&Body=STOP&MessageSid=SM1"))
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned inbound: %v %v", resp, err)
	}
	resp.Body.Close()
}
