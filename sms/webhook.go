package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/contact"
)

// Verifier checks that a webhook request comes from the provider
// (sms/twilio.Validator checks X-Twilio-Signature).
type Verifier interface {
	Valid(r *http.Request, body []byte) bool
}

// maxWebhookBody bounds a webhook's form body; Twilio's are a few KB.
const maxWebhookBody = 64 << 10

// webhookReadTimeout bounds reading a webhook's body; Twilio sends it at once.
const webhookReadTimeout = 15 * time.Second

// signedForm reads and verifies a webhook's form; it has answered the
// request when ok is false.
func (s *Sender) signedForm(w http.ResponseWriter, r *http.Request, v Verifier, hook string) (url.Values, bool) {
	// Anyone can reach a webhook before its signature is checked: a body
	// trickled in slowly does not hold the connection past this.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(webhookReadTimeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "body unreadable or larger than 64KB", http.StatusBadRequest)
		return nil, false
	}
	if !v.Valid(r, body) {
		s.log.Warn("twilio webhook: invalid signature, refused", "hook", hook, "remote", r.RemoteAddr,
			"uri", r.URL.RequestURI(), "signature_present", r.Header.Get("X-Twilio-Signature") != "")
		http.Error(w, "invalid X-Twilio-Signature", http.StatusForbidden)
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.log.Warn("twilio webhook: malformed form body", "hook", hook, "err", err)
		http.Error(w, "malformed form body: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return form, true
}

// StatusHandler takes delivery-status callbacks (POST
// /webhooks/twilio/status): each status that is news writes the attempt's
// row again with a higher ver; a delivered message counts as a contact for
// the compliance caps; error codes that mean so suppress the number.
func (s *Sender) StatusHandler(v Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, ok := s.signedForm(w, r, v, "status")
		if !ok {
			return
		}
		sid, status := form.Get("MessageSid"), form.Get("MessageStatus")
		if sid == "" || status == "" {
			http.Error(w, "MessageSid and MessageStatus are required", http.StatusBadRequest)
			return
		}
		code, _ := strconv.Atoi(form.Get("ErrorCode"))
		if err := s.applyStatus(r.Context(), sid, status, code); err != nil {
			s.log.Error("twilio status callback not applied; Twilio will retry", "sid", sid, "status", status, "err", err)
			http.Error(w, "not recorded", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Sender) applyStatus(ctx context.Context, sid, status string, code int) error {
	rank := StatusRank(status)
	if rank == 0 {
		s.log.Info("twilio status callback: status ignored", "sid", sid, "status", status)
		return nil
	}
	rec, known, changed, err := s.opt.Store.AdvanceStatus(ctx, sid, EarlyStatus{Status: status, Code: code}, rank)
	if err != nil {
		return err
	}
	if !known {
		s.log.Info("twilio status callback before its send was recorded (or for a message we did not send): parked",
			"sid", sid, "status", status)
		return nil
	}
	if !changed {
		return nil // a late callback: the message already went further
	}
	var a analytics.Attempt
	if err := a.UnmarshalBinary(rec.Attempt); err != nil {
		return fmt.Errorf("message %s: stored attempt: %w", sid, err)
	}
	now := s.opt.Now()
	a.MessageStatus, a.Disposition, a.Ver = status, Disposition(status), rec.Ver
	if rank >= StatusRank("delivered") {
		a.EndedAt = now
	}
	if code != 0 {
		info := Explain(code, a.Channel)
		a.MessageError, a.Reason = uint32(code), fmt.Sprintf("%s (%d)", info.Text, code)
		s.suppress(ctx, a.Phone, info, code)
	}
	if err := s.opt.Writer.Write(ctx, &a); err != nil {
		return err
	}
	if status == "delivered" {
		if err := s.countContact(ctx, sid, rec.Subject, &a); err != nil {
			return err
		}
	}
	s.log.Info("sms: status", "sid", sid, "attempt", a.AttemptID, "status", status, "error_code", code, "ver", a.Ver)
	return nil
}

// countContact records a delivered text as a contact for the compliance
// caps, for the subject its send record keeps. A subject that cannot be
// read is logged, not returned: the status is applied by then, and
// Twilio's retry would find nothing new to apply.
func (s *Sender) countContact(ctx context.Context, sid string, raw []byte, a *analytics.Attempt) error {
	var subj compliance.Subject
	if err := json.Unmarshal(raw, &subj); err != nil {
		s.log.Error("sms: delivered text not counted for the compliance caps: its stored subject is unreadable",
			"sid", sid, "attempt", a.AttemptID, "err", err)
		return nil
	}
	if subj.Phone == "" {
		return nil
	}
	return s.opt.Gate.Record(ctx, subj, a.Channel, compliance.KindContact, a.AttemptID, s.opt.Gate.Now())
}

// ConversationEntry is one line of a phone's conversation, for agents.
type ConversationEntry struct {
	At        time.Time         `json:"at"`
	Direction string            `json:"direction"` // outbound (a campaign text), inbound, reply
	Channel   analytics.Channel `json:"channel"`
	Body      string            `json:"body"`
	Action    string            `json:"action,omitempty"`
	SID       string            `json:"sid,omitempty"`
	Campaign  string            `json:"campaign,omitempty"`
	Account   string            `json:"account,omitempty"`
}

// InboundHandler takes debtors' texts (POST /webhooks/twilio/inbound).
// STOP, BAJA, ALTO, CANCELAR, UNSUBSCRIBE (any case, accents ignored) opt
// the number out of that channel and are confirmed; START or REACTIVAR undo
// an opt-out made by text; PAGO or LINK get the payment link; anything else
// is kept as a conversation message for agents. Replies go back as TwiML.
func (s *Sender) InboundHandler(v Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, ok := s.signedForm(w, r, v, "inbound")
		if !ok {
			return
		}
		from, body, sid := form.Get("From"), form.Get("Body"), form.Get("MessageSid")
		if from == "" || sid == "" {
			http.Error(w, "From and MessageSid are required", http.StatusBadRequest)
			return
		}
		if len(sid) > 64 || strings.ContainsAny(sid, "{} \t\r\n") {
			http.Error(w, "MessageSid: not a message id", http.StatusBadRequest)
			return
		}
		// A message Twilio delivers again (a retry, a replay) is handled
		// once: one conversation entry, one row, one reply.
		first, err := s.opt.Store.ClaimInbound(r.Context(), sid, keyTTL)
		if err != nil {
			s.log.Error("twilio inbound message not handled; Twilio will retry", "sid", sid, "err", err)
			http.Error(w, "not recorded", http.StatusInternalServerError)
			return
		}
		if !first {
			s.log.Info("sms: inbound message delivered again, ignored", "sid", sid)
			writeTwiML(w, "")
			return
		}
		reply, err := s.inbound(r.Context(), from, body, sid)
		if err != nil {
			if rerr := s.opt.Store.ReleaseInbound(context.WithoutCancel(r.Context()), sid); rerr != nil {
				s.log.Error("sms: inbound claim not released", "sid", sid, "err", rerr)
			}
			s.log.Error("twilio inbound message not handled; Twilio will retry", "sid", sid, "err", err)
			http.Error(w, "not recorded", http.StatusInternalServerError)
			return
		}
		writeTwiML(w, reply)
	})
}

// writeTwiML answers an inbound webhook with reply, if any.
func writeTwiML(w http.ResponseWriter, reply string) {
	var verbs []twiml.Element
	if reply != "" {
		verbs = append(verbs, &twiml.MessagingMessage{Body: reply})
	}
	out, err := twiml.Messages(verbs)
	if err != nil {
		http.Error(w, "twiml: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, out)
}

// inbound acts on one text and returns the reply, if any.
func (s *Sender) inbound(ctx context.Context, from, body, sid string) (string, error) {
	ch, number := analytics.SMS, from
	if n, ok := strings.CutPrefix(from, "whatsapp:"); ok {
		ch, number = analytics.WhatsApp, n
	}
	c, acct, known, err := s.accountOf(ctx, number)
	if err != nil {
		return "", err
	}
	kw, kwLang := ParseKeyword(body)
	now := s.opt.Now()
	action, replyTpl, err := s.act(ctx, kw, number, ch, body, known && s.opt.Link(c, acct) != "")
	if err != nil {
		return "", err
	}
	var reply string
	if replyTpl != "" {
		lang := contact.Language(c, acct, kwLang) // c and acct are empty when the number is on no account
		if reply, err = s.replyText(lang, replyTpl, c, acct, known); err != nil {
			return "", err
		}
	}
	msgs := []analytics.Message{{MessageSID: sid, Direction: "inbound", CampaignID: c.ID, AccountID: acct.ID, Phone: number,
		Channel: ch, Body: body, Action: action, At: now, NodeID: s.opt.Node, Ver: 1}}
	if reply != "" {
		msgs = append(msgs, analytics.Message{MessageSID: sid + "/reply", Direction: "reply", CampaignID: c.ID, AccountID: acct.ID,
			Phone: number, Channel: ch, Body: reply, Action: action, At: now, NodeID: s.opt.Node, Ver: 1})
	}
	if err := s.keep(ctx, number, msgs); err != nil {
		return "", err
	}
	s.log.Info("sms: inbound", "sid", sid, "phone", number, "channel", ch, "known", known, "account", acct.ID, "action", action)
	return reply, nil
}

// accountOf finds whom a number belongs to: the first of its accounts
// whose campaign still exists; known is false when there is none.
func (s *Sender) accountOf(ctx context.Context, number string) (c queue.Campaign, acct queue.Account, known bool, err error) {
	accts, refs, err := s.opt.Queue.LookupPhone(ctx, number)
	if err != nil {
		return c, acct, false, err
	}
	for i := range accts {
		if cc, err := s.opt.Queue.Campaign(ctx, refs[i].Campaign); err == nil {
			return cc, accts[i], true, nil
		}
	}
	return c, acct, false, nil
}

// act carries out an inbound text's keyword on number's channel ch and
// says what it did (the messages row's action) and which template replies
// ("" for none). payLink says whether the number's account has a link.
func (s *Sender) act(ctx context.Context, kw Keyword, number string, ch analytics.Channel, body string, payLink bool) (action, replyTpl string, err error) {
	switch kw {
	case KeywordOptOut:
		e := compliance.DNCEntry{Phone: number, Channel: string(ch), Reason: fmt.Sprintf("replied %q", strings.TrimSpace(body)), Source: "sms"}
		if err := s.opt.Gate.AddDNC(ctx, e); err != nil {
			return "", "", err
		}
		s.log.Info("sms: opted out by reply", "phone", number, "channel", ch, "body", body)
		return "optout", "optout-confirm", nil
	case KeywordOptIn:
		// Only an opt-out the number made by text is undone this way; one
		// made on a call, by the creditor or by law stays.
		e, listed, err := s.opt.Gate.LookupDNC(ctx, number, ch, "")
		if err != nil {
			return "", "", err
		}
		if !listed || e.Source != "sms" {
			return "optin", "", nil
		}
		if err := s.opt.Gate.RemoveDNC(ctx, compliance.DNCEntry{Phone: number, Channel: string(ch), Reason: fmt.Sprintf("replied %q", strings.TrimSpace(body)), Source: "sms"}); err != nil {
			return "", "", err
		}
		s.log.Info("sms: opted back in by reply", "phone", number, "channel", ch)
		return "optin", "optin-confirm", nil
	case KeywordPayLink:
		if payLink {
			return "paylink", "paylink-reply", nil
		}
		return "paylink", "paylink-unknown", nil
	}
	return "conversation", "", nil
}

// replyText renders the reply template tpl in lang, with the account's
// fields when the number is known.
func (s *Sender) replyText(lang, tpl string, c queue.Campaign, acct queue.Account, known bool) (string, error) {
	tp, err := s.opt.Templates.Get(lang, tpl)
	if err != nil {
		return "", err
	}
	d := Data{}
	if known {
		d = NewData(acct, c.Company, s.opt.Link(c, acct), c.CallbackNumber)
	}
	r, err := tp.Render(d, known && c.SMS.Transliterate)
	if err != nil {
		return "", err
	}
	return r.Body, nil
}

// keep writes the messages rows of an inbound text and its reply and adds
// them to the number's conversation.
func (s *Sender) keep(ctx context.Context, number string, msgs []analytics.Message) error {
	for i := range msgs {
		m := &msgs[i]
		if err := s.opt.Writer.Write(ctx, m); err != nil {
			return err
		}
		b, _ := json.Marshal(ConversationEntry{At: m.At, Direction: m.Direction, Channel: m.Channel, Body: m.Body, Action: m.Action, // plain fields: Marshal cannot fail
			SID: m.MessageSID, Campaign: m.CampaignID, Account: m.AccountID})
		if err := s.opt.Store.AddConversation(ctx, number, b); err != nil {
			return err
		}
	}
	return nil
}

// Conversation returns the texts exchanged with a phone, oldest first.
func (s *Sender) Conversation(ctx context.Context, phone string) ([]ConversationEntry, error) {
	raw, err := s.opt.Store.Conversation(ctx, phone)
	if err != nil {
		return nil, err
	}
	out := make([]ConversationEntry, 0, len(raw))
	for _, b := range raw {
		var e ConversationEntry
		if json.Unmarshal(b, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}
