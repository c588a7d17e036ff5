package campaign

import (
	"context"
	"errors"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
)

// settleOutcome applies the retry policy: done after a promise, an opt-out,
// an answered call, an invalid only number, or the last attempt; otherwise
// due again after the delay for the disposition (the next attempt rotates to
// the account's next phone). A script error (ivr_error) is not an answered
// call: the debtor did not get the message, so it is retried like a busy line.
func (r *Runner) settleOutcome(ctx context.Context, c queue.Campaign, l queue.Lease, a *analytics.Attempt, res ivr.Result, otherPhones bool) error {
	if a.Disposition == analytics.LocalError {
		// Not an attempt: it does not count toward max_attempts, the same
		// phone is tried again, soon.
		if err := r.opt.Store.UndoAttempt(ctx, c.ID, l.Account.ID); err != nil {
			return err
		}
		return r.settle(ctx, c, l, a, r.opt.Now().Add(localRetryDelay(c)))
	}
	if res.Promise != nil || res.OptedOut {
		return r.settle(ctx, c, l, a, time.Time{})
	}
	if a.Disposition == analytics.InvalidNumber && !otherPhones {
		return r.settle(ctx, c, l, a, time.Time{}) // nothing left to dial
	}
	if a.Disposition == analytics.Answered {
		if _, again := c.Retry.Delays[analytics.Answered]; !again {
			return r.settle(ctx, c, l, a, time.Time{})
		}
	}
	if int(a.AttemptNo) >= c.Retry.MaxAttempts {
		return r.settle(ctx, c, l, a, time.Time{})
	}
	return r.settle(ctx, c, l, a, r.opt.Now().Add(retryDelay(c, a.Disposition)))
}

// localRetryDelay is when a call that was never placed is tried again:
// retry.delays.local_error, else a minute (ports and trunk channels free up
// quickly; the campaign's default delay is for calls that happened).
func localRetryDelay(c queue.Campaign) time.Duration {
	if d := c.Retry.Delays[analytics.LocalError]; d > 0 {
		return time.Duration(d)
	}
	return time.Minute
}

func retryDelay(c queue.Campaign, disposition string) time.Duration {
	d, ok := c.Retry.Delays[disposition]
	if !ok {
		d = c.Retry.Delays["default"]
	}
	if d == 0 {
		return time.Hour
	}
	return time.Duration(d)
}

// settle writes the attempt, counts it, and completes the lease (zero
// next) or reschedules it.
func (r *Runner) settle(ctx context.Context, c queue.Campaign, l queue.Lease, a *analytics.Attempt, next time.Time) error {
	if a.EndedAt.IsZero() {
		a.EndedAt = r.opt.Now()
	}
	a.Ver = 1
	if err := r.opt.Writer.Write(ctx, a); err != nil {
		return err
	}
	st := r.opt.Store
	if err := st.CountDisposition(ctx, c.ID, a.Disposition); err != nil {
		return err
	}
	var err error
	if next.IsZero() {
		err = st.Complete(ctx, l, leaseNow())
	} else {
		err = st.Reschedule(ctx, l, next, a.Disposition)
	}
	if errors.Is(err, queue.ErrLeaseLost) {
		r.log.Warn("campaign: lease lost before the outcome was saved", "account", l.Account.ID)
		err = nil
	}
	if lerr := st.Landed(ctx, c.ID, l.Account.ID); err == nil {
		err = lerr
	}
	r.log.Info("attempt", "campaign", c.ID, "account", a.AccountID, "phone", a.Phone, "disposition", a.Disposition,
		"ivr_path", a.IVRPath, "promise", a.PromiseAmount.String())
	return err
}
