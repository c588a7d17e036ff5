package campaign

import (
	"context"
	"fmt"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
)

// Disclosures are the scripts of scripts that would tell whoever answers
// an outbound call about the account before a right-party check, each with
// the checker's error (queue.CampaignRefs.Discloses): the API refuses a
// campaign that plays one at answer, and so does Start.
func Disclosures(scripts map[string]*script.Script) map[string]error {
	out := map[string]error{}
	for name, s := range scripts {
		if err := s.CheckOutbound(); err != nil {
			out[name] = err
		}
	}
	return out
}

// rightParty is the verify node of an outbound call to acct at number:
// whoever answers proves they are the debtor the way callers on the
// callback line do (ivr.inbound.verify, e.g. the last four digits of the
// national id), against the account called only. Failed tries count
// toward the number's lockout like the line's (ivr.inbound.lockout): a
// third party at the debtor's number gets no more guesses by being called.
func (r *Runner) rightParty(c queue.Campaign, acct queue.Account, number, attempt string, env ivr.Env) *ivr.Verification {
	lim := r.opt.Inbound.Lockout.WithDefaults()
	return &ivr.Verification{Method: r.opt.Inbound.Verify,
		CallerID: []ivr.Candidate{{Account: acct, Campaign: c.ID, Policy: env.Policy, Zone: env.Zone}},
		Locked: func(ctx context.Context) bool {
			by, err := r.opt.Store.IdentityLocked(ctx, number, "", lim, r.opt.Now())
			if err != nil {
				r.log.Error("campaign: identity failures unknown; no try allowed", "campaign", c.ID, "account", acct.ID, "err", err)
				return true // fail closed, like the line
			}
			return by != ""
		},
		Failed: func(ctx context.Context, reason string, _ []ivr.Candidate) {
			if err := r.opt.Store.IdentityFailed(context.WithoutCancel(ctx), number, "", attempt, lim, r.opt.Now()); err != nil {
				r.log.Error("campaign: identity failure not counted", "campaign", c.ID, "account", acct.ID, "err", err)
			}
			r.log.Info("campaign: right-party check failed", "campaign", c.ID, "account", acct.ID, "reason", reason)
		}}
}

// identified records what an answered call's right-party check found:
// whoever answered said they are not the debtor (wrong_party), or did not
// prove they are (not_verified). Either way nothing about the account was
// said; the row is a contact and no right-party contact, and the account
// is retried (retry.delays.wrong_party / not_verified, else default). A
// script that failed (ivr_error) before anyone was verified is the same
// for the caps and the texts: the row says who answered, with the error
// after the reason, so an answered or ivr_error row is always the debtor
// who proved it or a call with no check (analytics.Spoke).
func identified(a *analytics.Attempt, res ivr.Result) {
	if !res.Checked || res.Verified || (a.Disposition != analytics.Answered && a.Disposition != analytics.IVRError) {
		return
	}
	failed := ""
	if a.Disposition == analytics.IVRError {
		failed = "; then the script failed: " + a.Reason
	}
	a.RightParty = false
	switch {
	case res.WrongParty:
		a.Disposition, a.Reason = analytics.WrongParty, "whoever answered said they are not the debtor"
	case res.Locked:
		a.Disposition, a.Reason = analytics.NotVerified, "whoever answered could not try: too many failed identifications from this number"
	default:
		a.Disposition = analytics.NotVerified
		a.Reason = fmt.Sprintf("whoever answered did not prove they are the debtor (%s)", res.End)
	}
	a.Reason += failed
}
