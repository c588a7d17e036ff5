package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Body limits of the JSON routes (uploads have Options.MaxUpload).
const (
	maxCampaignBody = 1 << 20
	maxMessageBody  = 64 << 10
)

// decodeJSON reads a request body of at most limit bytes as exactly one
// JSON value into v, refusing fields v does not have. When it cannot, it
// has answered (400, or 413 past the limit) and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, what string, v any) bool {
	if err := decodeOne(http.MaxBytesReader(w, r.Body, limit), v); err != nil {
		bodyError(w, what, err)
		return false
	}
	return true
}

// decodeOne decodes one JSON value from rd into v: unknown fields, a second
// value or trailing bytes are errors.
func decodeOne(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body: want a JSON object")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errors.New("trailing data after the JSON value: send one value")
	}
	return nil
}
