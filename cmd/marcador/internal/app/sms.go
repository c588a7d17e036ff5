package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twilio"
)

// newSender builds the SMS/WhatsApp sender and the webhook signature check
// from twilio: and sms:; both are nil when twilio.account_sid is empty.
// ready (may be nil) holds texting while Redis lost its data.
func newSender(cfg config.Config, store *queue.Store, texts *sms.Store, gate *compliance.Gate, w sms.Writer, ready func() error, log *slog.Logger,
	now func() time.Time) (*sms.Sender, sms.Verifier, error) {
	t := cfg.Twilio
	if t.AccountSID == "" {
		log.Info("texting is off: twilio.account_sid is not set")
		return nil, nil, nil
	}
	p, err := twilio.New(twilio.Config{AccountSID: t.AccountSID, AuthToken: t.AuthToken, From: t.From,
		MessagingServiceSID: t.MessagingServiceSID, WhatsAppFrom: t.WhatsAppFrom, APIURL: t.APIURL})
	if err != nil {
		return nil, nil, err
	}
	tpls, err := sms.LoadTemplates(cfg.SMS.TemplatesDir)
	if err != nil {
		return nil, nil, err
	}
	signer := paylink.Signer{Key: []byte(cfg.PayLinks.Secret), TTL: cfg.PayLinks.TTL}
	s := sms.NewSender(sms.SenderOptions{Provider: p, Queue: store, Store: texts, Gate: gate, Writer: w, Templates: tpls,
		Link:      func(c queue.Campaign, a queue.Account) string { return signer.Link(c.PayURL, a.ID, c.ID) },
		PublicURL: t.PublicURL, Rate: cfg.SMS.Rate, Tries: cfg.SMS.Tries, Backoff: cfg.SMS.Backoff, Node: cfg.NodeID,
		Now: now, Logger: log, Ready: ready})
	return s, twilio.NewValidator(t.AuthToken, t.PublicURL), nil
}

// queueSMS is the campaign runner's SendSMS: requests go through the outbox,
// so a text survives this node stopping before it is sent.
func queueSMS(s *sms.Sender, now func() time.Time) func(context.Context, campaign.SMSRequest) error {
	if s == nil {
		return nil
	}
	return func(ctx context.Context, m campaign.SMSRequest) error {
		at := m.At
		if at.IsZero() {
			at = now()
		}
		return s.Enqueue(ctx, sms.Request{Key: m.Key, Campaign: m.Campaign, Account: m.Account, Phone: m.Phone,
			Channel: m.Channel, Template: m.Template, Link: m.Link, Vars: m.Vars}, at)
	}
}
