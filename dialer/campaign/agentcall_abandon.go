package campaign

import (
	"context"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue/compliance"
)

// abandon plays the campaign's abandon script to a debtor no agent came
// for, and counts the abandon (the campaign's rates, the debtor's history
// for the UK's 72-hour rule).
func (lc *liveCall) abandon(ctx context.Context) ivr.Result {
	r := lc.r
	lc.abandoned = true
	if err := r.opt.Agents.Pool().Count(ctx, lc.c.ID, agent.Abandoned, lc.c.Zone()); err != nil {
		lc.log.Warn("campaign: abandon not counted", "err", err)
	}
	if err := r.opt.Gate.Record(ctx, lc.subj, analytics.Voice, compliance.KindAbandoned, lc.id, r.opt.Gate.Now()); err != nil {
		lc.log.Warn("campaign: abandon not in the debtor's history", "err", err)
	}
	lc.log.Info("campaign: no agent in time; abandon message", "abandon_after", lc.c.AbandonLimit().String())
	return lc.playAbandon(ctx)
}

// playAbandon plays the campaign's abandon script to the debtor.
func (lc *liveCall) playAbandon(ctx context.Context) ivr.Result {
	return lc.runScript(ctx, "abandon", lc.c.AbandonScriptName())
}
