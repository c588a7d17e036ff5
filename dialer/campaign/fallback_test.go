package campaign

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twilio"
	"github.com/marcador/marcador/sms/twiliotest"
)

// A call that ends no_answer (or busy) is followed by the campaign's text:
// it goes out through the local Twilio server, its delivered callback comes
// back signed, and ClickHouse holds the call and the text.
func TestFallbackTextAfterUnansweredCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t)
	const acSID, token = "AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"
	fake, err := twiliotest.Start(twiliotest.Options{AccountSID: acSID, AuthToken: token, Numbers: []string{"+15005550006"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	mux := http.NewServeMux()
	hooks := httptest.NewServer(mux)
	defer hooks.Close()
	p, _ := twilio.New(twilio.Config{AccountSID: acSID, AuthToken: token, From: "+15005550006", APIURL: fake.URL()})
	tpls, _ := sms.LoadTemplates("")
	// The SMS outbox of its own, so no run sends another's texts.
	texts := sms.NewStore(sms.StoreOptions{Client: h.rdb, OutboxKey: redistest.Key(t, h.rdb, "marcador:sms:outbox")})
	sender := sms.NewSender(sms.SenderOptions{Provider: p, Queue: h.store, Store: texts, Gate: h.gate, Writer: h.w, Templates: tpls,
		PublicURL: hooks.URL, Rate: 20, Node: "e2e"})
	mux.Handle("POST /webhooks/twilio/status", sender.StatusHandler(twilio.NewValidator(token, hooks.URL)))
	sctx, stopSender := context.WithCancel(ctx)
	senderDone := make(chan error)
	go func() { senderDone <- sender.Run(sctx) }()
	defer func() { stopSender(); <-senderDone }()

	line := newSimLine(t, simcarrier.Options{ByLastDigit: true,
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 6 * time.Second, Max: 6 * time.Second},
		DigitsFor: func(string) string { return "" }, Record: true}, // the person listens, and hangs up after 6 s (a loaded machine starts speaking late)
		media.PortRange{Min: 46000, Max: 46499}, 20, 10)
	sim := line.sim
	id := h.putIVRCampaign(t, ctx, func(c *queue.Campaign) {
		c.RingTimeout, c.Company = queue.Duration(15*time.Second), "Financiera Sol"
		c.Retry = queue.RetryPolicy{MaxAttempts: 1}
		c.SMS = queue.SMSPolicy{Fallback: []queue.FallbackRule{{After: []string{"no_answer", "busy"}, Template: "missed-call"}}}
	})
	run := time.Now().UnixNano() % 1e6
	numbers := map[string]string{ // by last digit: 7 rings out, 6 busy, 0 a person who says nothing
		"NA": fmt.Sprintf("+52551%06d7", run), "BZ": fmt.Sprintf("+52551%06d6", run), "HU": fmt.Sprintf("+52551%06d0", run)}
	var accts []queue.Account
	for acct, n := range numbers {
		accts = append(accts, queue.Account{ID: acct, NationalID: fmt.Sprint(run) + acct, Name: "Ana Pérez", Country: "MX",
			Phones: []queue.Phone{{Number: n}}, Balance: decimal.NewFromInt(3200), Currency: "MXN"})
	}
	h.load(t, ctx, id, accts)
	opt := h.runnerOptions(line, "e2e")
	opt.SendSMS = func(ctx context.Context, m SMSRequest) error {
		return sender.Enqueue(ctx, sms.Request{Key: m.Key, Campaign: m.Campaign, Account: m.Account, Phone: m.Phone,
			Channel: analytics.Channel(m.Channel), Template: m.Template, Link: m.Link, Vars: m.Vars}, time.Now())
	}
	r := New(opt)
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !polltest.Until(60*time.Second, func() bool {
		// Only this test's texts (its outbox is its own, see above;
		// the numbers make sure).
		ours := map[string]bool{}
		for _, m := range fake.Messages() {
			if m.To == numbers["NA"] || m.To == numbers["BZ"] {
				ours[m.SID] = true
			}
		}
		delivered := 0
		for _, cb := range fake.Callbacks() {
			if ours[cb.SID] && cb.Status == "delivered" && cb.HTTPStatus == http.StatusNoContent {
				delivered++
			}
		}
		return delivered == 2
	}) {
		t.Fatalf("texts: %+v callbacks %+v", fake.Messages(), fake.Callbacks())
	}
	r.Stop(ctx, id)
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	rows, err := h.conn.Query(ctx, "SELECT account_id, channel, disposition, message_status, template, ver FROM "+h.db+
		".contact_attempts FINAL WHERE campaign_id = ? ORDER BY started_at", id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var acct, ch, disp, status, tpl string
		var ver uint64
		if err := rows.Scan(&acct, &ch, &disp, &status, &tpl, &ver); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprintf("v%d", ver)
		if ch == "sms" && ver >= 2 {
			// Rewritten by the delivery status: v3 when Twilio's "sent"
			// came after the send was saved, v2 when it came before (parked,
			// then applied to a send saved as sent already: nothing new; a
			// loaded machine does that).
			v = "v2+"
		}
		got[acct+"/"+ch] = fmt.Sprintf("%s %s %s %s", disp, status, tpl, v)
	}
	rows.Close()
	want := map[string]string{
		"NA/voice": "no_answer   v1", "NA/sms": "delivered delivered missed-call v2+",
		"BZ/voice": "busy   v1", "BZ/sms": "delivered delivered missed-call v2+",
		"HU/voice": "not_verified   v1", // answered; nobody proved who they are
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("attempts in ClickHouse:\n got %v\nwant %v", got, want)
	}
	for _, m := range fake.Messages() {
		if m.To == numbers["HU"] {
			t.Fatalf("text to %s, who answered", m.To)
		}
	}
	heardBeforeKeys(t, sim, 1)
}
