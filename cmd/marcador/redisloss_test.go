package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
	"github.com/marcador/marcador/sms"
	"github.com/marcador/marcador/sms/twiliotest"
)

// lockedBuf is serve's stderr, read while serve writes it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRedisLossHoldsServe: serve runs a campaign against its own Redis,
// which restarts without its data. /healthz turns 503 and says why,
// marcador_redis_data_ok is 0, and although the campaign and its contacts
// are uploaded and started again, nobody is dialled and the outbox sends
// nothing, until `marcador redis restore`; then both resume.
func TestRedisLossHoldsServe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	rs := redistest.StartServer(t) // no persistence: a restart comes back empty
	rdb := rs.Client()
	sim, err := simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, RTPPorts: media.PortRange{Min: 44000, Max: 44499},
		Ring: simcarrier.Range{Min: 20 * time.Millisecond, Max: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	const sid, token, from = "AC1055aa1055aa1055aa1055aa1055aa10", "loss1055aa1055aa1055aa1055aa1055", "+15005550006"
	tw, err := twiliotest.Start(twiliotest.Options{AccountSID: sid, AuthToken: token, Numbers: []string{from}})
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Close()
	listen := freeAddr(t)
	base := "http://" + listen
	cfgPath := filepath.Join(t.TempDir(), "marcador.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`node_id: loss
redis: {addr: %s}
clickhouse: {addr: %s, database: %s}
spool: {dir: %s, flush_interval: 50ms}
http: {listen: %s, api_tokens: [loss-token-0123456789]}
log: {level: info}
sip: {listen: 127.0.0.1:0, rtp_ports: {min: 44500, max: 44999}}
trunks: [{name: sim, uri: 'sip:%s', caller_id: '+525550000100', cps: 50, max_channels: 10}]
twilio: {account_sid: %s, auth_token: %s, from: '%s', public_url: '%s', api_url: '%s'}
sms: {rate: 50}
compliance:
  profiles:
    - name: ANYTIME
      windows: {all: ["00:00-24:00"]}
`, rs.Addr, chtest.Addr(), db, filepath.Join(t.TempDir(), "spool"), listen, sim.Addr(), sid, token, from, base, tw.URL())), 0o600)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stderr := &lockedBuf{}
	done := make(chan int, 1)
	go func() { done <- run(sctx, []string{"serve", "-config", cfgPath}, io.Discard, stderr) }()
	defer func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()

	api := func(method, path, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer loss-token-0123456789")
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	health := func() (int, map[string]string) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var h map[string]string
		json.NewDecoder(resp.Body).Decode(&h)
		return resp.StatusCode, h
	}
	metric := func(name string) string {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, name+" "); ok {
				return v
			}
		}
		return ""
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\nserve's log:\n%s", what, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	until("serve to answer", func() bool { c, _ := health(); return c == 200 })
	if v := metric("marcador_redis_data_ok"); v != "1" {
		t.Fatalf("marcador_redis_data_ok = %q at start", v)
	}

	// The campaign dials busy numbers (last digit 6): one call each, then
	// due again in an hour.
	const campaign = `{"id":"loss-c","mode":"ivr","trunk":"sim","country":"MX","time_zone":"America/Mexico_City","profile":"ANYTIME",
		"script":"reminder-preventive","max_concurrent":2,"currency":"MXN","pay_url":"https://pay.example.com/{token}","retry":{"max_attempts":5,"delays":{"default":"1h"}}}`
	upload := func(first int) {
		t.Helper()
		if code, body := api("POST", "/api/v1/campaigns", "application/json", campaign); code != 201 && code != 200 {
			t.Fatalf("create campaign: %d %s", code, body)
		}
		csv := "account_id,name,phone,balance,currency,due_date\n"
		for i := first; i < first+3; i++ {
			csv += fmt.Sprintf("L%d,Deudor %d,+52551234%03d6,1500,MXN,2026-11-01\n", i, i, i)
		}
		if code, body := api("POST", "/api/v1/campaigns/loss-c/contacts", "text/csv", csv); code != 200 && code != 201 {
			t.Fatalf("upload contacts: %d %s", code, body)
		}
		if code, body := api("POST", "/api/v1/campaigns/loss-c/start", "", ""); code != 200 {
			t.Fatalf("start: %d %s", code, body)
		}
	}
	upload(0)
	until("the first three calls", func() bool { return sim.Stats().Offered == 3 })
	store := queue.New(queue.Options{Client: rdb})
	until("the first calls to settle", func() bool {
		n, _ := store.Counts(ctx, "loss-c", time.Now())
		return n.Leased == 0 && n.Due == 3
	})

	rs.Restart() // Redis comes back empty

	until("/healthz to say the data is lost", func() bool {
		c, h := health()
		return c == 503 && strings.Contains(h["redis"], "missing since") && strings.Contains(h["redis"], "marcador redis restore")
	})
	if _, h := health(); h["clickhouse"] != "ok" {
		t.Errorf("healthz: %v", h)
	}
	if v := metric("marcador_redis_data_ok"); v != "0" {
		t.Fatalf("marcador_redis_data_ok = %q while the data is lost", v)
	}

	// The operator uploads the campaign again and starts it; a text waits
	// in the outbox; an API text is refused. None of it may go out yet.
	upload(3)
	item, _ := json.Marshal(sms.Request{Key: "loss-outbox-1", Campaign: "loss-c", Account: "L3", Template: "missed-call", Channel: "sms"})
	if err := sms.NewStore(sms.StoreOptions{Client: rdb}).OutboxAdd(ctx, item, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if code, body := api("POST", "/api/v1/messages", "application/json",
		`{"key":"loss-api-1","campaign":"loss-c","account":"L4","template":"missed-call"}`); code != 503 || !strings.Contains(body, "epoch marker") {
		t.Fatalf("POST /api/v1/messages while held: %d %s", code, body)
	}
	// Watch for a while: the runner ticks every 250ms and the outbox every
	// 200ms, so a few seconds give each many chances to act.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := sim.Stats().Offered; n != 3 {
			t.Fatalf("a call went out while Redis's data was lost (%d INVITEs)", n)
		}
		if n, _ := store.Counts(ctx, "loss-c", time.Now()); n.Leased != 0 || n.DueNow != 3 {
			t.Fatalf("a contact was claimed while held: %+v", n)
		}
		if tw.Creates() != 0 {
			t.Fatal("a text went out while held")
		}
	}

	var out, errb bytes.Buffer
	if code := run(ctx, []string{"redis", "restore", "-config", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("redis restore exited %d: %s\n%s", code, errb.String(), out.String())
	}
	for _, want := range []string{"DATA LOST", "do-not-contact lists:", "contact history:", "NOT rebuilt", "new data epoch"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("restore's output lacks %q:\n%s", want, out.String())
		}
	}

	until("/healthz to be ok again", func() bool { c, _ := health(); return c == 200 })
	until("dialing to resume", func() bool { return sim.Stats().Offered == 6 })
	until("the queued text to be sent", func() bool { return tw.Creates() == 1 })
	if m := tw.Messages(); len(m) != 1 || m[0].To != "+525512340036" {
		t.Fatalf("texts: %+v", m)
	}
	if v := metric("marcador_redis_data_ok"); v != "1" {
		t.Fatalf("marcador_redis_data_ok = %q after the restore", v)
	}
	if n := strings.Count(stderr.String(), "REDIS DATA LOST"); n != 1 {
		t.Errorf("%d REDIS DATA LOST lines, want 1:\n%s", n, stderr.String())
	}
}
