package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twiliotest"
)

// settle waits until nothing in the outbox is due, every message has had
// its final status callback, and that holds for half a second (a text
// being sent is out of the outbox but not yet at the server).
func (r *run) settle(ctx context.Context) {
	deadline := time.Now().Add(30 * time.Second)
	stable := 0
	for time.Now().Before(deadline) && stable < 5 {
		due, _ := r.app.Texts.OutboxDue(ctx, time.Now())
		final, sent := 0, 0
		for _, cb := range r.twilio.Callbacks() {
			if cb.Status != "sent" {
				final++
			}
		}
		for _, m := range r.twilio.Messages() {
			if m.Direction == "outbound-api" {
				sent++
			}
		}
		if due == 0 && final == sent {
			stable++
		} else {
			stable = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// texts tells what the fallback texts did and has three debtors reply.
func (r *run) texts(ctx context.Context, campaignID string) error {
	r.settle(ctx)
	var texted []twiliotest.Message
	for _, m := range r.twilio.Messages() {
		if m.Direction == "outbound-api" {
			texted = append(texted, m)
		}
	}
	r.p("\n   Unanswered calls fall back to SMS (sms.fallback: after no_answer or busy, template missed-call), through the gate,\n")
	r.p("   sent with twilio-go to a local Twilio-compatible server at %s; its signed status callbacks reach %s/webhooks/twilio/status\n",
		r.twilio.URL(), r.hooksURL)
	if len(texted) == 0 {
		r.p("   (no call went unanswered this run)\n")
		return nil
	}
	ex := texted[0]
	enc, segs := sms.Segments(ex.Body)
	r.p("   e.g. to %s (%s, %d segments):\n      %q\n", ex.To, enc, segs, ex.Body)
	if enc == sms.UCS2 {
		tenc, tsegs := sms.Segments(sms.Transliterate(ex.Body))
		r.p("   with the campaign option sms.transliterate it would go as %s in %d segments (á→a; é, ñ, ¿ stay)\n", tenc, tsegs)
	}
	if err := r.replies(texted); err != nil {
		return err
	}
	return r.printTexts(ctx, campaignID)
}

// replies has texted debtors answer: one BAJA (opted out and confirmed),
// one PAGO (the payment link comes back), one a free message (kept for
// agents).
func (r *run) replies(texted []twiliotest.Message) error {
	hook := r.hooksURL + "/webhooks/twilio/inbound"
	for i, body := range []string{"Baja", "PAGO", "ya pagué en la sucursal"} {
		if i >= len(texted) {
			break
		}
		to := texted[len(texted)-1-i].To
		replies, status, err := r.twilio.Inbound(hook, to, twilioFrom, body)
		if err != nil {
			return err
		}
		reply := "(no reply: kept as a conversation message for agents)"
		if len(replies) > 0 {
			reply = fmt.Sprintf("%q", replies[0])
		}
		r.p("   %s replies %q → HTTP %d, %s\n", to, body, status, reply)
	}
	return nil
}
