package promise

import (
	"context"
	"errors"
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
// account goes back to its campaign's queue ahead of everyone else.
func (l *Ledger) FollowUp(ctx context.Context, remind Reminder) (reminded, broken int, err error) {
	if l.opt.Ready != nil && l.opt.Ready() != nil {
		return 0, 0, nil // held: nothing is followed up until Redis's data is confirmed
	}
	now := l.opt.Now()
	rem, brk, err := l.due(ctx, now)
	if err != nil {
		return 0, 0, err
	}
	st := l.opt.Store
	for _, p := range rem {
		l.log.Info("promise reminder due", "promise", p.ID, "campaign", p.Campaign, "account", p.Account, "due", p.Due.Format(time.DateOnly))
		c, err := st.Campaign(ctx, p.Campaign)
		acct, aerr := st.Account(ctx, p.Campaign, p.Account)
		if err != nil || aerr != nil {
			l.log.Warn("promise reminder not sent: campaign or account gone", "promise", p.ID, "err", errors.Join(err, aerr))
			continue
		}
		if remind == nil {
			continue
		}
		if err := remind.Remind(ctx, p, c, acct); err != nil {
			l.log.Warn("promise reminder not sent", "promise", p.ID, "err", err)
		}
	}
	for _, p := range brk {
		row := l.row(p, Broken)
		if err := l.opt.Writer.Write(ctx, &row); err != nil {
			return len(rem), broken, err
		}
		if err := st.Requeue(ctx, p.Campaign, p.Account, now.Add(-24*time.Hour), "promise broken"); err != nil {
			l.log.Warn("broken promise not requeued", "promise", p.ID, "err", err)
		}
		l.log.Info("promise broken; account requeued first", "promise", p.ID, "campaign", p.Campaign, "account", p.Account)
		broken++
	}
	return len(rem), broken, nil
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
