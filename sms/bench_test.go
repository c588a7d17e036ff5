package sms_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twilio"
)

// BenchmarkSend is one text through the whole sender (idempotency claim,
// DNC, template, once-per-period mark, compliance reservation, rate slot,
// twilio-go request to the local server, attempt row, send record);
// BenchmarkProviderOnly is the bare twilio-go request to the same server,
// the baseline. Run both in one go:
//
//	go test -run '^$' -bench 'Send|ProviderOnly' -benchtime 3000x ./sms/
func BenchmarkSend(b *testing.B) {
	h := newHarness(b, "MX")
	ctx := context.Background()
	c, _ := h.store.Campaign(ctx, h.camp)
	c.SMS.TemplatePeriod = queue.Duration(time.Millisecond) // each debtor may get the template again at once
	h.store.PutCampaign(ctx, c, time.Now())
	const pool = 500
	var accts []queue.Account
	base := time.Now().UnixNano() % 1e5
	for i := range pool {
		accts = append(accts, queue.Account{ID: fmt.Sprintf("B-%d", i), NationalID: fmt.Sprintf("bench-%d-%d", base, i), Name: "Ana",
			Phones: []queue.Phone{{Number: fmt.Sprintf("+52551%05d%03d", base, i)}}, Balance: decimal.NewFromInt(100), Currency: "MXN", Country: "MX"})
	}
	if _, err := h.store.Load(ctx, h.camp, accts, time.Now()); err != nil {
		b.Fatal(err)
	}
	tpls, _ := sms.LoadTemplates("")
	p, _ := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, From: from, APIURL: h.twilio.URL()})
	s := sms.NewSender(sms.SenderOptions{Provider: p, Queue: h.store, Store: h.texts, Gate: h.gate, Writer: h.w, Templates: tpls, Rate: 1e6, Now: h.clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	b.ResetTimer()
	for i := range b.N {
		res, err := s.Send(ctx, sms.Request{Key: fmt.Sprintf("%s/bench/%d", h.camp, i), Campaign: h.camp,
			Account: accts[i%pool].ID, Template: "missed-call"})
		if err != nil || res.Outcome != sms.Sent {
			b.Fatalf("send %d: %+v %v", i, res, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkProviderOnly(b *testing.B) {
	h := newHarness(b, "MX")
	p, _ := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, From: from, APIURL: h.twilio.URL()})
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := p.Send(ctx, sms.Message{Channel: analytics.SMS, To: fmt.Sprintf("+5255%08d", i), Body: "Hola Ana, te llamamos por tu cuenta."}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
