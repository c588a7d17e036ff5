package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/queue/redistest"
)

// The reported attack, end to end through serve: a payment of 1e30 is
// answered 422 naming the amount (it used to be 200 and then block every
// later row in the writer), and a valid payment sent after it is in
// ClickHouse within seconds; /healthz reports the writer.
func TestServePoisonPaymentRefusedLaterRowsArrive(t *testing.T) {
	t.Parallel()
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
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	base := "http://" + listen
	call := func(method, path, ctype, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer smoke-token-0123456789")
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, stderr.String())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, b)
			}
		}
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := call("POST", "/api/v1/campaigns", "application/json",
		`{"id":"`+id+`","country":"MX","time_zone":"America/Mexico_City","currency":"MXN"}`, nil); code != 201 {
		t.Fatalf("create campaign: %d", code)
	}
	if code := call("POST", "/api/v1/campaigns/"+id+"/contacts", "text/csv",
		"account_id,name,phone,balance\na1,Ana,55 1234 5678,1500.00\n", nil); code != 200 {
		t.Fatalf("upload: %d", code)
	}
	// Payment ids are remembered in the shared Redis for 400 days: unique per run.
	var res struct {
		Recorded int `json:"recorded"`
		Errors   []struct {
			Index int    `json:"index"`
			Field string `json:"field"`
			Error string `json:"error"`
		} `json:"errors"`
	}
	code := call("POST", "/api/v1/payments", "application/json", `{"payment_id":"p5","account_id":"a1","amount":"1e30","currency":"MXN"}`, &res)
	if code/100 != 4 || res.Recorded != 0 || len(res.Errors) != 1 || res.Errors[0].Field != "amount" {
		t.Fatalf("1e30 payment: %d %+v", code, res)
	}
	sent := time.Now()
	if code := call("POST", "/api/v1/payments", "application/json", `{"payment_id":"p6-`+id+`","account_id":"a1","amount":"250.00","currency":"MXN"}`, &res); code != 200 || res.Recorded != 1 {
		t.Fatalf("valid payment: %d %+v", code, res)
	}
	for {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".payments WHERE payment_id = ?", "p6-"+id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Since(sent) > 30*time.Second { // generous: a loaded 2-core machine
			h, _ := http.Get(base + "/healthz")
			var b []byte
			if h != nil {
				b, _ = io.ReadAll(h.Body)
				h.Body.Close()
			}
			t.Fatalf("valid payment not in ClickHouse after 30s; healthz %s\n%s", b, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("valid payment in ClickHouse %s after it was sent", time.Since(sent).Round(time.Millisecond))
	var health map[string]string
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != 200 || health["writer"] != "ok" {
		t.Fatalf("healthz %d %v", resp.StatusCode, health)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`marcador_writer_quarantined_rows_total{table="payments"} 0`, "marcador_writer_refused_batches_total 0",
		"marcador_writer_oldest_unsent_seconds"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
