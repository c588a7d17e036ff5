package promise

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marcador/marcador/queue"
)

// Reminder sends the debtor of promise p, made in campaign c on account a,
// the day-before reminder (the promise-reminder text; the IVR runner, which
// knows texts and payment links, is one).
type Reminder interface {
	Remind(ctx context.Context, p Record, c queue.Campaign, a queue.Account) error
}

// FollowUp handles promises whose day has come: the day before one is due
// the debtor gets a reminder through remind (nil logs it only); once one is
// broken (not paid by its date plus grace days) a broken row says so and the
// account goes back to its campaign's queue ahead of everyone else. A
// promise whose broken row cannot be written stays in the ledger, so the
// next follow-up breaks it; the error names it.
func (l *Ledger) FollowUp(ctx context.Context, remind Reminder) (reminded, broken int, err error) {
	if l.opt.Ready != nil && l.opt.Ready() != nil {
		return 0, 0, nil // held: nothing is followed up until Redis's data is confirmed
	}
	now := l.opt.Now()
	rem, err := l.toRemind(ctx, now)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range rem {
		l.remind(ctx, p, remind)
	}
	brk, err := l.toBreak(ctx, now)
	if err != nil {
		return len(rem), 0, err
	}
	var errs []error
	for _, p := range brk {
		if err := l.breakPromise(ctx, p, now); err != nil {
			errs = append(errs, err)
			continue
		}
		broken++
	}
	return len(rem), broken, errors.Join(errs...)
}

// remind sends p's reminder; what fails is logged (p is marked reminded:
// a debtor gets at most one).
func (l *Ledger) remind(ctx context.Context, p Record, remind Reminder) {
	l.log.Info("promise reminder due", "promise", p.ID, "campaign", p.Campaign, "account", p.Account, "due", p.Due.Format(time.DateOnly))
	st := l.opt.Store
	c, err := st.Campaign(ctx, p.Campaign)
	acct, aerr := st.Account(ctx, p.Campaign, p.Account)
	if err != nil || aerr != nil {
		l.log.Warn("promise reminder not sent: campaign or account gone", "promise", p.ID, "err", errors.Join(err, aerr))
		return
	}
	if remind == nil {
		return
	}
	if err := remind.Remind(ctx, p, c, acct); err != nil {
		l.log.Warn("promise reminder not sent", "promise", p.ID, "err", err)
	}
}

// breakPromise writes p's broken row, takes it off the ledger and requeues
// its account first. Until the row is written p stays in the ledger; once
// it is, a failure to take p off only means the next follow-up writes the
// same row (ver 2 again) and requeues again.
func (l *Ledger) breakPromise(ctx context.Context, p Record, now time.Time) error {
	row := l.row(p, Broken)
	if err := l.opt.Writer.Write(ctx, &row); err != nil {
		l.log.Error("broken promise not recorded; the next follow-up tries again", "promise", p.ID, "account", p.Account, "err", err)
		return fmt.Errorf("broken promise %s: %w", p.ID, err)
	}
	if err := l.drop(ctx, p); err != nil {
		l.log.Warn("broken promise stays in the ledger; the next follow-up breaks it again", "promise", p.ID, "err", err)
	}
	if err := l.opt.Store.Requeue(ctx, p.Campaign, p.Account, now.Add(-24*time.Hour), "promise broken"); err != nil {
		l.log.Warn("broken promise not requeued", "promise", p.ID, "err", err)
	}
	l.log.Info("promise broken; account requeued first", "promise", p.ID, "campaign", p.Campaign, "account", p.Account)
	return nil
}

// Run follows up promises every interval until ctx ends.
func (l *Ledger) Run(ctx context.Context, every time.Duration, remind Reminder) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, _, err := l.FollowUp(ctx, remind); err != nil {
				l.log.Warn("promise follow-up", "err", err)
			}
		}
	}
}
