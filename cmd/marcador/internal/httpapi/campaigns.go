package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/pacing"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/importer"
)

// putCampaign creates or replaces a campaign definition. A body that is not
// one JSON campaign is 400 (413 past 1 MiB); a campaign that could not run
// (a bad value, or naming a trunk, profile, script or template this node
// does not have) is 422 with the field and the reason.
func (a *API) putCampaign(w http.ResponseWriter, r *http.Request) {
	var c queue.Campaign
	if !decodeJSON(w, r, maxCampaignBody, "campaign body", &c) {
		return
	}
	if err := c.Normalize(); err != nil {
		writeFieldError(w, http.StatusUnprocessableEntity, err)
		return
	}
	if err := c.CheckRefs(a.opt.Refs); err != nil {
		writeFieldError(w, http.StatusUnprocessableEntity, err)
		return
	}
	_, err := a.opt.Store.Campaign(r.Context(), c.ID)
	isNew := errors.Is(err, queue.ErrNotFound)
	if err != nil && !isNew {
		a.storeError(w, err)
		return
	}
	saved, err := a.opt.Store.PutCampaign(r.Context(), c, a.opt.Now())
	if err != nil {
		a.storeError(w, err)
		return
	}
	code := http.StatusOK
	if isNew {
		code = http.StatusCreated
	}
	a.log.Info("api: campaign saved", "campaign", saved.ID, "mode", saved.Mode, "new", isNew)
	writeJSON(w, code, saved)
}

// CampaignView is GET /api/v1/campaigns/{id}: the definition, its run
// state, its queue and its attempts by disposition.
type CampaignView struct {
	queue.Campaign
	Status       string           `json:"status"`
	InFlight     int64            `json:"in_flight"`
	Queue        queue.Counts     `json:"queue"`
	Dispositions map[string]int64 `json:"dispositions"`
	// Agents are the campaign's logged-in agents by state, over every node;
	// Answers its live answers and abandons (today in the campaign's zone,
	// and the last 30 days). Shown when the node has agents.
	Agents  *agent.Counts `json:"agents,omitempty"`
	Answers *AnswersView  `json:"answers,omitempty"`
}

// AnswersView is a campaign's abandon rate: the UK's per day, the US's over
// 30 days.
type AnswersView struct {
	Today   WindowView `json:"today"`
	Rolling WindowView `json:"rolling_30d"`
}

// WindowView is one window's live answers and abandons.
type WindowView struct {
	Live        int64   `json:"live"`
	Abandoned   int64   `json:"abandoned"`
	AbandonRate float64 `json:"abandon_rate"`
}

func windowView(w pacing.WindowCounts) WindowView {
	return WindowView{Live: w.Live, Abandoned: w.Abandoned, AbandonRate: agent.Rate(w)}
}

func (a *API) getCampaign(w http.ResponseWriter, r *http.Request) {
	id, c, ok := a.pathCampaign(w, r)
	if !ok {
		return
	}
	var err error
	v := CampaignView{Campaign: c}
	ctx := r.Context()
	if v.Queue, err = a.opt.Store.Counts(ctx, id, a.opt.Now()); err == nil {
		if v.Status, err = a.opt.Store.Status(ctx, id); err == nil {
			if v.InFlight, err = a.opt.Store.InFlightCount(ctx, id); err == nil {
				v.Dispositions, err = a.opt.Store.Dispositions(ctx, id)
			}
		}
	}
	if err != nil {
		a.storeError(w, err)
		return
	}
	if a.opt.Agents != nil {
		pool := a.opt.Agents.Pool()
		counts, err := pool.Counts(ctx, id)
		if err != nil {
			a.agentError(w, "counts", err)
			return
		}
		rates, err := pool.Rates(ctx, id, c.Zone())
		if err != nil {
			a.agentError(w, "rates", err)
			return
		}
		v.Agents, v.Answers = &counts, &AnswersView{Today: windowView(rates.Today), Rolling: windowView(rates.Rolling)}
	}
	writeJSON(w, http.StatusOK, v)
}

// Runner starts, pauses and stops campaigns (dialer/campaign.Runner).
type Runner interface {
	Start(ctx context.Context, id string) error
	Pause(ctx context.Context, id string) error
	Stop(ctx context.Context, id string) error
}

// runCampaign answers POST /api/v1/campaigns/{id}/start|pause|stop. A
// campaign that cannot run is 409 with the reason (and the field, when one
// is to blame).
func (a *API) runCampaign(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	var err error
	switch action {
	case "start":
		err = a.opt.Runner.Start(r.Context(), id)
	case "pause":
		err = a.opt.Runner.Pause(r.Context(), id)
	case "stop":
		err = a.opt.Runner.Stop(r.Context(), id)
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no campaign action %q (start, pause, stop)", action))
		return
	}
	if errors.Is(err, queue.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		writeFieldError(w, http.StatusConflict, err)
		return
	}
	a.log.Info("api: campaign "+action, "campaign", id)
	st, _ := a.opt.Store.Status(r.Context(), id)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": st})
}

// UploadResult answers a contacts upload.
type UploadResult struct {
	Received int                 `json:"received"`
	Loaded   queue.LoadResult    `json:"loaded"`
	Rejected int                 `json:"rejected"`
	Errors   []importer.RowError `json:"errors"`
}

// uploadContacts accepts text/csv (header row) or application/json. Bad rows
// are reported by row number and reason; the good rows are loaded.
func (a *API) uploadContacts(w http.ResponseWriter, r *http.Request) {
	id, c, ok := a.pathCampaign(w, r)
	if !ok {
		return
	}
	var err error
	opt := importer.Options{Country: c.Country, DefaultTimeZone: c.TimeZone, Currency: c.Currency, Now: a.opt.Now()}
	body := http.MaxBytesReader(w, r.Body, a.opt.MaxUpload)
	isCSV, ok := csvBody(w, r)
	if !ok {
		return
	}
	var res importer.Result
	if isCSV {
		res, err = importer.ParseCSV(body, opt)
	} else {
		res, err = importer.ParseJSON(body, opt)
	}
	if err != nil {
		bodyError(w, "upload", err)
		return
	}
	out := UploadResult{Received: len(res.Accounts) + len(res.Errors), Rejected: len(res.Errors), Errors: res.Errors}
	if out.Errors == nil {
		out.Errors = []importer.RowError{}
	}
	if len(res.Accounts) > 0 {
		out.Loaded, err = a.opt.Store.Load(r.Context(), id, res.Accounts, a.opt.Now())
		if err != nil {
			a.storeError(w, err)
			return
		}
	}
	_, _ = io.Copy(io.Discard, body)
	a.log.Info("api: contacts uploaded", "campaign", id, "inserted", out.Loaded.Inserted,
		"updated", out.Loaded.Updated, "rejected", out.Rejected)
	code := http.StatusOK
	if len(res.Accounts) == 0 && len(res.Errors) > 0 {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, out)
}

// pathCampaign reads the campaign the path's {id} names; when it cannot, it
// has answered (400 for an id no campaign can have, 404 for none, 503) and
// ok is false.
func (a *API) pathCampaign(w http.ResponseWriter, r *http.Request) (id string, c queue.Campaign, ok bool) {
	if id, ok = pathID(w, r); !ok {
		return "", c, false
	}
	c, err := a.opt.Store.Campaign(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return "", c, false
	}
	return id, c, true
}
