package promise

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
// the debtor gets a reminder through remind (nil logs it only); once one's
// deadline has passed its account's promises are judged by the rule (see
// settle), so an unpaid one gets a broken row and its account goes back to
// its campaign's queue ahead of everyone else. It also judges the accounts
// a payment could not finish judging, and drops the history of accounts
// whose promises are all judged and old (Options.History). A promise whose
// row cannot be written stays open, so the next follow-up writes it; the
// error names it.
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
	accts, err := l.dueAccounts(ctx, now)
	if err != nil {
		return len(rem), 0, err
	}
	unsettled, err := l.rdb.SMembers(ctx, l.keys.unsettled).Result()
	if err != nil {
		return len(rem), 0, fmt.Errorf("accounts to judge again: %w", err)
	}
	var errs []error
	for _, a := range unsettled {
		if !slices.Contains(accts, a) {
			accts = append(accts, a)
		}
	}
	for _, a := range accts {
		j, err := l.settle(ctx, a, now)
		broken += len(j.broken)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.Contains(unsettled, a) {
			if err := l.rdb.SRem(ctx, l.keys.unsettled, a).Err(); err != nil {
				l.log.Warn("account judged; stays marked to be judged again", "account", a, "err", err)
			}
		}
	}
	errs = append(errs, l.forget(ctx, now))
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
