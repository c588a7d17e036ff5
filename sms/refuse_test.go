package sms_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twiliotest"
)

// A text carries the debtor's name, account and balance: it goes to one of
// the account's phones or nowhere, and a request that names a template that
// does not exist is refused before anything is claimed, sent or recorded.
func TestSendRefusesStrangersAndUnknownTemplates(t *testing.T) {
	h := newHarness(t, "MX")
	base := time.Now().UnixNano() % 1e7
	own := fmt.Sprintf("+5255%07d1", base)
	stranger := fmt.Sprintf("+5255%07d2", base)
	h.account(t, "RF-1", own)
	ctx := context.Background()
	send := func(key, phone, tpl string) (sms.Result, error) {
		return h.sender.Send(ctx, sms.Request{Key: h.camp + "/" + key, Campaign: h.camp, Account: "RF-1", Phone: phone, Template: tpl})
	}
	for _, c := range []struct {
		key, phone, tpl string
		want            error
	}{
		{"stranger", stranger, "payment-link", sms.ErrRefused},
		{"stranger-national", stranger[3:], "payment-link", sms.ErrRefused},
		{"garbage", "12", "payment-link", sms.ErrInvalidRequest},
		{"no-template", own, "no-such-template", sms.ErrRefused},
		{"brace{key}", own, "payment-link", sms.ErrInvalidRequest},
	} {
		res, err := send(c.key, c.phone, c.tpl)
		if !errors.Is(err, c.want) || res.Outcome != "" {
			t.Errorf("%s: %+v %v, want %v", c.key, res, err, c.want)
		}
	}
	if n := h.twilio.Creates(); n != 0 {
		t.Fatalf("twilio asked %d times for refused requests", n)
	}
	// The refused key was not used up: the corrected request goes, to the
	// account's own number written nationally.
	res, err := send("no-template", own[3:], "payment-link")
	if err != nil || res.Outcome != sms.Sent {
		t.Fatalf("corrected request: %+v %v", res, err)
	}
	if msgs := h.twilio.Messages(); len(msgs) != 1 || msgs[0].To != own {
		t.Fatalf("twilio saw %+v", msgs)
	}
}

// Twilio may deliver the same inbound message more than once (a retry after
// a timeout, a replayed request): it is one conversation entry, one
// messages row, one reply.
func TestInboundReplayedSIDCountsOnce(t *testing.T) {
	h := newHarness(t, "MX")
	ctx := context.Background()
	n := fmt.Sprintf("+5255%08d", time.Now().UnixNano()%1e8)
	h.account(t, "RP-1", n)
	hook := h.hooks.URL + "/webhooks/twilio/inbound"
	msid := fmt.Sprintf("SM%032x", time.Now().UnixNano())
	form := url.Values{"AccountSid": {sid}, "From": {n}, "To": {from}, "Body": {"pago"}, "MessageSid": {msid}}
	var bodies []string
	for range 3 {
		req, _ := http.NewRequest("POST", hook, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliotest.Sign(token, hook, form))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("replay: %d %s", resp.StatusCode, b)
		}
		bodies = append(bodies, string(b))
	}
	if !strings.Contains(bodies[0], "https://pay.example/p/RP-1") || strings.Contains(bodies[1], "<Message>") || strings.Contains(bodies[2], "<Message>") {
		t.Fatalf("replies %q", bodies)
	}
	conv, err := h.sender.Conversation(ctx, n)
	if err != nil || len(conv) != 2 || conv[0].SID != msid || conv[1].Direction != "reply" {
		t.Fatalf("conversation %+v %v", conv, err)
	}
	if err := h.w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var rows uint64
	if err := h.conn.QueryRow(ctx, "SELECT count() FROM "+h.db+".messages WHERE message_sid IN (?, ?)", msid, msid+"/reply").Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("messages rows for %s: %d %v", msid, rows, err)
	}
	// Another message from the number is new.
	if _, status, err := h.twilio.Inbound(hook, n, from, "hola"); err != nil || status != 200 {
		t.Fatalf("next message: %d %v", status, err)
	}
	if conv, _ := h.sender.Conversation(ctx, n); len(conv) != 3 {
		t.Fatalf("conversation after a new message: %+v", conv)
	}
}
