package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A stream route outlives the server's write deadline (which cuts an API
// route's answer): a server-sent event written after it has passed
// reaches the client.
func TestStreamOutlivesTheServersDeadlines(t *testing.T) {
	api := New(Options{Tokens: []string{token}})
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: 1\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(900 * time.Millisecond): // past the deadlines (300 ms)
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "data: 2\n\n")
		http.NewResponseController(w).Flush()
	})
	rt := &routes{a: api}
	rt.stream("GET /api/v1/test/stream", events)
	rt.api("GET /api/v1/test/plain", events)
	srv := httptest.NewUnstartedServer(api)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	defer srv.Close()
	get := func(path, tok string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body) // a cut answer ends early; what came is what counts
		return resp.StatusCode, string(b)
	}
	if code, body := get("/api/v1/test/stream", token); code != 200 || body != "data: 1\n\ndata: 2\n\n" {
		t.Errorf("stream: %d %q, want both events", code, body)
	}
	if code, body := get("/api/v1/test/plain", token); code != 200 || strings.Contains(body, "data: 2") {
		t.Errorf("an API route: %d %q, want the deadline to cut the second event", code, body)
	}
	if code, _ := get("/api/v1/test/stream", ""); code != http.StatusUnauthorized {
		t.Errorf("stream without a token: %d", code)
	}
}
