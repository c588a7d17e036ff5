package campaign

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/contact"
	"github.com/marcador/marcador/queue/promise"
)

// The actions an agent takes on its call (POST /api/v1/calls/{id}/...),
// carried out on the node holding the call (Calls brings them from any
// node).
const (
	opHangup      = "hangup"
	opDisposition = "disposition"
	opTransfer    = "transfer"
	opSMS         = "sms"
)

// Disposition is what an agent says about its call: one of the campaign's
// codes (queue.BuiltinCodes and its own), with a promise's amount and date,
// or a call back's time.
type Disposition struct {
	Code string `json:"code"`
	// Amount and Date: a promise (date YYYY-MM-DD, the debtor's calendar),
	// checked against the campaign's promise policy.
	Amount *decimal.Decimal `json:"amount,omitempty"`
	Date   string           `json:"date,omitempty"`
	// CallbackAt: when to call back (RFC 3339), within 30 days. Personal
	// (default true): the same agent takes it when it is ready on the node
	// that places it; otherwise any agent of the campaign.
	CallbackAt *time.Time `json:"callback_at,omitempty"`
	Personal   *bool      `json:"personal,omitempty"`
}

// Transfer hands the debtor to the IVR: To must be "ivr" (the campaign's
// promise script).
type Transfer struct {
	To string `json:"to"`
}

// Text sends the debtor a templated message during the call (default the
// payment link, by SMS).
type Text struct {
	Template string            `json:"template,omitempty"`
	Channel  analytics.Channel `json:"channel,omitempty"`
}

// CallAnswer is what an action answers: the call's state after it.
type CallAnswer struct {
	Call    string       `json:"call"`
	State   string       `json:"state"`
	Agent   string       `json:"agent,omitempty"`
	Code    string       `json:"code,omitempty"`
	Promise *PromiseMade `json:"promise,omitempty"`
	// Text: the message queued.
	Text *TextQueued `json:"text,omitempty"`
}

// PromiseMade is a promise an agent recorded.
type PromiseMade struct {
	ID       string `json:"id"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Date     string `json:"date"`
}

// TextQueued is a message sent during a call.
type TextQueued struct {
	Template string            `json:"template"`
	Channel  analytics.Channel `json:"channel"`
	Phone    string            `json:"phone"`
}

// disposition is the agent's disposition as the call keeps it.
type disposition struct {
	Code       string
	rightParty bool
	final      bool
	retry      time.Duration
	promise    *promise.Record
	callbackAt time.Time
	personal   bool
}

const maxCallbackAhead = 30 * 24 * time.Hour

func invalid(field, reason string) error {
	return &agent.CallError{Kind: agent.CallInvalid, Field: field, Reason: reason, Message: field + ": " + reason}
}

func conflict(format string, args ...any) error {
	return &agent.CallError{Kind: agent.CallConflict, Message: fmt.Sprintf(format, args...)}
}

// decodeBody reads an action's JSON body strictly (an empty body is the
// zero value).
func decodeBody(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("body", err.Error())
	}
	return nil
}

// handleCall carries out an action on one of this node's calls (Calls'
// handler).
func (r *Runner) handleCall(ctx context.Context, cmd agent.Command) (any, error) {
	if cmd.Op == opPreviewDial {
		return r.previewDial(ctx, cmd.Call) // Call names the agent
	}
	lc := r.liveCall(cmd.Call)
	if lc == nil {
		return nil, &agent.CallError{Kind: agent.CallNotFound, Message: fmt.Sprintf("call %s is not in progress on node %s", cmd.Call, r.opt.Node)}
	}
	switch cmd.Op {
	case opHangup:
		return lc.hangup()
	case opDisposition:
		var d Disposition
		if err := decodeBody(cmd.Body, &d); err != nil {
			return nil, err
		}
		return lc.dispose(ctx, d)
	case opTransfer:
		var t Transfer
		if err := decodeBody(cmd.Body, &t); err != nil {
			return nil, err
		}
		return lc.transfer(t)
	case opSMS:
		var t Text
		if err := decodeBody(cmd.Body, &t); err != nil {
			return nil, err
		}
		return lc.text(ctx, t)
	}
	return nil, invalid("action", fmt.Sprintf("%q: want hangup, disposition, transfer or sms", cmd.Op))
}

func (lc *liveCall) answerLocked() CallAnswer {
	a := CallAnswer{Call: lc.id, State: lc.state}
	if lc.reserved {
		a.Agent = lc.res.Agent
	}
	if lc.disp != nil {
		a.Code = lc.disp.Code
	}
	return a
}

// hangup ends the debtor's leg of a bridged call; the agent goes to
// wrap-up.
func (lc *liveCall) hangup() (any, error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.state != agent.CallTalking {
		return nil, conflict("call %s is %s: only a call in progress with an agent is hung up", lc.id, lc.state)
	}
	if !lc.hangupAsked {
		lc.hangupAsked = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			lc.leg.Hangup(ctx)
		}()
	}
	return lc.answerLocked(), nil
}

// transfer hands the debtor to the IVR's promise script and frees the
// agent (to wrap-up).
func (lc *liveCall) transfer(t Transfer) (any, error) {
	if t.To != "ivr" {
		return nil, invalid("to", fmt.Sprintf("%.40q: want ivr", t.To))
	}
	if lc.r.opt.Scripts[lc.transferScript()] == nil {
		return nil, conflict("call %s: the transfer script %s is not loaded on node %s", lc.id, lc.transferScript(), lc.r.opt.Node)
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.state != agent.CallTalking || lc.hangupAsked {
		return nil, conflict("call %s is %s: only a call in progress with an agent is transferred", lc.id, lc.state)
	}
	select {
	case lc.xfer <- struct{}{}:
	default: // asked already
	}
	return lc.answerLocked(), nil
}

// dispose records the agent's disposition: once per call, while the call
// is with the agent or in its wrap-up. A promise is checked against the
// campaign's policy and captured (channel agent) at once; a call back's
// time is checked, and applied when the attempt settles.
func (lc *liveCall) dispose(ctx context.Context, in Disposition) (any, error) {
	r := lc.r
	code, ok := lc.c.AgentCode(in.Code)
	if !ok {
		return nil, invalid("code", fmt.Sprintf("%.40q: want one of %s", in.Code, strings.Join(lc.c.CodeNames(), ", ")))
	}
	d := &disposition{Code: code.Code, rightParty: code.RightParty, final: code.Final, retry: time.Duration(code.Retry), personal: true}
	now := r.opt.Now()
	switch code.Code {
	case queue.CodePromise:
		p, err := lc.promiseOf(in, now)
		if err != nil {
			return nil, err
		}
		d.promise = &p
	case queue.CodeCallback:
		switch {
		case in.CallbackAt == nil:
			return nil, invalid("callback_at", "required: when to call back (RFC 3339)")
		case !in.CallbackAt.After(now):
			return nil, invalid("callback_at", in.CallbackAt.Format(time.RFC3339)+" is not in the future")
		case in.CallbackAt.After(now.Add(maxCallbackAhead)):
			return nil, invalid("callback_at", in.CallbackAt.Format(time.RFC3339)+" is more than 30 days ahead")
		}
		d.callbackAt = *in.CallbackAt
		if in.Personal != nil {
			d.personal = *in.Personal
		}
	}
	if code.Code != queue.CodePromise && (in.Amount != nil || in.Date != "") {
		return nil, invalid("amount", "only a promise has an amount and a date")
	}
	if code.Code != queue.CodeCallback && (in.CallbackAt != nil || in.Personal != nil) {
		return nil, invalid("callback_at", "only a call back has a time")
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	switch {
	case lc.disp != nil:
		return nil, conflict("call %s already has the disposition %s", lc.id, lc.disp.Code)
	case lc.state != agent.CallTalking && lc.state != agent.CallWrapUp && lc.state != agent.CallIVR || !lc.reserved:
		return nil, conflict("call %s is %s: a disposition is for a call with an agent or in its wrap-up", lc.id, lc.state)
	}
	if d.promise != nil {
		d.promise.Agent = lc.res.Agent
		p, err := r.opt.Promises.Capture(context.WithoutCancel(ctx), *d.promise)
		if err != nil {
			return nil, fmt.Errorf("call %s: record the promise: %w", lc.id, err)
		}
		d.promise = &p
	}
	lc.disp = d
	close(lc.disposed)
	lc.log.Info("campaign: agent disposition", "agent", lc.res.Agent, "code", d.Code, "state", lc.state)
	a := lc.answerLocked()
	if p := d.promise; p != nil {
		a.Promise = &PromiseMade{ID: p.ID, Amount: p.Amount.StringFixed(2), Currency: p.Currency, Date: p.Due.Format(time.DateOnly)}
	}
	return a, nil
}

// promiseOf checks a promise an agent records against the campaign's
// policy (the IVR's rule), on the debtor's calendar.
func (lc *liveCall) promiseOf(in Disposition, now time.Time) (promise.Record, error) {
	if in.Amount == nil {
		return promise.Record{}, invalid("amount", "required for a promise")
	}
	if err := analytics.CheckMoney("amount", *in.Amount); err != nil {
		return promise.Record{}, invalid("amount", err.Error())
	}
	due, err := time.Parse(time.DateOnly, in.Date)
	if err != nil {
		return promise.Record{}, invalid("date", fmt.Sprintf("%.20q: want YYYY-MM-DD", in.Date))
	}
	local := now.In(lc.zone)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	if field, reason := policy(lc.c).Check(lc.acct.Balance, *in.Amount, due, today); field != "" {
		return promise.Record{}, invalid(field, reason)
	}
	return promise.Record{Campaign: lc.c.ID, Account: lc.acct.ID, Attempt: lc.id, Channel: analytics.PromiseAgent,
		Amount: *in.Amount, Currency: lc.acct.Currency, Due: due, Grace: lc.c.Promise.GraceDays, KeepPercent: lc.c.Promise.KeepPercent,
		Country: contact.Country(lc.number), Segment: lc.acct.Segment, Created: now}, nil
}

// text sends the debtor a message during the call (or its wrap-up), once
// per call and template.
func (lc *liveCall) text(ctx context.Context, t Text) (any, error) {
	r := lc.r
	if t.Template == "" {
		t.Template = "payment-link"
	}
	if t.Channel == "" {
		t.Channel = analytics.SMS
	}
	if t.Channel != analytics.SMS && t.Channel != analytics.WhatsApp {
		return nil, invalid("channel", fmt.Sprintf("%.20q: want sms or whatsapp", t.Channel))
	}
	lang := lc.c.Language
	if r.opt.Refs.Template != nil {
		known, needsLink := r.opt.Refs.Template(lang, t.Template)
		switch {
		case !known:
			return nil, invalid("template", fmt.Sprintf("%.40q: no such template in %s", t.Template, lang))
		case needsLink && lc.c.PayURL == "":
			return nil, invalid("template", fmt.Sprintf("%q sends a payment link and campaign %s has no pay_url", t.Template, lc.c.ID))
		}
	}
	lc.mu.Lock()
	st := lc.state
	lc.mu.Unlock()
	if st != agent.CallTalking && st != agent.CallWrapUp && st != agent.CallIVR {
		return nil, conflict("call %s is %s: a text is sent during a call with an agent or its wrap-up", lc.id, st)
	}
	m := SMSRequest{Key: lc.id + "/agent/" + t.Template, Campaign: lc.c.ID, Account: lc.acct.ID, Phone: lc.number,
		Template: t.Template, Channel: t.Channel, Link: r.link(lc.c, lc.acct)}
	if err := r.sendSMS(context.WithoutCancel(ctx), m); err != nil {
		return nil, fmt.Errorf("call %s: text %s: %w", lc.id, t.Template, err)
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	a := lc.answerLocked()
	a.Text = &TextQueued{Template: t.Template, Channel: t.Channel, Phone: lc.number}
	return a, nil
}
