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
	ic := r.newInboundCall(in)
	if len(ic.o.Numbers) > 0 && !slices.Contains(ic.o.Numbers, in.To()) {
		ic.log.Info("inbound call to a number we do not serve")
		ic.reject(in, 404, "Not Found")
		return
	}
	s := r.opt.Scripts[ic.o.Script]
	if s == nil {
		ic.log.Error("inbound call: script not loaded", "script", ic.o.Script)
		ic.reject(in, 503, "Service Unavailable")
		return
	}
	r.calls.Add(1)
	defer r.calls.Done()
	ctx := r.ctx
	ic.identify(ctx, in.From())
	if err := in.Ringing(); err != nil {
		ic.log.Warn("inbound call: 180 Ringing not sent", "err", err)
	}
	leg, err := in.Answer(ctx, dialer.AnswerOptions{})
	if err != nil {
		ic.log.Error("inbound call not answered", "err", err)
		return
	}
	res, runErr := ivr.Run(ctx, leg.Session(), s, ic.env(ctx))
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	leg.Hangup(hctx).ApplyTo(&ic.at.Row)
	ic.finish(context.WithoutCancel(ctx), res, runErr)
}

// inboundCall is one call on the callback line: who is calling, and who
// they have proved to be. The script's verify, text, opt-out and call-back
// nodes act through its methods.
type inboundCall struct {
	r        *Runner
	o        InboundOptions // with defaults
	lim      queue.IdentityLimits
	log      *slog.Logger
	caller   string          // the calling number, E.164 when it parses
	source   string          // the SIP source address, if known
	byCaller []ivr.Candidate // the accounts holding the calling number
	at       contact.Attempt // the call's attempt
	// Until the caller is verified the call belongs to no account: c is the
	// line's campaign; then the verified account's.
	c        queue.Campaign
	acct     queue.Account // the verified account
	verified bool
	lockedBy string // what locked identification: number, source or unknown
}

func (r *Runner) newInboundCall(in *dialer.Inbound) *inboundCall {
	o := r.opt.Inbound
	if o.Script == "" {
		o.Script = "inbound-callback"
	}
	if o.Campaign == "" {
		o.Campaign = "inbound"
	}
	ic := &inboundCall{r: r, o: o, lim: o.Lockout.WithDefaults()}
	if a := in.SourceAddr(); a.IsValid() {
		ic.source = a.String()
	}
	ic.log = r.log.With("call_id", in.CallID(), "from", in.From(), "to", in.To(), "source", ic.source)
	return ic
}

// reject refuses the call with code.
func (ic *inboundCall) reject(in *dialer.Inbound, code int, reason string) {
	if err := in.Reject(code, reason); err != nil {
		ic.log.Warn("inbound call: rejection not sent", "code", code, "err", err)
	}
}

// identify looks up the accounts holding the calling number and starts the
// call's attempt in the line's campaign.
func (ic *inboundCall) identify(ctx context.Context, from string) {
	r := ic.r
	caller, err := phone.Normalize(from, ic.o.Country)
	if err != nil {
		caller = from
	}
	ic.caller = caller
	ic.byCaller = r.candidates(ctx, r.opt.Store.LookupPhone, caller)
	// The line's language until the caller is verified (see env).
	ic.c = queue.Campaign{ID: ic.o.Campaign, Language: ic.o.Language}
	ic.at = r.contacts.Start(ic.c, queue.Account{}, caller, analytics.Voice)
	ic.at.Row.Trunk = "inbound"
}

// env is what the inbound script may do on this call.
func (ic *inboundCall) env(ctx context.Context) ivr.Env {
	r := ic.r
	env := r.env(ic.c, queue.Account{}, ic.caller, ic.at.Row.AttemptID)
	if len(ic.byCaller) > 0 {
		// The language of the account the number most likely belongs to.
		cc, err := r.opt.Store.Campaign(ctx, ic.byCaller[0].Campaign)
		if err != nil {
			ic.log.Warn("inbound call: campaign not read; the account's language only", "campaign", ic.byCaller[0].Campaign, "err", err)
			cc = queue.Campaign{}
		}
		env.Lang = contact.Language(cc, ic.byCaller[0].Account, ic.o.Language)
		if ic.byCaller[0].Zone != nil {
			env.Zone = ic.byCaller[0].Zone
		}
	}
	env.Verify = &ivr.Verification{Method: ic.o.Verify, CallerID: ic.byCaller,
		Lookup: ic.lookup, Locked: ic.locked, Failed: ic.failed, Verified: ic.verifiedAs}
	env.SendSMS, env.OptOut, env.Callback = ic.sendSMS, ic.optOut, ic.callback
	return env
}

// lookup finds the accounts whose account or national id number is digits.
func (ic *inboundCall) lookup(ctx context.Context, digits string) []ivr.Candidate {
	return ic.r.candidates(ctx, ic.r.opt.Store.LookupID, digits)
}

// locked says the caller may not try to identify: too many failures from
// the calling number or the source, or (failing closed) unknown.
func (ic *inboundCall) locked(ctx context.Context) bool {
	by, err := ic.r.opt.Store.IdentityLocked(ctx, ic.caller, ic.source, ic.lim, ic.r.opt.Now())
	if err != nil {
		// Without the count nobody may try: fail closed.
		ic.log.Error("inbound call: identity failures unknown; no try allowed", "err", err)
		by = "unknown"
	}
	if by != "" {
		ic.lockedBy = by
		ic.log.Warn("inbound call: identification locked", "by", by, "per_number", ic.lim.PerNumber, "per_source", ic.lim.PerSource,
			"window", ic.lim.Window)
	}
	return by != ""
}

// verifiedAs moves the call to the account the caller proved to hold, and
// to its campaign.
func (ic *inboundCall) verifiedAs(ctx context.Context, cand ivr.Candidate) {
	ic.acct, ic.verified = cand.Account, true
	if cc, err := ic.r.opt.Store.Campaign(ctx, cand.Campaign); err == nil {
		ic.c = cc
	} else {
		// The call is still recorded in the account's campaign, without
		// its settings (language, promise grace days).
		ic.log.Warn("inbound call: verified account's campaign not read", "campaign", cand.Campaign, "account", cand.Account.ID, "err", err)
		ic.c = queue.Campaign{ID: cand.Campaign, Language: ic.c.Language}
	}
}

// sendSMS texts the calling number about the verified account (scripts
// send none before: the loader refuses it).
func (ic *inboundCall) sendSMS(ctx context.Context, tpl, ch string) error {
	return ic.r.scriptSMS(ctx, ic.c, ic.acct, ic.caller, ic.at.Row.AttemptID, tpl, ch)
}

// optOut: "stop calling me" covers the number calling; from a verified
// debtor, every phone of their account too.
func (ic *inboundCall) optOut(ctx context.Context, ch string) error {
	nums := []string{ic.caller}
	if ic.verified {
		for _, p := range ic.acct.Phones {
			nums = append(nums, p.Number)
		}
	}
	for _, n := range nums {
		if err := ic.r.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: n, Channel: ch, Reason: "opted out on an inbound call", Source: "ivr"}); err != nil {
			return err
		}
	}
	return nil
}

// callback queues a call back to the numbers on file of the verified
// account, else of the accounts holding the calling number; never to a
// number we only know from this call.
func (ic *inboundCall) callback(ctx context.Context) error {
	cands := ic.byCaller
	if ic.verified {
		cands = []ivr.Candidate{{Account: ic.acct, Campaign: ic.c.ID}}
	}
	for _, cand := range cands {
		queued, err := ic.r.opt.Store.CallBack(ctx, cand.Campaign, cand.Account.ID, ic.r.opt.Now(), "call back asked on the inbound line")
		if err != nil {
			return err
		}
		ic.log.Info("inbound call: call back asked", "campaign", cand.Campaign, "account", cand.Account.ID, "queued", queued, "verified", ic.verified)
	}
	return nil
}

// finish records the call in the verified account's campaign (else the
// line's) and, after a verified promise or opt-out, ends the account's
// outbound work there.
func (ic *inboundCall) finish(ctx context.Context, res ivr.Result, runErr error) {
	r, a := ic.r, &ic.at.Row
	ic.at.Assign(ic.c, ic.acct) // the verified account's, else still the line's
	a.Disposition, a.IVRPath, a.DTMF = analytics.Inbound, res.IVRPath(), res.DTMF
	switch {
	case runErr != nil:
		a.Reason = runErr.Error()
		ic.log.Error("inbound script failed", "err", runErr)
	case res.Locked && ic.lockedBy == "unknown":
		a.Reason = "caller not verified: failed identifications could not be counted"
	case res.Locked:
		a.Reason = "caller not verified: too many failed identifications from this " + ic.lockedBy
	case !ic.verified:
		a.Reason = "caller not verified"
	}
	// A verified debtor who called has had a conversation: the quiet
	// periods that follow one apply to our next outbound call too. An
	// unverified caller may be anyone: no contact is recorded.
	if err := r.record(ctx, ic.c, ic.acct, ic.at.Subject, a, res, ic.verified); err != nil {
		ic.log.Error("inbound call: record outcome", "err", err)
	}
	a.Ver = 1
	if err := r.opt.Writer.Write(ctx, a); err != nil {
		ic.log.Error("inbound call: write attempt", "err", err)
	}
	if ic.verified && (res.Promise != nil || res.OptedOut) {
		reason := "promise on an inbound call"
		if res.OptedOut {
			reason = "opted out on an inbound call"
		}
		if err := r.opt.Store.Finish(ctx, ic.c.ID, ic.acct.ID, leaseNow(), reason); err != nil {
			ic.log.Warn("inbound call: account not taken out of its queue", "err", err)
		}
	}
	ic.log.Info("inbound call", "account", ic.acct.ID, "campaign", ic.c.ID, "verified", ic.verified, "locked", res.Locked,
		"ivr_path", a.IVRPath, "promise", a.PromiseAmount.String())
}

// failed counts a failed identification for the calling number and source
// and records it as an attempt row of its own (in the claimed account's
// campaign, when the caller claimed one).
func (ic *inboundCall) failed(ctx context.Context, reason string, about []ivr.Candidate) {
	r := ic.r
	at := r.contacts.Start(queue.Campaign{ID: ic.o.Campaign}, queue.Account{}, ic.caller, analytics.Voice)
	if len(about) > 0 {
		at.Assign(queue.Campaign{ID: about[0].Campaign}, about[0].Account)
	}
	row := &at.Row
	row.Trunk, row.EndedAt, row.Disposition, row.Reason, row.Ver = "inbound", row.StartedAt, analytics.IdentityFailed,
		reason+" (call "+ic.at.Row.AttemptID+")", 1
	wctx := context.WithoutCancel(ctx)
	if err := r.opt.Store.IdentityFailed(wctx, ic.caller, ic.source, row.AttemptID, ic.lim, row.StartedAt); err != nil {
		ic.log.Error("inbound call: identity failure not counted", "err", err)
	}
	if err := r.opt.Writer.Write(wctx, row); err != nil {
		ic.log.Error("inbound call: write identity failure", "err", err)
	}
	ic.log.Warn("inbound call: identification failed", "reason", reason, "account", row.AccountID)
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
				r.log.Warn("inbound lookup: campaign not read; its promise policy is the default", "campaign", refs[i].Campaign,
					"account", acct.ID, "err", err)
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
