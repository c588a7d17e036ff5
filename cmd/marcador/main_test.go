package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/queue/redistest"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeConfig(t *testing.T, listen, db string) string {
	p := filepath.Join(t.TempDir(), "marcador.yaml")
	cfg := fmt.Sprintf(`node_id: smoke
redis: {addr: %s}
clickhouse: {addr: %s, database: %s}
spool: {dir: %s, flush_interval: 50ms}
http: {listen: %s, api_tokens: [smoke-token-0123456789]}
log: {level: warn}
`, redistest.Addr(), chtest.Addr(), db, filepath.Join(t.TempDir(), "spool"), listen)
	os.WriteFile(p, []byte(cfg), 0o600)
	return p
}

func TestServeSmoke(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	rdb := redistest.Client(t)
	id := redistest.CampaignID(t, rdb)
	listen := freeAddr(t)
	cfg := writeConfig(t, listen, db)

	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "-config", cfg}, &bytes.Buffer{}, &stderr) }()
	base := "http://" + listen
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/healthz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("serve did not come up: %v\n%s", err, stderr.String())
	}
	var health map[string]string
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != 200 || health["redis"] != "ok" || health["clickhouse"] != "ok" {
		t.Fatalf("healthz %d %v", resp.StatusCode, health)
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/campaigns", strings.NewReader(`{"id":"`+id+`","country":"CL","time_zone":"America/Santiago"}`))
	req.Header.Set("Authorization", "Bearer smoke-token-0123456789")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 201 {
		t.Fatalf("create campaign: %v %v", r, err)
	}
	r, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	r.Body.Close()
	for _, m := range []string{"marcador_writer_queued_rows", "marcador_writer_spool_bytes", "marcador_writer_flushed_rows_total",
		"marcador_writer_flush_errors_total", `marcador_queue_due{campaign="` + id + `"}`} {
		if !strings.Contains(body.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestCommandErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errb.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("redis:\n  adress: x\n"), 0o600)
	errb.Reset()
	if code := run(context.Background(), []string{"migrate", "-config", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "adress") {
		t.Fatalf("bad config: %d %s", code, errb.String())
	}
	for _, cmd := range []string{"serve", "migrate", "demo", "version"} {
		errb.Reset()
		if code := run(context.Background(), []string{cmd, "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "usage: marcador "+cmd) {
			t.Errorf("%s -h: %d %s", cmd, code, errb.String())
		}
	}
}

func TestMigrateCommand(t *testing.T) {
	conn := chtest.Conn(t)
	db := chtest.Database(t, conn)
	var out bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "-config", writeConfig(t, "127.0.0.1:0", db)}, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("migrate exited %d", code)
	}
	if !strings.Contains(out.String(), "up to date") {
		t.Fatalf("migrate on a migrated db: %q", out.String())
	}
}
