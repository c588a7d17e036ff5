package campaign

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/contact"
	"github.com/marcador/marcador/queue/phone"
)

// InboundOptions configure the line debtors call back on.
type InboundOptions struct {
	Script   string   // default inbound-callback
	Language string   // for callers not known by caller id; default es
	Numbers  []string // called numbers (Request-URI user) answered; empty: every one
	Country  string   // region for caller ids in national format, e.g. MX
	// Campaign is where calls from callers who never prove who they are
	// are recorded; default "inbound".
	Campaign string
	// Verify is what callers key to prove who they are: national_id_last4
	// (default), birth_date or account_number.
	Verify string
	// Lockout bounds failed identifications per calling number and per SIP
	// source address, across calls (defaults: 5 and 20 an hour).
	Lockout queue.IdentityLimits
}

// Inbound answers a debtor's call and runs the inbound script. The caller
// id only says which accounts the caller may hold: nothing about an account
// is said, and no opt-out covers more than the calling number, until the
// caller proves who they are (the script's verify node). Failed tries are
// counted per calling number and source across calls, each one an attempt
// row of its own. The call is recorded like an outbound one, in the
// verified account's campaign; a promise or opt-out made after verifying
// ends the account's outbound work there.
func (r *Runner) Inbound(in *dialer.Inbound) {
	o := r.opt.Inbound
	if o.Script == "" {
		o.Script = "inbound-callback"
	}
	if o.Campaign == "" {
		o.Campaign = "inbound"
	}
	lim := o.Lockout.WithDefaults()
	source := ""
	if a := in.SourceAddr(); a.IsValid() {
		source = a.String()
	}
	log := r.log.With("call_id", in.CallID(), "from", in.From(), "to", in.To(), "source", source)
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
	byCaller := r.candidates(ctx, r.opt.Store.LookupPhone, caller)
	// Until the caller is verified the call belongs to no account: c is the
	// line's campaign (its language, the first candidate's if any).
	c := queue.Campaign{ID: o.Campaign, Language: o.Language}
	at := r.contacts.Start(c, queue.Account{}, caller, analytics.Voice)
	a := &at.Row
	a.Trunk = "inbound"
	in.Ringing()
	leg, err := in.Answer(ctx, dialer.AnswerOptions{})
	if err != nil {
		log.Error("inbound call not answered", "err", err)
		return
	}
	env := r.env(c, queue.Account{}, caller, a.AttemptID)
	if len(byCaller) > 0 {
		// The language of the account the number most likely belongs to.
		cc, err := r.opt.Store.Campaign(ctx, byCaller[0].Campaign)
		if err != nil {
			cc = queue.Campaign{}
		}
		env.Lang = contact.Language(cc, byCaller[0].Account, o.Language)
	}
	var acct queue.Account // the verified account
	var verified bool
	lockedBy := ""
	env.Verify = &ivr.Verification{Method: o.Verify, CallerID: byCaller,
		Lookup: func(ctx context.Context, digits string) []ivr.Candidate {
			return r.candidates(ctx, r.opt.Store.LookupID, digits)
		},
		Locked: func(ctx context.Context) bool {
			by, err := r.opt.Store.IdentityLocked(ctx, caller, source, lim, r.opt.Now())
			if err != nil {
				// Without the count nobody may try: fail closed.
				log.Error("inbound call: identity failures unknown; no try allowed", "err", err)
				by = "unknown"
			}
			if by != "" {
				lockedBy = by
				log.Warn("inbound call: identification locked", "by", by, "per_number", lim.PerNumber, "per_source", lim.PerSource,
					"window", lim.Window)
			}
			return by != ""
		},
		Failed: func(ctx context.Context, reason string, about []ivr.Candidate) {
			r.identityFailed(ctx, log, o, lim, caller, source, a.AttemptID, reason, about)
		},
		Verified: func(ctx context.Context, cand ivr.Candidate) {
			acct, verified = cand.Account, true
			if cc, err := r.opt.Store.Campaign(ctx, cand.Campaign); err == nil {
				c = cc
			} else {
				c = queue.Campaign{ID: cand.Campaign, Language: c.Language}
			}
		},
	}
	// Texts go to the calling number, about the verified account (scripts
	// send none before: the loader refuses it).
	env.SendSMS = func(ctx context.Context, tpl, ch string) error {
		return r.scriptSMS(ctx, c, acct, caller, a.AttemptID, tpl, ch)
	}
	// "Stop calling me" covers the number calling; from a verified debtor,
	// every phone of their account too.
	env.OptOut = func(ctx context.Context, ch string) error {
		nums := []string{caller}
		if verified {
			for _, p := range acct.Phones {
				nums = append(nums, p.Number)
			}
		}
		for _, n := range nums {
			if err := r.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: n, Channel: ch, Reason: "opted out on an inbound call", Source: "ivr"}); err != nil {
				return err
			}
		}
		return nil
	}
	// A call back goes to the numbers on file of the verified account, else
	// of the accounts holding the calling number; never to a number we
	// only know from this call.
	env.Callback = func(ctx context.Context) error {
		cands := byCaller
		if verified {
			cands = []ivr.Candidate{{Account: acct, Campaign: c.ID}}
		}
		for _, cand := range cands {
			queued, err := r.opt.Store.CallBack(ctx, cand.Campaign, cand.Account.ID, r.opt.Now(), "call back asked on the inbound line")
			if err != nil {
				return err
			}
			log.Info("inbound call: call back asked", "campaign", cand.Campaign, "account", cand.Account.ID, "queued", queued, "verified", verified)
		}
		return nil
	}
	if len(byCaller) > 0 && byCaller[0].Zone != nil {
		env.Zone = byCaller[0].Zone
	}
	res, runErr := ivr.Run(ctx, leg.Session(), s, env)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	leg.Hangup(hctx).ApplyTo(a)
	wctx := context.WithoutCancel(ctx)
	at.Assign(c, acct) // the verified account's, else still the line's
	a.Disposition, a.IVRPath, a.DTMF = analytics.Inbound, res.IVRPath(), res.DTMF
	switch {
	case runErr != nil:
		a.Reason = runErr.Error()
		log.Error("inbound script failed", "err", runErr)
	case res.Locked && lockedBy == "unknown":
		a.Reason = "caller not verified: failed identifications could not be counted"
	case res.Locked:
		a.Reason = "caller not verified: too many failed identifications from this " + lockedBy
	case !verified:
		a.Reason = "caller not verified"
	}
	// A verified debtor who called has had a conversation: the quiet
	// periods that follow one apply to our next outbound call too. An
	// unverified caller may be anyone: no contact is recorded.
	if err := r.record(wctx, c, acct, at.Subject, a, res, verified); err != nil {
		log.Error("inbound call: record outcome", "err", err)
	}
	a.Ver = 1
	if err := r.opt.Writer.Write(wctx, a); err != nil {
		log.Error("inbound call: write attempt", "err", err)
	}
	if verified && (res.Promise != nil || res.OptedOut) {
		reason := "promise on an inbound call"
		if res.OptedOut {
			reason = "opted out on an inbound call"
		}
		if err := r.opt.Store.Finish(wctx, c.ID, acct.ID, leaseNow(), reason); err != nil {
			log.Warn("inbound call: account not taken out of its queue", "err", err)
		}
	}
	log.Info("inbound call", "account", acct.ID, "campaign", c.ID, "verified", verified, "locked", res.Locked,
		"ivr_path", a.IVRPath, "promise", a.PromiseAmount.String())
}

// identityFailed counts a failed identification for the calling number and
// source and records it as an attempt row of its own (in the claimed
// account's campaign, when the caller claimed one).
func (r *Runner) identityFailed(ctx context.Context, log *slog.Logger, o InboundOptions, lim queue.IdentityLimits,
	caller, source, call, reason string, about []ivr.Candidate) {
	at := r.contacts.Start(queue.Campaign{ID: o.Campaign}, queue.Account{}, caller, analytics.Voice)
	if len(about) > 0 {
		at.Assign(queue.Campaign{ID: about[0].Campaign}, about[0].Account)
	}
	row := &at.Row
	row.Trunk, row.EndedAt, row.Disposition, row.Reason, row.Ver = "inbound", row.StartedAt, analytics.IdentityFailed,
		reason+" (call "+call+")", 1
	wctx := context.WithoutCancel(ctx)
	if err := r.opt.Store.IdentityFailed(wctx, caller, source, row.AttemptID, lim, row.StartedAt); err != nil {
		log.Error("inbound call: identity failure not counted", "err", err)
	}
	if err := r.opt.Writer.Write(wctx, row); err != nil {
		log.Error("inbound call: write identity failure", "err", err)
	}
	log.Warn("inbound call: identification failed", "reason", reason, "account", row.AccountID)
}

// candidates are the accounts a lookup finds, owed ones first, each with
// its campaign's promise policy and the debtor's zone.
func (r *Runner) candidates(ctx context.Context, lookup func(context.Context, string) ([]queue.Account, []queue.Ref, error), v string) []ivr.Candidate {
	accts, refs, err := lookup(ctx, v)
	if err != nil {
		r.log.Warn("inbound lookup failed", "err", err)
		return nil
	}
	var owed, rest []ivr.Candidate
	camps := map[string]queue.Campaign{}
	for i, acct := range accts {
		c, ok := camps[refs[i].Campaign]
		if !ok {
			cc, err := r.opt.Store.Campaign(ctx, refs[i].Campaign)
			if err != nil {
				cc = queue.Campaign{ID: refs[i].Campaign}
			}
			c = cc
			camps[refs[i].Campaign] = cc
		}
		cand := ivr.Candidate{Account: acct, Campaign: refs[i].Campaign, Policy: policy(c)}
		number := ""
		if len(acct.Phones) > 0 {
			number = acct.Phones[0].Number
		}
		if zones := contact.Zones(c, acct, number); len(zones) > 0 {
			cand.Zone = zones[0]
		}
		if acct.Balance.IsPositive() {
			owed = append(owed, cand)
		} else {
			rest = append(rest, cand)
		}
	}
	return append(owed, rest...)
}
