package httpapi

import (
	"errors"
	"net/http"

	"github.com/marcador/marcador/queue"
)

// PacingChange is PATCH /api/v1/campaigns/{id}/pacing: the fields sent are
// changed, the others kept.
type PacingChange struct {
	Mode             *string  `json:"mode"`
	TargetAbandon    *float64 `json:"target_abandon"`
	MaxLinesPerAgent *float64 `json:"max_lines_per_agent"`
}

// PacingView is a campaign's pacing settings as they now are
// (max_lines_per_agent 0: the pacer's default).
type PacingView struct {
	Campaign         string  `json:"campaign"`
	Mode             string  `json:"mode"`
	TargetAbandon    float64 `json:"target_abandon"`
	MaxLinesPerAgent float64 `json:"max_lines_per_agent"`
}

// patchPacing changes an agent campaign's pacing at run time. The change
// is stored in the campaign's definition in Redis; every node's loop reads
// it on its next tick. A body that is not one JSON object of these fields
// is 400; a value the campaign may not take is 422 with the field and the
// reason (a mode other than progressive or predictive, an IVR campaign's
// mode, a target above 3% under the US and UK profiles).
func (a *API) patchPacing(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var ch PacingChange
	if !decodeJSON(w, r, maxCampaignBody, "pacing body", &ch) {
		return
	}
	if ch.Mode == nil && ch.TargetAbandon == nil && ch.MaxLinesPerAgent == nil {
		writeError(w, http.StatusBadRequest, "pacing body: nothing to change: send mode, target_abandon or max_lines_per_agent")
		return
	}
	c, err := a.opt.Store.UpdateCampaign(r.Context(), id, a.opt.Now(), func(c *queue.Campaign) error { return ch.apply(c) })
	var fe *queue.FieldError
	switch {
	case errors.As(err, &fe):
		writeFieldError(w, http.StatusUnprocessableEntity, err)
		return
	case err != nil:
		a.storeError(w, err)
		return
	}
	v := PacingView{Campaign: c.ID, Mode: c.Mode, TargetAbandon: c.AbandonTarget(), MaxLinesPerAgent: c.MaxLinesPerAgent}
	a.log.Info("api: campaign pacing changed", "campaign", c.ID, "mode", v.Mode, "target_abandon", v.TargetAbandon,
		"max_lines_per_agent", v.MaxLinesPerAgent)
	writeJSON(w, http.StatusOK, v)
}

// apply changes c as ch asks; the values are checked by the campaign's
// Normalize afterwards, the mode here: an agent campaign switches between
// its two modes, an IVR campaign has none to switch to.
func (ch PacingChange) apply(c *queue.Campaign) error {
	bad := func(field, reason string) error {
		return &queue.FieldError{Campaign: c.ID, Field: field, Reason: reason}
	}
	if m := ch.Mode; m != nil {
		switch {
		case *m != queue.ModeProgressive && *m != queue.ModePredictive:
			return bad("mode", "want progressive or predictive")
		case !c.HasAgents():
			return bad("mode", "an ivr campaign paces to max_concurrent sessions; its mode cannot change at run time")
		}
		c.Mode = *m
	}
	if t := ch.TargetAbandon; t != nil {
		if *t == 0 {
			return bad("target_abandon", "0: want 0.001 to 0.2")
		}
		c.TargetAbandon = *t
	}
	if m := ch.MaxLinesPerAgent; m != nil {
		if *m == 0 {
			return bad("max_lines_per_agent", "0: want 1.0 to 10.0")
		}
		c.MaxLinesPerAgent = *m
	}
	return nil
}
