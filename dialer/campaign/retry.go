package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
)

// outcome is what the retry policy looks at once an attempt has ended.
type outcome struct {
	Disposition string
	Attempt     int  // the attempt's number in its campaign, 1 for the first
	Settled     bool // the debtor promised or opted out, or the agent's code is final: nothing is left to ask
	OtherPhones bool // the account has another phone for the next attempt
	// An agent's code (not final): its name and own retry delay (0: the
	// campaign's delay for the code).
	Code      string
	CodeRetry time.Duration
	// CallbackAt: the debtor asked to be called then (an agent's callback).
	CallbackAt time.Time
}

// retryDecision is the retry policy's answer for one attempt.
type retryDecision struct {
	Next time.Time // when the account is due again; zero: it is done
	Undo bool      // not an attempt: take its count back
}

// nextDue is the retry policy: done after a promise, an opt-out, an
// answered call, an invalid only number, or the last attempt; otherwise due
// again after the delay for the disposition (the next attempt rotates to the
// account's next phone). A script error (ivr_error) is not an answered call:
// the debtor did not get the message, so it is retried like a busy line.
// Contacts the gate blocks are not its business: they are due when the gate
// says (never, when every phone is on a do-not-contact list).
func nextDue(p queue.RetryPolicy, o outcome, now time.Time) retryDecision {
	switch {
	case o.Disposition == analytics.LocalError:
		// Not an attempt: it does not count toward max_attempts, the same
		// phone is tried again, soon.
		return retryDecision{Next: now.Add(localRetryDelay(p)), Undo: true}
	case o.Disposition == analytics.Interrupted:
		// Its node died during the call, which may or may not have
		// happened: tried again later, like a call the network lost.
		return retryDecision{Next: now.Add(retryDelay(p, analytics.NetworkError))}
	case o.Settled:
		return retryDecision{}
	case !o.CallbackAt.IsZero():
		// Asked for by the debtor: kept whatever the attempts so far.
		return retryDecision{Next: o.CallbackAt}
	case o.Code != "":
		// The agent's code decides, not the line's answer.
		if o.Attempt >= p.MaxAttempts {
			return retryDecision{}
		}
		if o.CodeRetry > 0 {
			return retryDecision{Next: now.Add(o.CodeRetry)}
		}
		return retryDecision{Next: now.Add(retryDelay(p, o.Code))}
	case o.Disposition == analytics.InvalidNumber && !o.OtherPhones:
		return retryDecision{} // nothing left to dial
	case o.Disposition == analytics.Answered:
		if _, again := p.Delays[analytics.Answered]; !again {
			return retryDecision{}
		}
	}
	if o.Attempt >= p.MaxAttempts {
		return retryDecision{}
	}
	return retryDecision{Next: now.Add(retryDelay(p, o.Disposition))}
}

// localRetryDelay is when a call that was never placed is tried again:
// retry.delays.local_error, else a minute (ports and trunk channels free up
// quickly; the campaign's default delay is for calls that happened).
func localRetryDelay(p queue.RetryPolicy) time.Duration {
	if d := p.Delays[analytics.LocalError]; d > 0 {
		return time.Duration(d)
	}
	return time.Minute
}

// retryDelay is the campaign's delay after disposition, else its default,
// else an hour.
func retryDelay(p queue.RetryPolicy, disposition string) time.Duration {
	d, ok := p.Delays[disposition]
	if !ok {
		d = p.Delays["default"]
	}
	if d == 0 {
		return time.Hour
	}
	return time.Duration(d)
}

// settleOutcome settles a call's attempt as the retry policy (nextDue)
// decides.
func (r *Runner) settleOutcome(ctx context.Context, c queue.Campaign, l queue.Lease, a *analytics.Attempt, res ivr.Result, ad *disposition,
	otherPhones bool) error {
	o := outcome{Disposition: a.Disposition, Attempt: int(a.AttemptNo), Settled: res.Promise != nil || res.OptedOut,
		OtherPhones: otherPhones}
	if ad != nil {
		o.Settled = o.Settled || ad.final
		o.Code, o.CodeRetry, o.CallbackAt = ad.Code, ad.retry, ad.callbackAt
	}
	d := nextDue(c.Retry, o, r.opt.Now())
	if d.Undo {
		if err := r.opt.Store.UndoAttempt(ctx, c.ID, l.Account.ID); err != nil {
			return err
		}
	}
	return r.settle(ctx, c, l, a, d.Next)
}

// settle writes the attempt, counts it, completes the lease (zero next) or
// reschedules it, and clears the account's in-flight mark. Once the row is
// written every step is tried and every failure reported: a count Redis
// refused must not leave the lease to run out. A lease another claim took
// is not an error: the attempt is on record, and what happens to the
// account is the new holder's to decide.
func (r *Runner) settle(ctx context.Context, c queue.Campaign, l queue.Lease, a *analytics.Attempt, next time.Time) error {
	if a.EndedAt.IsZero() {
		a.EndedAt = r.opt.Now()
	}
	a.Ver = 1
	if err := r.opt.Writer.Write(ctx, a); err != nil {
		return err
	}
	st := r.opt.Store
	var errs []error
	if err := st.CountDisposition(ctx, c.ID, a.Disposition); err != nil {
		errs = append(errs, fmt.Errorf("campaign %s: count %s of account %s: %w", c.ID, a.Disposition, l.Account.ID, err))
	}
	var err error
	fate := []any{"outcome", "done"}
	if next.IsZero() {
		err = st.Complete(ctx, l, leaseNow())
	} else {
		fate = []any{"outcome", "due", "due_at", next}
		err = st.Reschedule(ctx, l, next, a.Disposition)
	}
	if errors.Is(err, queue.ErrLeaseLost) {
		r.log.Warn("campaign: lease lost before the outcome was saved; the attempt is recorded",
			append([]any{"campaign", c.ID, "account", l.Account.ID, "disposition", a.Disposition}, fate...)...)
		err = nil
	}
	errs = append(errs, err)
	if err := st.Landed(ctx, c.ID, l.Account.ID); err != nil {
		errs = append(errs, fmt.Errorf("campaign %s: clear the in-flight mark of account %s: %w", c.ID, l.Account.ID, err))
	}
	r.log.Info("attempt", "campaign", c.ID, "account", a.AccountID, "phone", a.Phone, "disposition", a.Disposition,
		"ivr_path", a.IVRPath, "promise", a.PromiseAmount.String())
	return errors.Join(errs...)
}
