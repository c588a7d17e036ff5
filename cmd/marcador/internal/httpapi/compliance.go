package httpapi

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/phone"
)

// explain answers GET /api/v1/compliance/explain?profile=CO&phone=+57...&at=RFC3339
// [&account=&national_id=&country=&campaign=&zone=&channel=voice&agent_guaranteed=true].
func (a *API) explain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := compliance.ExplainRequest{Profile: q.Get("profile"), Phone: q.Get("phone"), Account: q.Get("account"),
		NationalID: q.Get("national_id"), Country: q.Get("country"), Campaign: q.Get("campaign"), Zone: q.Get("zone"),
		Channel: analytics.Channel(q.Get("channel")), AgentGuaranteed: q.Get("agent_guaranteed") == "true"}
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

// DNCError is one rejected entry: its row (the data row of a CSV, the
// 1-based entry of a JSON list) and, for CSV, its line in the file.
type DNCError struct {
	Row    int    `json:"row"`
	Line   int    `json:"line,omitempty"`
	Phone  string `json:"phone"`
	Reason string `json:"reason"`
}

// importDNC takes POST /api/v1/dnc: JSON {"entries":[{"phone","country","channel","campaign","reason"}]}
// or CSV with a header (phone, country, channel, campaign, reason), one
// entry a line. Numbers are normalised to E.164 (with the row's country,
// else its campaign's, for national formats); each bad entry (a line that
// is not CSV, a bad number or channel, a campaign that does not exist) is
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
		err = decodeOne(body, &doc)
		in = doc.Entries
		for i := range in {
			in[i].row = i + 1
		}
	}
	if err != nil {
		bodyError(w, "dnc body", err)
		return
	}
	ctx := r.Context()
	res := DNCResult{Received: len(in), Errors: []DNCError{}}
	countries := map[string]string{} // campaign id → its country
	for _, row := range in {
		reason := row.bad
		if reason == "" {
			if reason, err = a.listDNC(ctx, &row, countries); err != nil {
				a.storeError(w, err) // ours, not the row's: the client may retry the file
				return
			}
		}
		if reason != "" {
			res.Errors = append(res.Errors, DNCError{Row: row.row, Line: row.line, Phone: row.Phone, Reason: reason})
			continue
		}
		res.Listed++
	}
	res.Rejected = len(res.Errors)
	a.log.Info("api: do-not-contact import", "listed", res.Listed, "rejected", res.Rejected)
	code := http.StatusOK
	if res.Listed == 0 && res.Rejected > 0 {
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, res)
}

// listDNC lists one entry. It returns why the entry was refused, or an
// error of ours (Redis) that is no fault of the entry.
func (a *API) listDNC(ctx context.Context, row *dncRow, countries map[string]string) (string, error) {
	country := strings.ToUpper(row.Country)
	if row.Campaign != "" {
		cc, seen := countries[row.Campaign]
		if !seen {
			c, err := a.opt.Store.Campaign(ctx, row.Campaign)
			switch {
			case errors.Is(err, queue.ErrNotFound), errors.Is(err, queue.ErrInvalidID):
				return err.Error(), nil
			case err != nil:
				return "", err
			}
			cc = c.Country
			countries[row.Campaign] = cc
		}
		if country == "" {
			country = cc
		}
	}
	num, err := phone.Normalize(row.Phone, country)
	if err != nil {
		return err.Error(), nil
	}
	row.Phone = num
	err = a.opt.Gate.AddDNC(ctx, compliance.DNCEntry{Phone: num, Channel: row.Channel, Campaign: row.Campaign,
		Reason: row.Reason, Source: "api", At: a.opt.Now()})
	if err != nil {
		return err.Error(), nil
	}
	return "", nil
}

type dncRow struct {
	Phone    string `json:"phone"`
	Country  string `json:"country,omitempty"`
	Channel  string `json:"channel"`
	Campaign string `json:"campaign,omitempty"`
	Reason   string `json:"reason,omitempty"`

	row, line int    // where it was
	bad       string // why it could not be read
}

// maxDNCLine bounds one CSV line.
const maxDNCLine = 64 << 10

// parseDNCCSV reads a header and then one entry a line, each line parsed
// on its own, so a line that is not CSV (a stray quote) is reported as that
// row and never swallows the lines after it. Quoted fields may hold commas
// but not line breaks. The error is for the file as a whole: no header, no
// phone column, a line longer than 64 KiB, a body that could not be read.
func parseDNCCSV(r io.Reader) ([]dncRow, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxDNCLine)
	line := 0
	next := func() (string, bool) {
		for sc.Scan() {
			line++
			if t := sc.Text(); strings.TrimSpace(t) != "" {
				return t, true
			}
		}
		return "", false
	}
	readErr := func() error {
		if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", line+1, maxDNCLine)
		} else if err != nil {
			return err
		}
		return nil
	}
	text, ok := next()
	if !ok {
		if err := readErr(); err != nil {
			return nil, err
		}
		return nil, errors.New("header: empty file")
	}
	head, err := csvLine(text)
	if err != nil {
		return nil, fmt.Errorf("header (line %d): %w", line, err)
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
	out := []dncRow{}
	for n := 1; ; n++ {
		text, ok := next()
		if !ok {
			if err := readErr(); err != nil {
				return nil, err
			}
			return out, nil
		}
		rec, err := csvLine(text)
		if err != nil {
			out = append(out, dncRow{row: n, line: line, bad: fmt.Sprintf("line %d: %v", line, err)})
			continue
		}
		out = append(out, dncRow{Phone: get(rec, "phone"), Country: get(rec, "country"), Channel: get(rec, "channel"),
			Campaign: get(rec, "campaign"), Reason: get(rec, "reason"), row: n, line: line})
	}
}

// csvLine parses one line of CSV.
func csvLine(s string) ([]string, error) {
	cr := csv.NewReader(strings.NewReader(s))
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, pe.Err // the line number is the file's, not this reader's
	}
	if err != nil {
		return nil, err
	}
	if _, err := cr.Read(); !errors.Is(err, io.EOF) {
		return nil, errors.New("a quoted field runs past the end of the line")
	}
	return rec, nil
}

// dncTarget reads the {phone} of a DNC route as E.164, with ?country= or
// the country of ?campaign= for national formats. When it cannot, it has
// answered: 400 for a number or id that cannot be, 404 for a campaign that
// does not exist.
func (a *API) dncTarget(w http.ResponseWriter, r *http.Request) (num, campaign string, ok bool) {
	q := r.URL.Query()
	campaign, country := q.Get("campaign"), strings.ToUpper(q.Get("country"))
	if campaign != "" {
		c, err := a.opt.Store.Campaign(r.Context(), campaign)
		if err != nil {
			a.storeError(w, err)
			return "", "", false
		}
		if country == "" {
			country = c.Country
		}
	}
	num, err := phone.Normalize(r.PathValue("phone"), country)
	if err != nil {
		msg := err.Error()
		if country == "" {
			msg += "; give ?country= for a national number"
		}
		writeError(w, http.StatusBadRequest, msg)
		return "", "", false
	}
	return num, campaign, true
}

// removeDNC takes DELETE /api/v1/dnc/{phone}?channel=all[&campaign=&country=]:
// 204 when a listing was taken off, 404 when the number is not on that
// list (that campaign's, or the global one, for those channels).
func (a *API) removeDNC(w http.ResponseWriter, r *http.Request) {
	num, campaign, ok := a.dncTarget(w, r)
	if !ok {
		return
	}
	e := compliance.DNCEntry{Phone: num, Channel: r.URL.Query().Get("channel"), Campaign: campaign, Source: "api"}
	chans := analytics.Channels()
	switch e.Channel {
	case "", "all":
	default:
		if !analytics.Channel(e.Channel).Valid() {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("channel %q: want voice, sms, whatsapp or all", e.Channel))
			return
		}
		chans = []analytics.Channel{analytics.Channel(e.Channel)}
	}
	listed := false
	for _, ch := range chans {
		in, err := a.opt.Gate.ListedIn(r.Context(), num, ch, campaign)
		if err != nil {
			a.storeError(w, err)
			return
		}
		listed = listed || in
	}
	if !listed {
		scope := "the global list"
		if campaign != "" {
			scope = "campaign " + campaign + "'s list"
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s is not on %s for %s", num, scope, strings.Join(channelNames(chans), ", ")))
		return
	}
	if err := a.opt.Gate.RemoveDNC(r.Context(), e); err != nil {
		a.storeError(w, err)
		return
	}
	a.log.Info("api: do-not-contact removed", "phone", e.Phone, "channel", e.Channel, "campaign", e.Campaign)
	w.WriteHeader(http.StatusNoContent)
}

func channelNames(cs []analytics.Channel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// getDNC answers GET /api/v1/dnc/{phone}[?campaign=&country=]: the
// listings per channel (null where it is not listed).
func (a *API) getDNC(w http.ResponseWriter, r *http.Request) {
	num, campaign, ok := a.dncTarget(w, r)
	if !ok {
		return
	}
	out := map[string]any{}
	for _, ch := range analytics.Channels() {
		e, ok, err := a.opt.Gate.LookupDNC(r.Context(), num, ch, campaign)
		if err != nil {
			a.storeError(w, err)
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
