package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/phone"
)

// explain answers GET /api/v1/compliance/explain?profile=CO&phone=+57...&at=RFC3339
// [&account=&national_id=&country=&campaign=&zone=&channel=voice&agent_guaranteed=true].
func (a *API) explain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := compliance.ExplainRequest{Profile: q.Get("profile"), Phone: q.Get("phone"), Account: q.Get("account"),
		NationalID: q.Get("national_id"), Country: q.Get("country"), Campaign: q.Get("campaign"), Zone: q.Get("zone"),
		Channel: compliance.Channel(q.Get("channel")), AgentGuaranteed: q.Get("agent_guaranteed") == "true"}
	if req.Profile == "" {
		req.Profile = "auto"
	}
	if s := q.Get("at"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("at %q: want RFC 3339, e.g. 2026-12-08T10:00:00-05:00", s))
			return
		}
		req.At = t
	} else {
		req.At = a.opt.Now()
	}
	e, err := a.opt.Gate.Explain(r.Context(), req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// DNCResult answers a do-not-contact import.
type DNCResult struct {
	Received int        `json:"received"`
	Listed   int        `json:"listed"`
	Rejected int        `json:"rejected"`
	Errors   []DNCError `json:"errors"`
}

// DNCError is one rejected entry.
type DNCError struct {
	Row    int    `json:"row"`
	Phone  string `json:"phone"`
	Reason string `json:"reason"`
}

// importDNC takes POST /api/v1/dnc: JSON {"entries":[{"phone","channel","campaign","reason"}]}
// or CSV with a header (phone, channel, campaign, reason). Numbers are
// normalised to E.164 (with "country" for national formats); each bad entry is
// reported and the rest are listed.
func (a *API) importDNC(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, a.opt.MaxUpload)
	isCSV, known := csvBody(w, r)
	if !known {
		return
	}
	var in []dncRow
	var err error
	if isCSV {
		in, err = parseDNCCSV(body)
	} else {
		var doc struct {
			Entries []dncRow `json:"entries"`
		}
		dec := json.NewDecoder(body)
		dec.DisallowUnknownFields()
		err = dec.Decode(&doc)
		in = doc.Entries
	}
	if err != nil {
		bodyError(w, "dnc body", err)
		return
	}
	res := DNCResult{Received: len(in), Errors: []DNCError{}}
	var ok []compliance.DNCEntry
	for i, row := range in {
		num, err := phone.Normalize(row.Phone, strings.ToUpper(row.Country))
		if err == nil {
			row.Phone = num
			err = a.opt.Gate.AddDNC(r.Context(), compliance.DNCEntry{Phone: num, Channel: row.Channel, Campaign: row.Campaign,
				Reason: row.Reason, Source: "api", At: a.opt.Now()})
		}
		if err != nil {
			res.Errors = append(res.Errors, DNCError{Row: i + 1, Phone: row.Phone, Reason: err.Error()})
			continue
		}
		ok = append(ok, compliance.DNCEntry{Phone: num})
	}
	res.Listed, res.Rejected = len(ok), len(res.Errors)
	a.log.Info("api: do-not-contact import", "listed", res.Listed, "rejected", res.Rejected)
	code := http.StatusOK
	if res.Listed == 0 && res.Rejected > 0 {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, res)
}

type dncRow struct {
	Phone    string `json:"phone"`
	Country  string `json:"country,omitempty"`
	Channel  string `json:"channel"`
	Campaign string `json:"campaign,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func parseDNCCSV(r io.Reader) ([]dncRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col["phone"]; !ok {
		return nil, errors.New("header: no phone column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []dncRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, dncRow{Phone: get(rec, "phone"), Country: get(rec, "country"), Channel: get(rec, "channel"),
			Campaign: get(rec, "campaign"), Reason: get(rec, "reason")})
	}
}

// removeDNC takes DELETE /api/v1/dnc/{phone}?channel=all&campaign=.
func (a *API) removeDNC(w http.ResponseWriter, r *http.Request) {
	e := compliance.DNCEntry{Phone: r.PathValue("phone"), Channel: r.URL.Query().Get("channel"), Campaign: r.URL.Query().Get("campaign"), Source: "api"}
	if err := a.opt.Gate.RemoveDNC(r.Context(), e); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.log.Info("api: do-not-contact removed", "phone", e.Phone, "channel", e.Channel, "campaign", e.Campaign)
	w.WriteHeader(http.StatusNoContent)
}

// getDNC answers GET /api/v1/dnc/{phone}?campaign=: the listings per channel.
func (a *API) getDNC(w http.ResponseWriter, r *http.Request) {
	num := r.PathValue("phone")
	out := map[string]any{}
	for _, ch := range compliance.Channels {
		e, ok, err := a.opt.Gate.LookupDNC(r.Context(), num, ch, r.URL.Query().Get("campaign"))
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		if ok {
			out[string(ch)] = e
		} else {
			out[string(ch)] = nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"phone": num, "listed": out})
}
