package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A failed API call says which call, the status and the API's error (it
// used to print "HTTP 500 <nil>").
func TestClientSaysWhyACallFailed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("token %q", r.Header.Get("Authorization"))
		}
		switch r.URL.Path {
		case "/api/v1/ok":
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"c1"}`))
		case "/api/v1/json":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"storage unavailable; try again"}`))
		default:
			http.Error(w, "upstream went away", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	c := &client{base: srv.URL + "/api/v1", token: "tok"}
	ctx := context.Background()
	var out struct{ ID string }
	if err := c.do(ctx, "POST", "/ok", "application/json", []byte(`{}`), &out, http.StatusCreated); err != nil || out.ID != "c1" {
		t.Fatalf("ok call: %v %+v", err, out)
	}
	for path, want := range map[string]string{
		"/ok":   "POST /ok: HTTP 201: " + `{"id":"c1"}`, // 201 where only 200 will do
		"/json": "POST /json: HTTP 503: storage unavailable; try again",
		"/text": "POST /text: HTTP 502: upstream went away",
	} {
		err := c.do(ctx, "POST", path, "application/json", []byte(`{}`), &out)
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "<nil>") {
			t.Errorf("%s: %v", path, err)
		}
	}
}
