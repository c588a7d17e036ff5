package campaign

import (
	"context"
	"slices"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/phone"
)

// InboundOptions configure the line debtors call back on.
type InboundOptions struct {
	Script   string   // default inbound-callback
	Language string   // for callers not known by caller id; default es
	Numbers  []string // called numbers (Request-URI user) answered; empty: every one
	Country  string   // region for caller ids in national format, e.g. MX
	// Campaign is where calls from callers who are never identified are
	// recorded; default "inbound".
	Campaign string
}

// InboundDisposition marks an answered inbound call in contact_attempts.
const InboundDisposition = "inbound"

// Inbound answers a debtor's call: it identifies them by caller id (any of
// an account's phones, in any campaign) or by the account or national id
// number they key, runs the inbound script, and records the call, its
// promise and opt-out like an outbound one. A promise or opt-out ends the
// account's outbound work in its campaign.
func (r *Runner) Inbound(in *dialer.Inbound) {
	o := r.opt.Inbound
	if o.Script == "" {
		o.Script = "inbound-callback"
	}
	if o.Campaign == "" {
		o.Campaign = "inbound"
	}
	log := r.log.With("call_id", in.CallID(), "from", in.From(), "to", in.To())
	if len(o.Numbers) > 0 && !slices.Contains(o.Numbers, in.To()) {
		log.Info("inbound call to a number we do not serve")
		in.Reject(404, "Not Found")
		return
	}
	s := r.opt.Scripts[o.Script]
	if s == nil {
		log.Error("inbound call: script not loaded", "script", o.Script)
		in.Reject(503, "Service Unavailable")
		return
	}
	r.calls.Add(1)
	defer r.calls.Done()
	ctx := r.ctx
	caller, err := phone.Normalize(in.From(), o.Country)
	if err != nil {
		caller = in.From()
	}
	c := queue.Campaign{ID: o.Campaign, Language: o.Language}
	acct, ref, known := r.pick(r.opt.Store.LookupPhone(ctx, caller))
	if known {
		if cc, err := r.opt.Store.Campaign(ctx, ref.Campaign); err == nil {
			c = cc
		}
	}
	a := analytics.Attempt{AttemptID: analytics.NewAttemptID(), Phone: caller, Channel: analytics.Voice, NodeID: r.opt.Node,
		Trunk: "inbound", StartedAt: r.opt.Now(), Country: phone.Region(caller)}
	in.Ringing()
	leg, err := in.Answer(ctx, dialer.AnswerOptions{})
	if err != nil {
		log.Error("inbound call not answered", "err", err)
		return
	}
	env := r.env(c, acct, caller, a.AttemptID)
	if !known && o.Language != "" {
		env.Lang = o.Language
	}
	env.Identify = func(ctx context.Context, digits string) (queue.Account, ivr.Policy, bool) {
		got, ref, ok := r.pick(r.opt.Store.LookupID(ctx, digits))
		if !ok {
			return got, ivr.Policy{}, false
		}
		if cc, err := r.opt.Store.Campaign(ctx, ref.Campaign); err == nil {
			c = cc
		}
		acct, known = got, true
		return got, policy(c), true
	}
	// The caller may be identified only by keying an id: texts go to the
	// account found then.
	env.SendSMS = func(ctx context.Context, tpl, ch string) error {
		return r.scriptSMS(ctx, c, acct, caller, a.AttemptID, tpl, ch)
	}
	// "Stop calling me" from a debtor covers the number they call from and
	// every phone of their account.
	env.OptOut = func(ctx context.Context, ch string) error {
		nums := []string{caller}
		for _, p := range acct.Phones {
			nums = append(nums, p.Number)
		}
		for _, n := range nums {
			if err := r.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: n, Channel: ch, Reason: "opted out on an inbound call", Source: "ivr"}); err != nil {
				return err
			}
		}
		return nil
	}
	subj := func() compliance.Subject {
		return compliance.Subject{Phone: caller, Account: acct.ID, NationalID: acct.NationalID, Country: acct.Country,
			TimeZone: acct.TimeZone, DefaultZone: c.TimeZone, Campaign: c.ID}
	}
	if zones, _ := compliance.Zones(subj()); len(zones) > 0 {
		env.Zone = zones[0]
	}
	res, runErr := ivr.Run(ctx, leg.Session(), s, env)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	leg.Hangup(hctx).ApplyTo(&a)
	wctx := context.WithoutCancel(ctx)
	a.CampaignID, a.AccountID, a.Currency = c.ID, acct.ID, acct.Currency
	a.Disposition, a.IVRPath, a.DTMF = InboundDisposition, res.IVRPath(), res.DTMF
	if runErr != nil {
		a.Reason = runErr.Error()
		log.Error("inbound script failed", "err", runErr)
	}
	if zones, _ := compliance.Zones(subj()); len(zones) > 0 {
		a.SetLocalTime(zones[0])
	}
	// A debtor who called and was identified has had a conversation: the
	// quiet periods that follow one apply to our next outbound call too.
	if err := r.record(wctx, c, acct, subj(), &a, res, known); err != nil {
		log.Error("inbound call: record outcome", "err", err)
	}
	a.Ver = 1
	if err := r.opt.Writer.Write(wctx, &a); err != nil {
		log.Error("inbound call: write attempt", "err", err)
	}
	if known && (res.Promise != nil || res.OptedOut) {
		reason := "promise on an inbound call"
		if res.OptedOut {
			reason = "opted out on an inbound call"
		}
		if err := r.opt.Store.Finish(wctx, c.ID, acct.ID, time.Now(), reason); err != nil {
			log.Warn("inbound call: account not taken out of its queue", "err", err)
		}
	}
	log.Info("inbound call", "account", acct.ID, "campaign", c.ID, "identified", known, "ivr_path", a.IVRPath,
		"promise", a.PromiseAmount.String())
}

// pick chooses among the accounts a lookup found: the first with a balance
// owed (the index is sorted by campaign and account), else the first.
func (r *Runner) pick(accts []queue.Account, refs []queue.Ref, err error) (queue.Account, queue.Ref, bool) {
	if err != nil {
		r.log.Warn("inbound lookup failed", "err", err)
		return queue.Account{}, queue.Ref{}, false
	}
	for i, a := range accts {
		if a.Balance.IsPositive() {
			return a, refs[i], true
		}
	}
	if len(accts) > 0 {
		return accts[0], refs[0], true
	}
	return queue.Account{}, queue.Ref{}, false
}
