package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/contact"
	"github.com/marcador/marcador/queue/promise"
)

// work handles one claimed contact from the gate to the retry decision; ln
// is its place in its loop's line counts (nil outside a loop).
func (r *Runner) work(ctx context.Context, c queue.Campaign, trunk *dialer.Trunk, l queue.Lease, ln *line) error {
	p, err := r.prepare(ctx, c, trunk.Name, l)
	if err != nil || p == nil {
		return err
	}
	return r.place(ctx, c, trunk, l, p, ln)
}

// prepared is a claimed contact the compliance gate let through: its
// attempt row begun, the number to dial, whom the call reaches and in
// which zones.
type prepared struct {
	number string
	a      analytics.Attempt
	subj   compliance.Subject
	zones  []*time.Location
}

// prepare takes a claimed contact to the gate: the attempt's number, its
// phone (one not on a do-not-contact list) and the gate's reservation. nil
// when it is not to be dialled now (it is settled then: blocked, or
// interrupted by a node that died). The dialer and a preview agent
// (preview.go) claim through it alike.
func (r *Runner) prepare(ctx context.Context, c queue.Campaign, trunk string, l queue.Lease) (*prepared, error) {
	st, acct := r.opt.Store, l.Account
	if prev, since, ok, err := st.WasInFlight(ctx, c.ID, acct.ID); err != nil {
		return nil, err
	} else if ok {
		return nil, r.interrupted(ctx, c, l, prev, since)
	}
	n, err := st.NextAttempt(ctx, c.ID, acct.ID)
	if err != nil {
		return nil, err
	}
	number, listed := contact.Pick(ctx, r.opt.Gate, c.ID, acct.Phones, analytics.Voice, n)
	a, subj, zones := r.newAttempt(c, acct, number, trunk, n)
	if listed {
		a.Disposition, a.Reason, a.EndedAt = analytics.Blocked, "dnc: every phone of the account is on a voice do-not-contact list", a.StartedAt
		return nil, r.settle(ctx, c, l, &a, time.Time{})
	}
	d, err := r.reserve(ctx, c, subj, &a)
	if err != nil {
		return nil, err
	}
	if !d.Allowed {
		return nil, r.settle(ctx, c, l, &a, d.NextAllowed)
	}
	return &prepared{number: number, a: a, subj: subj, zones: zones}, nil
}

// place dials a prepared contact, records the attempt and applies the
// retry policy.
func (r *Runner) place(ctx context.Context, c queue.Campaign, trunk *dialer.Trunk, l queue.Lease, p *prepared, ln *line) error {
	st, acct, a := r.opt.Store, l.Account, &p.a
	if err := st.InFlight(ctx, c.ID, acct.ID, a.AttemptID, a.StartedAt); err != nil {
		return err
	}
	stopLease := r.keepLease(ctx, l)
	res, ag, err := r.call(ctx, c, trunk, acct, p.number, p.subj, p.zones, a, ln)
	lease := stopLease()
	if err != nil {
		return err
	}
	if err := r.record(ctx, c, acct, p.subj, a, res, spoke(*a, res) || ag.talked(*a)); err != nil {
		return err
	}
	if err := r.settleOutcome(ctx, c, lease, a, res, ag.disposition(), len(acct.Phones) > 1); err != nil {
		return err
	}
	ag.finish(ctx, a)
	if a.Disposition != analytics.LocalError { // nothing happened that a text could follow up
		r.fallback(ctx, c, acct, a)
	}
	return nil
}

// interrupted settles a contact whose call was in progress when its node
// died: it is not dialled again at once; the attempt (prev, started at
// since) is recorded as interrupted and retried later.
func (r *Runner) interrupted(ctx context.Context, c queue.Campaign, l queue.Lease, prev string, since time.Time) error {
	a := analytics.Attempt{AttemptID: prev, CampaignID: c.ID, AccountID: l.Account.ID, Channel: analytics.Voice, NodeID: r.opt.Node,
		StartedAt: since, EndedAt: r.opt.Now(), Disposition: analytics.Interrupted, Reason: "the node placing this call stopped"}
	return r.settle(ctx, c, l, &a, nextDue(c.Retry, outcome{Disposition: analytics.Interrupted}, r.opt.Now()).Next)
}

// newAttempt starts the attempt row of call n to number and says who is
// called and in which zones, for the gate.
func (r *Runner) newAttempt(c queue.Campaign, acct queue.Account, number, trunk string, n int) (analytics.Attempt, compliance.Subject, []*time.Location) {
	at := r.contacts.Start(c, acct, number, analytics.Voice)
	at.Row.Trunk, at.Row.AttemptNo = trunk, uint16(n)
	return at.Row, at.Subject, at.Zones
}

// reserve asks the gate for a voice call; a refusal fills the attempt in
// as blocked.
func (r *Runner) reserve(ctx context.Context, c queue.Campaign, subj compliance.Subject, a *analytics.Attempt) (compliance.Decision, error) {
	profile, err := r.opt.Gate.Profile(c.Profile, subj)
	if err != nil {
		return compliance.Decision{}, err
	}
	d, err := r.opt.Gate.Reserve(ctx, profile, subj, analytics.Voice, a.AttemptID, false)
	if err != nil {
		return d, err
	}
	if !d.Allowed {
		a.Disposition, a.Reason, a.EndedAt = analytics.Blocked, d.Rule+": "+d.Reason, a.StartedAt
	}
	return d, nil
}

// spoke says someone answered and keyed: a contact and a conversation
// (also when the script failed later). Where the script checks who
// answered, only the debtor who proved it (identified made the row of
// anyone else wrong_party or not_verified): a talk with a third party is no
// conversation with the debtor for the caps. The rule is the row's
// (analytics.Spoke), so a restore from the rows counts what was counted.
func spoke(a analytics.Attempt, res ivr.Result) bool {
	return analytics.Spoke(a.Channel, a.Disposition, len(res.Path) > 0 && res.DTMF != "")
}

// CallRequest is one call outside a campaign's queue: an operator's test of
// a script on a real call (marcador call -script).
type CallRequest struct {
	Campaign, Account string
	Script            string // default the campaign's
	To                string // default the account's first phone
	Trunk             string // default the campaign's
	// SkipGate dials without asking the compliance gate (a lab number).
	SkipGate bool
}

// CallOnce places req's call and runs the script on answer, recording the
// attempt, its promise and opt-out as a campaign call would; the account's
// place in the queue is left alone.
func (r *Runner) CallOnce(ctx context.Context, req CallRequest) (analytics.Attempt, ivr.Result, error) {
	var res ivr.Result
	c, err := r.opt.Store.Campaign(ctx, req.Campaign)
	if err != nil {
		return analytics.Attempt{}, res, err
	}
	if req.Script != "" {
		c.Script = req.Script
	}
	if req.Trunk != "" {
		c.Trunk = req.Trunk
	}
	c.Mode = queue.ModeIVR
	if err := r.check(c); err != nil {
		return analytics.Attempt{}, res, err
	}
	acct, err := r.opt.Store.Account(ctx, c.ID, req.Account)
	if err != nil {
		return analytics.Attempt{}, res, err
	}
	number := req.To
	if number == "" {
		number = acct.Phones[0].Number
	}
	a, subj, zones := r.newAttempt(c, acct, number, c.Trunk, 1)
	if !req.SkipGate {
		d, err := r.reserve(ctx, c, subj, &a)
		if err != nil {
			return a, res, err
		}
		if !d.Allowed {
			a.Ver = 1
			return a, res, r.opt.Writer.Write(ctx, &a)
		}
	}
	res, ag, err := r.call(ctx, c, r.opt.Trunks[c.Trunk], acct, number, subj, zones, &a, nil)
	defer ag.finish(ctx, &a)
	if err != nil {
		return a, res, err
	}
	if err := r.record(ctx, c, acct, subj, &a, res, spoke(a, res)); err != nil {
		return a, res, err
	}
	if a.EndedAt.IsZero() {
		a.EndedAt = r.opt.Now()
	}
	a.Ver = 1
	return a, res, r.opt.Writer.Write(ctx, &a)
}

// dialFailed records a call that did not go out (a local error) or failed
// on the network. Nothing left this node on a local error, so nobody was
// contacted: the gate gets its reservation back (a cap such as CL's one
// call a week is not used up).
func (r *Runner) dialFailed(ctx context.Context, err error, subj compliance.Subject, a *analytics.Attempt, ln *line) error {
	a.Disposition, a.Reason, a.EndedAt = analytics.NetworkError, err.Error(), r.opt.Now()
	defer ln.done()
	if !errors.Is(err, dialer.ErrLocal) {
		return nil
	}
	ln.notSent()
	a.Disposition = analytics.LocalError
	if _, rerr := r.opt.Gate.Release(ctx, subj, a.AttemptID); rerr != nil {
		return rerr
	}
	return nil
}

// call dials and, on answer, runs the campaign's script (an agent
// campaign: bridges the debtor to an agent, agentcall.go). The agentCall
// it returns, when an agent took part, settles with the attempt.
func (r *Runner) call(ctx context.Context, c queue.Campaign, trunk *dialer.Trunk, acct queue.Account, number string,
	subj compliance.Subject, zones []*time.Location, a *analytics.Attempt, ln *line) (ivr.Result, *agentCall, error) {
	var res ivr.Result
	tap, err := newAMDTap(c)
	if err != nil {
		// Start checked the block; a definition changed since is taken
		// as off (people first) and said.
		r.log.Error("campaign: amd block unusable; this call is not screened", "campaign", c.ID, "err", err)
	}
	ln.sending()
	leg, err := r.opt.Endpoint.Dial(ctx, dialer.DialRequest{Trunk: trunk, To: number, CallerID: c.CallerID,
		RingTimeout: time.Duration(c.RingTimeout), OnAudio: tap.onAudio()})
	if err != nil {
		return res, nil, r.dialFailed(ctx, err, subj, a, ln)
	}
	select {
	case <-leg.Ended():
		ln.done() // unanswered: the pacer learns it now, not after the row
		leg.Result().ApplyTo(a)
		return res, nil, nil
	default:
	}
	tap.arm(time.Now())
	sc := r.screen(ctx, c, acct, number, zones, leg, tap, a, ln)
	if !sc.person {
		return sc.res, nil, nil
	}
	ln.answered()
	// A person's decision may still be revised to machine (amd_revise.go).
	f := tap.follow(ctx, leg)
	defer f.stop()
	if c.HasAgents() && r.opt.Agents != nil {
		lc := r.newLiveCall(c, acct, number, leg, a, subj)
		lc.greeted, lc.tap = sc.greeted, tap
		res = lc.run(ctx, ln)
		f.stop()
		if lc.machineFound() {
			res = r.toMachine(ctx, c, acct, number, zones, leg, tap, a, ln, lc, res)
		} else {
			endCall(ctx, leg, a, res)
		}
		ag := lc.settle(a)
		ln.settled(a, ag, res)
		return res, ag, nil
	}
	env := r.env(c, acct, number, a.AttemptID)
	if len(zones) > 0 {
		env.Zone = zones[0]
	}
	if r.opt.Scripts[c.Script].Verifies() {
		env.Verify = r.rightParty(c, acct, number, a.AttemptID, env)
	}
	var lc *liveCall
	if r.opt.Agents != nil {
		env.Transfer = r.transferFromIVR(ctx, c, acct, number, leg, a, subj, tap, &lc, ln)
	}
	res, err = ivr.Run(f.ctx, leg.Session(), r.opt.Scripts[c.Script], env)
	if err == nil && res.Transferred && lc != nil {
		more := lc.talkAndWrap(ctx)
		res.Path, res.DTMF = append(res.Path, more.Path...), res.DTMF+more.DTMF
		if more.Promise != nil {
			res.Promise = more.Promise
		}
	}
	f.stop()
	if tap.switched() {
		// The script was cut (or had just ended), or the agent it
		// reached was freed: a machine's call after all.
		return r.toMachine(ctx, c, acct, number, zones, leg, tap, a, ln, lc, res), lc.settle(a), nil
	}
	endCall(ctx, leg, a, res)
	if err != nil {
		// The debtor did not get the message: its own outcome, retried
		// (unless whoever answered was not verified: identified).
		a.Disposition, a.Reason = analytics.IVRError, err.Error()
		r.log.Error("campaign: script failed", "campaign", c.ID, "account", acct.ID, "err", err)
	}
	identified(a, res)
	ag := lc.settle(a)
	ln.settled(a, ag, res)
	return res, ag, nil
}

// endCall ends an answered call and writes how it went and res's path and
// keys into its row.
func endCall(ctx context.Context, leg *dialer.Leg, a *analytics.Attempt, res ivr.Result) {
	hangup(ctx, leg).ApplyTo(a)
	a.IVRPath, a.DTMF = res.IVRPath(), res.DTMF
}

// hangup ends the call (if the far end has not) and returns how it went,
// waiting 10 s at most.
func hangup(ctx context.Context, leg *dialer.Leg) dialer.Result {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return leg.Hangup(hctx)
}

// transferFromIVR is an IVR script's transfer node: a ready agent of the
// campaign this node holds within the node's timeout, bridged with the
// account on the agent's screen; false (the script's fallback) when none
// comes. *out is the call once bridged. While it waits, its line counts
// as a transfer waiting for an agent.
func (r *Runner) transferFromIVR(ctx context.Context, c queue.Campaign, acct queue.Account, number string, leg *dialer.Leg,
	a *analytics.Attempt, subj compliance.Subject, tap *amdTap, out **liveCall, ln *line) func(context.Context, string, time.Duration) (bool, error) {
	return func(tctx context.Context, _ string, timeout time.Duration) (bool, error) {
		if *out != nil {
			return false, nil // one agent per call
		}
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		ln.waitingAgent(true)
		defer ln.waitingAgent(false)
		lc := r.newLiveCall(c, acct, number, leg, a, subj)
		lc.fromIVR, lc.tap = true, tap
		lc.prefetch(ctx)
		deadline := time.Now().Add(timeout)
		for lc.waitForAgent(tctx, deadline) {
			err := lc.connect(tctx)
			if err == nil {
				*out = lc
				return true, nil
			}
			if lc.debtorGone() {
				break
			}
			lc.log.Warn("campaign: agent not bridged; looking for another", "err", err)
		}
		lc.close()
		lc.finish(ctx, &analytics.Attempt{}, nil)
		lc.log.Info("campaign: IVR transfer found no agent; the script falls back", "timeout", timeout.String())
		return false, nil
	}
}

// env is what a script may do on call attempt of acct of campaign c at number.
func (r *Runner) env(c queue.Campaign, acct queue.Account, number, attempt string) ivr.Env {
	env := ivr.Env{Lang: contact.Language(c, acct), Account: acct, Now: r.opt.Now(), CallbackNumber: c.CallbackNumber, Library: r.opt.Library,
		Policy: policy(c),
		OptOut: func(ctx context.Context, ch string) error {
			return r.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: number, Channel: ch, Reason: "opted out in the IVR", Source: "ivr"})
		},
		SendSMS: func(ctx context.Context, tpl, ch string) error {
			return r.scriptSMS(ctx, c, acct, number, attempt, tpl, ch)
		}}
	return env
}

// sendSMS hands m to the SMS sender, or logs it when there is none.
func (r *Runner) sendSMS(ctx context.Context, m SMSRequest) error {
	if r.opt.SendSMS == nil {
		r.log.Info("sms requested (no SMS provider configured)", "campaign", m.Campaign, "account", m.Account,
			"template", m.Template, "channel", m.Channel, "link", m.Link)
		return nil
	}
	return r.opt.SendSMS(ctx, m)
}

// scriptSMS queues the text a script's sms node asks for on call attempt,
// once per attempt and template.
func (r *Runner) scriptSMS(ctx context.Context, c queue.Campaign, acct queue.Account, number, attempt, tpl, ch string) error {
	return r.sendSMS(ctx, SMSRequest{Key: attempt + "/ivr/" + tpl, Campaign: c.ID, Account: acct.ID, Phone: number,
		Template: tpl, Channel: analytics.Channel(ch), Link: r.link(c, acct)})
}

// fallback queues the campaign's messages that follow a voice attempt
// (sms.fallback), each once per attempt.
func (r *Runner) fallback(ctx context.Context, c queue.Campaign, acct queue.Account, a *analytics.Attempt) {
	for i, rule := range c.SMS.Fallback {
		if !rule.Matches(*a) {
			continue
		}
		m := SMSRequest{Key: fmt.Sprintf("%s/fallback/%d", a.AttemptID, i), Campaign: c.ID, Account: acct.ID, Phone: a.Phone,
			Template: rule.Template, Channel: rule.Channel, Link: r.link(c, acct), At: r.opt.Now().Add(time.Duration(rule.Delay))}
		if a.Disposition == analytics.InvalidNumber {
			m.Phone = "" // another of the account's phones, if it has one that may be texted
		}
		if err := r.sendSMS(ctx, m); err != nil {
			r.log.Error("campaign: fallback message not queued", "campaign", c.ID, "account", acct.ID, "template", rule.Template, "err", err)
			continue
		}
		r.log.Info("campaign: fallback message queued", "campaign", c.ID, "account", acct.ID, "after", a.Disposition,
			"template", rule.Template, "channel", rule.Channel)
	}
}

func policy(c queue.Campaign) ivr.Policy {
	return ivr.Policy{MaxDays: c.Promise.MaxDays, MinAmount: decimal.NewFromFloat(c.Promise.MinAmount),
		MinPercent: decimal.NewFromFloat(c.Promise.MinPercent)}
}

func (r *Runner) link(c queue.Campaign, acct queue.Account) string {
	return r.opt.Signer.Link(c.PayURL, acct.ID, c.ID)
}

// record writes the promise, if any, and feeds outcomes to the gate.
func (r *Runner) record(ctx context.Context, c queue.Campaign, acct queue.Account, subj compliance.Subject, a *analytics.Attempt, res ivr.Result, spoke bool) error {
	// The IVR's identification (a verify node) says it is the debtor.
	a.RightParty = a.RightParty || res.Verified
	if p := res.Promise; p != nil {
		a.PromiseAmount, a.PromiseDate = p.Amount, p.Date
		if _, err := r.opt.Promises.Capture(ctx, promise.Record{Campaign: c.ID, Account: acct.ID, Attempt: a.AttemptID,
			Channel: analytics.PromiseIVR, Amount: p.Amount, Currency: acct.Currency, Due: p.Date, Grace: c.Promise.GraceDays,
			KeepPercent: c.Promise.KeepPercent, Country: a.Country, Segment: a.Segment, Created: r.opt.Now()}); err != nil {
			return err
		}
	}
	if spoke {
		for _, kind := range []string{compliance.KindContact, compliance.KindConversation} {
			if err := r.opt.Gate.Record(ctx, subj, analytics.Voice, kind, a.AttemptID, r.opt.Gate.Now()); err != nil {
				return err
			}
		}
	}
	if a.Disposition == analytics.InvalidNumber {
		return r.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: a.Phone, Channel: "all", Reason: analytics.InvalidNumber, Source: "dialer"})
	}
	return nil
}
