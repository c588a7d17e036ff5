package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/contact"
)

// Send sends req's message now (waiting for the sender's rate) and records
// the attempt. Errors are for failures of our own (Redis, a bad request);
// a refusal by the gate or the provider is a Result.
//
// It runs in stages: check the request, claim its key, prepare the text
// (phone, attempt row, rendering), reserve it (do-not-contact lists, the
// template's period, the compliance gate), submit it to the provider and
// record the outcome. A stage that decides the outcome sets it and the
// stages that would send are skipped. Until the provider is asked, a failure
// of our own gives the key (and the template mark) back, so a retry may
// send; once it is asked, the key is used up whatever follows.
func (s *Sender) Send(ctx context.Context, req Request) (Result, error) {
	t, err := s.check(ctx, req)
	if err != nil {
		return Result{}, err
	}
	if err := s.claim(ctx, t); err != nil || t.res.Outcome == Duplicate {
		return t.res, err
	}
	s.prepare(ctx, t)
	if t.res.Outcome == "" {
		if err := s.reserve(ctx, t); err != nil {
			return t.res, s.release(ctx, t, err)
		}
	}
	if t.res.Outcome == "" {
		s.submit(ctx, t)
	}
	return t.res, s.record(ctx, t)
}

// text is one request on its way through Send's stages.
type text struct {
	req  Request
	c    queue.Campaign
	acct queue.Account
	res  Result

	number string             // the phone texted
	listed bool               // every phone asked for is on a do-not-contact list of the channel
	a      analytics.Attempt  // the attempt's first row
	subj   compliance.Subject // who is texted, for the gate
	rec    SendRecord         // what the key keeps
	marked string             // the debtor whose template mark this send set, until it is undone
	asked  bool               // the provider was asked: the key is used up
}

// check refuses a request that can never be sent as it stands and loads
// what it names: the campaign, the account, the asked phone among the
// account's, the template in the debtor's language.
func (s *Sender) check(ctx context.Context, req Request) (*text, error) {
	if err := validate(&req); err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, fmt.Errorf("sms: request %s not sent: %w", req.Key, err)
	}
	c, err := s.opt.Queue.Campaign(ctx, req.Campaign)
	if err != nil {
		return nil, fmt.Errorf("sms: request %s: %w", req.Key, err)
	}
	acct, err := s.opt.Queue.Account(ctx, req.Campaign, req.Account)
	if err != nil {
		return nil, fmt.Errorf("sms: request %s: %w", req.Key, err)
	}
	if req.Phone != "" {
		if req.Phone, err = accountPhone(c, acct, req.Phone); err != nil {
			return nil, fmt.Errorf("sms: request %s: %w", req.Key, err)
		}
	}
	lang := contact.Language(c, acct)
	if known, _ := s.opt.Templates.Known(lang, req.Template); !known {
		return nil, fmt.Errorf("sms: request %s: template %q does not exist in %s: %w", req.Key, req.Template, lang, ErrRefused)
	}
	return &text{req: req, c: c, acct: acct, res: Result{AttemptID: AttemptID(req.Key)}}, nil
}

// validate checks the request's own fields and fills the default channel.
func validate(req *Request) error {
	if req.Key == "" || req.Campaign == "" || req.Account == "" || req.Template == "" {
		return fmt.Errorf("sms: request %+v: key, campaign, account and template are required: %w", *req, ErrInvalidRequest)
	}
	if err := checkKey(req.Key); err != nil {
		return err
	}
	if req.Channel == "" {
		req.Channel = analytics.SMS
	}
	if req.Channel != analytics.SMS && req.Channel != analytics.WhatsApp {
		return fmt.Errorf("sms: request %s: channel %q: want sms or whatsapp: %w", req.Key, req.Channel, ErrInvalidRequest)
	}
	return nil
}

// claim takes the request's key. A key taken before makes the request a
// duplicate (a retry): nothing is sent.
func (s *Sender) claim(ctx context.Context, t *text) error {
	prev, claimed, err := s.opt.Store.ClaimSend(ctx, t.req.Key, keyTTL)
	if err != nil {
		return err
	}
	if !claimed {
		t.res.Outcome, t.res.SID, t.res.Reason = Duplicate, prev.SID, "already "+prev.State
		s.log.Info("sms: duplicate request, nothing sent", "key", t.req.Key, "state", prev.State, "sid", prev.SID)
		return nil
	}
	t.rec.State = Failed
	return nil
}

// prepare picks the phone (the asked one, else the account's first that
// may be texted on the channel), starts the attempt row and renders the
// text. A template that does not render is the outcome: a config error.
func (s *Sender) prepare(ctx context.Context, t *text) {
	phones := t.acct.Phones
	if t.req.Phone != "" {
		phones = []queue.Phone{{Number: t.req.Phone}}
	}
	t.number, t.listed = contact.Pick(ctx, s.opt.Gate, t.c.ID, phones, t.req.Channel, 1)
	at := s.newAttempt(t.c, t.acct, t.number, t.req)
	t.a, t.subj = at.Row, at.Subject
	t.rec.Subject, _ = json.Marshal(t.subj) // plain strings and times: Marshal cannot fail

	r, err := s.render(t.c, t.acct, t.req)
	if err != nil {
		t.a.Disposition, t.a.Reason = analytics.ConfigError, err.Error()
		t.res.Outcome, t.res.Reason = Failed, err.Error()
		return
	}
	t.res.Rendered = r
	t.a.Segments = uint8(min(r.Segments, 255))
}

// reserve decides whether the text may go: not when every phone is on a
// do-not-contact list, not when the template reached the debtor within the
// campaign's period (the mark per debtor and template is set here), not
// when the compliance gate refuses (the request then waits in the outbox
// for when it may go). An error is our own, with the mark still set: the
// caller releases.
func (s *Sender) reserve(ctx context.Context, t *text) error {
	if t.listed {
		t.block(fmt.Sprintf("dnc: every phone of the account is on a %s do-not-contact list", t.req.Channel))
		return nil
	}
	debtor, period := Debtor(t.c.ID, t.acct), time.Duration(t.c.SMS.TemplatePeriod)
	once, since, err := s.opt.Store.TemplateOnce(ctx, debtor, t.req.Template, period, s.opt.Now())
	if err != nil {
		return err
	}
	if !once {
		t.rec.State, t.res.Outcome = Skipped, Skipped
		t.res.Reason = fmt.Sprintf("template %s reached this debtor at %s, within the campaign's %s", t.req.Template,
			since.Format(time.RFC3339), period)
		s.log.Info("sms: skipped", "key", t.req.Key, "account", t.acct.ID, "reason", t.res.Reason)
		return nil
	}
	t.marked = debtor

	profile, err := s.opt.Gate.Profile(t.c.Profile, t.subj)
	if err != nil {
		return err
	}
	d, err := s.opt.Gate.Reserve(ctx, profile, t.subj, t.req.Channel, t.a.AttemptID, false)
	if err != nil {
		return err
	}
	if !d.Allowed {
		s.forgetMark(ctx, t)
		t.block(d.Rule + ": " + d.Reason)
		return s.deferText(ctx, t, d.NextAllowed)
	}
	return nil
}

// block makes the text's outcome a refusal by the gate or a list.
func (t *text) block(reason string) {
	t.a.Disposition, t.a.Reason = analytics.Blocked, reason
	t.res.Outcome, t.res.Reason, t.rec.State = Blocked, reason, Blocked
}

// deferText queues the request again, under a key of its own, for when the
// gate allows it; not when the gate named no such time or the request has
// waited maxDeferrals times.
func (s *Sender) deferText(ctx context.Context, t *text, next time.Time) error {
	if next.IsZero() || t.req.Deferrals >= maxDeferrals {
		return nil
	}
	later := t.req
	later.Key, later.Deferrals = fmt.Sprintf("%s/deferred%d", t.req.Key, t.req.Deferrals+1), t.req.Deferrals+1
	if err := s.Enqueue(ctx, later, next); err != nil {
		return err
	}
	t.res.Deferred = next
	return nil
}

// submit hands the text to the provider (at the sender's rate, with
// retries). From here on the key is used up: a failure is the outcome, and
// the template mark is undone since nothing reached the debtor.
func (s *Sender) submit(ctx context.Context, t *text) {
	m := Message{Channel: t.req.Channel, To: t.number, Body: t.res.Rendered.Body, ContentSID: t.res.Rendered.ContentSID,
		ContentVariables: t.res.Rendered.ContentVariables}
	if s.opt.PublicURL != "" {
		m.StatusCallback = strings.TrimSuffix(s.opt.PublicURL, "/") + "/webhooks/twilio/status?attempt=" + url.QueryEscape(t.a.AttemptID)
	}
	t.a.Trunk = s.opt.Provider.Sender(t.req.Channel)
	t.asked = true
	receipt, err := s.deliver(ctx, m)
	if err != nil {
		s.forgetMark(ctx, t)
		s.failed(ctx, t, err)
		return
	}
	t.a.MessageSID, t.a.MessageStatus, t.a.Disposition = receipt.SID, receipt.Status, Disposition(receipt.Status)
	t.rec.State, t.rec.SID, t.rec.Rank = Sent, receipt.SID, StatusRank(receipt.Status)
	t.res.Outcome, t.res.SID, t.res.Status = Sent, receipt.SID, receipt.Status
	entry, _ := json.Marshal(ConversationEntry{At: t.a.StartedAt, Direction: "outbound", Channel: t.req.Channel, // plain fields: Marshal cannot fail
		Body: t.res.Rendered.Body, Action: t.req.Template, SID: receipt.SID, Campaign: t.c.ID, Account: t.acct.ID})
	if err := s.opt.Store.AddConversation(ctx, t.number, entry); err != nil {
		s.log.Warn("sms: sent text not added to the conversation", "sid", receipt.SID, "err", err)
	}
	s.log.Info("sms: sent", "key", t.req.Key, "campaign", t.c.ID, "account", t.acct.ID, "to", t.number, "channel", t.req.Channel,
		"template", t.req.Template, "sid", receipt.SID, "encoding", t.res.Rendered.Encoding, "segments", t.res.Rendered.Segments)
}

// failed makes err, the provider's last answer, the outcome; a refusal that
// names the number (invalid, unsubscribed) is recorded as such and may
// suppress it.
func (s *Sender) failed(ctx context.Context, t *text, err error) {
	t.res.Outcome, t.res.Reason = Failed, err.Error()
	t.a.Disposition, t.a.Reason = analytics.Failed, err.Error()
	pe, ok := ProviderError(err)
	if !ok || pe.Retryable() {
		return
	}
	info := Explain(pe.Code, t.req.Channel)
	t.a.Disposition, t.a.MessageError, t.a.MessageStatus = info.Disposition, uint32(pe.Code), "failed"
	t.a.Reason = fmt.Sprintf("%s (%d): %s", info.Text, pe.Code, pe.Message)
	t.res.Reason = t.a.Reason
	s.suppress(ctx, t.number, info, pe.Code)
}

// record keeps the outcome: the send record, by which the key stays used
// and the status callbacks find the attempt, then the attempt's first row
// (a skipped text is no attempt). The record goes first: the row is written
// to a spool on disk, and a status callback that arrives meanwhile must
// find the record. A row that cannot be written before the provider was
// asked releases the key instead, so a retry may send.
func (s *Sender) record(ctx context.Context, t *text) error {
	var err error
	if t.res.Outcome != Skipped {
		err = firstRow(&t.a, &t.rec)
	}
	early, serr := s.opt.Store.SaveSend(context.WithoutCancel(ctx), t.req.Key, t.rec, keyTTL)
	if serr != nil {
		s.log.Error("sms: idempotency record not saved", "key", t.req.Key, "err", serr)
	}
	if err == nil && t.res.Outcome != Skipped {
		err = s.opt.Writer.Write(ctx, &t.a)
	}
	if err != nil && !t.asked {
		return s.release(ctx, t, err)
	}
	s.applyEarly(context.WithoutCancel(ctx), t.rec.SID, early)
	return err
}

// applyEarly applies the statuses the provider sent before the send was
// recorded, in the order they came. A failure is logged: the send itself
// succeeded, and the provider's next callback carries the status on.
func (s *Sender) applyEarly(ctx context.Context, sid string, early []EarlyStatus) {
	for _, e := range early {
		if err := s.applyStatus(ctx, sid, e.Status, e.Code); err != nil {
			s.log.Error("sms: a status that came before the send was recorded is not applied", "sid", sid,
				"status", e.Status, "err", err)
		}
	}
}

// release gives back what a send that failed on our side before the
// provider was asked had taken (its template mark, its key), so a retry may
// send, and returns err. A failure to give back is logged: err is what the
// caller must see.
func (s *Sender) release(ctx context.Context, t *text, err error) error {
	s.forgetMark(ctx, t)
	if rerr := s.opt.Store.ReleaseSend(context.WithoutCancel(ctx), t.req.Key); rerr != nil {
		s.log.Error("sms: idempotency key not released", "key", t.req.Key, "err", rerr)
	}
	return err
}

// forgetMark undoes the template mark this send set, as the text did not
// reach the debtor. It runs even when the caller has gone (the undo is part
// of the send). A failure is logged, not returned: the outcome is decided
// by then and is still recorded (returning would lose the row, or release a
// key the provider has seen); what it costs is that this template skips
// this debtor until the period ends, which the log line says.
func (s *Sender) forgetMark(ctx context.Context, t *text) {
	if t.marked == "" {
		return
	}
	debtor := t.marked
	t.marked = ""
	if err := s.opt.Store.ForgetTemplate(context.WithoutCancel(ctx), debtor, t.req.Template); err != nil {
		s.log.Error("sms: template mark not undone; the template skips this debtor until the campaign's period ends",
			"key", t.req.Key, "campaign", t.c.ID, "account", t.acct.ID, "template", t.req.Template, "err", err)
	}
}
