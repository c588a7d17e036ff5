package campaign

import (
	"context"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/promise"
)

// Remind queues the promise-reminder text for promise p of account acct in
// campaign c, once per promise, with the campaign's payment link
// (promise.Reminder: the ledger's follow-up calls it the day before p is due).
func (r *Runner) Remind(ctx context.Context, p promise.Record, c queue.Campaign, acct queue.Account) error {
	return r.sendSMS(ctx, SMSRequest{Key: "promise-reminder/" + p.ID, Campaign: c.ID, Account: acct.ID, Template: "promise-reminder",
		Channel: analytics.SMS, Link: r.link(c, acct), Vars: map[string]string{
			"PromiseAmount": p.Amount.String(), "PromiseCurrency": p.Currency, "PromiseDate": p.Due.Format(queue.DateLayout)}})
}
