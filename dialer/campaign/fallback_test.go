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
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
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

	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, RTPPorts: media.PortRange{Min: 46000, Max: 46499},
		Ring: simcarrier.Range{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond}, Talk: simcarrier.Range{Min: 3 * time.Second, Max: 3 * time.Second},
		DigitsFor: func(string) string { return "" }, Record: true}) // the person listens, and hangs up after 3 s
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 46500, Max: 46999}})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	trunk, _ := dialer.NewTrunk(dialer.TrunkConfig{Name: "sim", URI: "sip:" + sim.Addr(), CallerID: "+525550000100", CPS: 20, MaxChannels: 10})
	id := redistest.CampaignID(t, h.rdb)
	c := queue.Campaign{ID: id, Mode: queue.ModeIVR, Country: "MX", TimeZone: "America/Mexico_City", Profile: "MX", Trunk: "sim",
		Script: "reminder-overdue", Language: "es", RingTimeout: queue.Duration(15 * time.Second), Company: "Financiera Sol",
		Retry: queue.RetryPolicy{MaxAttempts: 1},
		SMS:   queue.SMSPolicy{Fallback: []queue.FallbackRule{{After: []string{"no_answer", "busy"}, Template: "missed-call"}}}}
	if _, err := h.store.PutCampaign(ctx, c, time.Now()); err != nil {
		t.Fatal(err)
	}
	run := time.Now().UnixNano() % 1e6
	numbers := map[string]string{ // by last digit: 7 rings out, 6 busy, 0 a person who says nothing
		"NA": fmt.Sprintf("+52551%06d7", run), "BZ": fmt.Sprintf("+52551%06d6", run), "HU": fmt.Sprintf("+52551%06d0", run)}
	var accts []queue.Account
	for acct, n := range numbers {
		accts = append(accts, queue.Account{ID: acct, NationalID: fmt.Sprint(run) + acct, Name: "Ana Pérez", Country: "MX",
			Phones: []queue.Phone{{Number: n}}, Balance: decimal.NewFromInt(3200), Currency: "MXN"})
	}
	h.fresh(ctx, accts)
	if _, err := h.store.Load(ctx, id, accts, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	scripts, _ := script.Shipped()
	r := New(Options{Store: h.store, Gate: h.gate, Endpoint: ep, Trunks: map[string]*dialer.Trunk{"sim": trunk}, Writer: h.w,
		Scripts: scripts, Library: prompts.NewLibrary(""), Node: "e2e",
		SendSMS: func(ctx context.Context, m SMSRequest) error {
			return sender.Enqueue(ctx, sms.Request{Key: m.Key, Campaign: m.Campaign, Account: m.Account, Phone: m.Phone,
				Channel: analytics.Channel(m.Channel), Template: m.Template, Link: m.Link, Vars: m.Vars}, time.Now())
		}})
	defer r.Close()
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
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
		if delivered == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("texts: %+v callbacks %+v", fake.Messages(), fake.Callbacks())
		}
		time.Sleep(100 * time.Millisecond)
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
		got[acct+"/"+ch] = fmt.Sprintf("%s %s %s v%d", disp, status, tpl, ver)
	}
	rows.Close()
	want := map[string]string{
		"NA/voice": "no_answer   v1", "NA/sms": "delivered delivered missed-call v3",
		"BZ/voice": "busy   v1", "BZ/sms": "delivered delivered missed-call v3",
		"HU/voice": "answered   v1",
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
