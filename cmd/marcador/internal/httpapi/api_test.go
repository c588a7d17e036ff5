package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

const token = "test-token-0123456789"

var now = time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)

type fixture struct {
	srv   *httptest.Server
	api   *API
	store *queue.Store
	gate  *compliance.Gate
	rdb   redis.UniversalClient
	id    string
	logs  *syncBuffer
}

// syncBuffer collects a test's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newFixture serves the API on the real Redis; edits adjust its options.
func newFixture(t *testing.T, edits ...func(*Options)) *fixture {
	rdb := redistest.Client(t)
	id := redistest.CampaignID(t, rdb)
	store := queue.New(queue.Options{Client: rdb})
	reg := prometheus.NewRegistry()
	reg.MustRegister(queue.NewCollector(store, func() time.Time { return now }))
	cal, err := compliance.LoadCalendars("", nil)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := compliance.NewGate(compliance.GateOptions{Client: rdb, Calendars: cal, Profiles: compliance.Builtin(),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opt := Options{Store: store, Gate: gate, Tokens: []string{token}, Gatherer: reg, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.MultiWriter(logs, os.Stderr), nil)),
		Checks: map[string]func(context.Context) error{
			"redis": func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
			"down":  func(context.Context) error { return errors.New("unplugged") },
		}}
	for _, e := range edits {
		e(&opt)
	}
	api := New(opt)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, api: api, store: store, gate: gate, rdb: rdb, id: id, logs: logs}
}

func (f *fixture) do(t *testing.T, method, path, ctype, body string, auth bool, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func TestAuthOnEveryAPIRoute(t *testing.T) {
	f := newFixture(t)
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/v1/campaigns"}, {"GET", "/api/v1/campaigns/x"}, {"POST", "/api/v1/campaigns/x/contacts"}, {"GET", "/api/v1/nothing"},
	} {
		if code := f.do(t, r.method, r.path, "", "", false, nil); code != 401 {
			t.Errorf("%s %s without token: %d", r.method, r.path, code)
		}
		req, _ := http.NewRequest(r.method, f.srv.URL+r.path, nil)
		req.Header.Set("Authorization", "Bearer wrong-token-0000000000")
		resp, _ := http.DefaultClient.Do(req)
		if resp.StatusCode != 401 {
			t.Errorf("%s %s with a wrong token: %d", r.method, r.path, resp.StatusCode)
		}
		resp.Body.Close()
	}
}

func (f *fixture) createCampaign(t *testing.T) {
	t.Helper()
	body := `{"id":"` + f.id + `","name":"Cobranza","mode":"ivr","country":"MX","time_zone":"America/Mexico_City","currency":"mxn",
	  "retry":{"max_attempts":4,"delays":{"busy":"15m"}}}`
	var c queue.Campaign
	if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", body, true, &c); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if c.Currency != "MXN" || c.Profile != "MX" || c.Retry.MaxAttempts != 4 {
		t.Fatalf("saved %+v", c)
	}
	if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", body, true, nil); code != 200 {
		t.Fatalf("replace: %d", code)
	}
}

func TestCampaignCreateGetAndBadBodies(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t)
	var v CampaignView
	if code := f.do(t, "GET", "/api/v1/campaigns/"+f.id, "", "", true, &v); code != 200 || v.ID != f.id {
		t.Fatalf("get: %d %+v", code, v)
	}
	var e map[string]string
	// Not a campaign body: 400.
	for _, body := range []string{`{`, `{"id":"a","country":"MX","time_zone":"UTC","colour":"red"}`,
		`{"id":"a","country":"MX","time_zone":"UTC","retry":{"delays":{"busy":"soon"}}}`} {
		if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", body, true, &e); code != 400 || e["error"] == "" {
			t.Errorf("%s: %d %v", body, code, e)
		}
	}
	// A campaign that could not be used: 422 with the field.
	for body, field := range map[string]string{`{"id":"x y","country":"MX","time_zone":"UTC"}`: "id",
		`{"id":"a","country":"MX","time_zone":"Nowhere/City"}`: "time_zone"} {
		if code := f.do(t, "POST", "/api/v1/campaigns", "application/json", body, true, &e); code != 422 || e["field"] != field || e["reason"] == "" {
			t.Errorf("%s: %d %v", body, code, e)
		}
	}
	if code := f.do(t, "GET", "/api/v1/campaigns/nope-"+f.id, "", "", true, &e); code != 404 {
		t.Errorf("missing campaign: %d", code)
	}
}

func TestCSVUploadReportsBadRowsAndLoadsTheRest(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t)
	csv := "account_id,name,phone1,balance,due_date,product\n" +
		"A1,Ana López,55 1234 5678,1250.50,2026-11-01,tarjeta\n" +
		"A2,Bad Phone,12,100,2026-11-01,x\n" +
		",No Id,55 8765 4321,100,2026-11-01,x\n" +
		"A4,Bad Date,55 1111 2222,100,2026-13-45,x\n" +
		"A5,Too,Many,Columns,Here,x,y\n" +
		"A6,Bad \xff\xfe UTF8,55 3333 4444,100,2026-11-01,x\n" +
		"A7,José Pérez,+52 33 1234 5678,99.90,2026-12-24,préstamo\n"
	var res UploadResult
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "text/csv", csv, true, &res); code != 200 {
		t.Fatalf("upload: %d %+v", code, res)
	}
	if res.Loaded.Inserted != 2 || res.Rejected != 5 || len(res.Errors) != 5 {
		t.Fatalf("result %+v", res)
	}
	for _, e := range res.Errors {
		if e.Row == 0 || e.Reason == "" {
			t.Errorf("error without row or reason: %+v", e)
		}
	}
	a, err := f.store.Account(context.Background(), f.id, "A1")
	if err != nil || a.Phones[0].Number != "+525512345678" || a.Fields["product"] != "tarjeta" || a.Balance.String() != "1250.5" {
		t.Fatalf("A1 = %+v %v", a, err)
	}
	if len(a.Phones[0].TimeZones) == 0 {
		t.Fatalf("A1 phone has no time zone")
	}
	// Same file again: idempotent.
	f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "text/csv", csv, true, &res)
	if res.Loaded.Inserted != 0 || res.Loaded.Updated != 2 {
		t.Fatalf("second upload %+v", res)
	}
	var v CampaignView
	f.do(t, "GET", "/api/v1/campaigns/"+f.id, "", "", true, &v)
	if v.Queue.Accounts != 2 || v.Queue.DueNow != 2 {
		t.Fatalf("queue %+v", v.Queue)
	}
}

func TestJSONUploadAndAllBad(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t)
	var res UploadResult
	body := `{"contacts":[{"account_id":"J1","name":"Luis","phones":["5512345678"],"balance":10},{"account_id":"J2","phones":["x"]}]}`
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "application/json", body, true, &res); code != 200 ||
		res.Loaded.Inserted != 1 || res.Rejected != 1 {
		t.Fatalf("json upload %d %+v", code, res)
	}
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "text/csv", "account_id,phone\nZ,1\n", true, &res); code != 422 {
		t.Fatalf("all-bad upload: %d", code)
	}
	var e map[string]string
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "text/csv", "name\nx\n", true, &e); code != 400 {
		t.Fatalf("no id column: %d %v", code, e)
	}
	if code := f.do(t, "POST", "/api/v1/campaigns/"+f.id+"/contacts", "application/xml", "<a/>", true, &e); code != 415 {
		t.Fatalf("xml: %d", code)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	f := newFixture(t)
	f.createCampaign(t)
	resp, err := http.Get(f.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	if !strings.Contains(sb.String(), `marcador_queue_accounts{campaign="`+f.id+`"}`) {
		t.Fatalf("metrics lack queue depth:\n%.2000s", sb.String())
	}
	var h map[string]string
	if code := f.do(t, "GET", "/healthz", "", "", false, &h); code != 503 || h["redis"] != "ok" || !strings.Contains(h["down"], "unplugged") {
		t.Fatalf("healthz %d %v", code, h)
	}
}
