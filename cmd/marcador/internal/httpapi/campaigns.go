package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/importer"
)

// putCampaign creates or replaces a campaign definition.
func (a *API) putCampaign(w http.ResponseWriter, r *http.Request) {
	var c queue.Campaign
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "campaign body: "+err.Error())
		return
	}
	if err := c.Normalize(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
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

// CampaignView is GET /api/v1/campaigns/{id}: the definition and its queue state.
type CampaignView struct {
	queue.Campaign
	Queue queue.Counts `json:"queue"`
}

func (a *API) getCampaign(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := a.opt.Store.Campaign(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	n, err := a.opt.Store.Counts(r.Context(), id, a.opt.Now())
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, CampaignView{Campaign: c, Queue: n})
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
	id := r.PathValue("id")
	c, err := a.opt.Store.Campaign(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	opt := importer.Options{Country: c.Country, DefaultTimeZone: c.TimeZone, Currency: c.Currency, Now: a.opt.Now()}
	body := http.MaxBytesReader(w, r.Body, a.opt.MaxUpload)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var res importer.Result
	switch mt {
	case "text/csv", "application/csv", "text/plain":
		res, err = importer.ParseCSV(body, opt)
	case "application/json", "":
		res, err = importer.ParseJSON(body, opt)
	default:
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send text/csv or application/json", mt))
		return
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("upload larger than %d bytes", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
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
