package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/queue/redistest"
)

// startServe runs `marcador serve` with http (the http: section's YAML
// mapping) until the test ends.
func startServe(t *testing.T, listen, http string) {
	t.Helper()
	conn := chtest.Conn(t)
	p := filepath.Join(t.TempDir(), "marcador.yaml")
	cfg := fmt.Sprintf("node_id: slow-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"\nredis: {addr: %s}\nclickhouse: {addr: %s, database: %s}\nspool: {dir: %s}\n"+
		"http: %s\nlog: {level: warn}\nsip: {listen: 127.0.0.1:0}\n",
		redistest.Addr(), chtest.Addr(), chtest.Database(t, conn), filepath.Join(t.TempDir(), "spool"), http)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "-config", p}, &bytes.Buffer{}, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// trickle opens a raw connection, sends head, then one byte of tail every
// 100ms (a slow client, 30 s of it), and returns how long the server kept
// the connection open and what it answered.
func trickle(t *testing.T, addr, head, tail string) (time.Duration, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(c) // until the server closes (or the 30 s below run out)
		closed <- b
	}()
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	give := time.NewTimer(30 * time.Second)
	defer give.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case b := <-closed:
			return time.Since(start), string(b)
		case <-give.C:
			c.Close()
			return time.Since(start), string(<-closed)
		case <-tick.C:
			if tail != "" {
				c.Write([]byte{tail[i%len(tail)]}) // an error means the server is gone: the reader sees it
			}
		}
	}
}

// A slow client, with or without a token, is cut off by the server's
// timeouts (here 1-2 s) long before it is done trickling (30 s).
func TestServeCutsSlowClients(t *testing.T) {
	t.Parallel()
	listen := freeAddr(t)
	startServe(t, listen, "{listen: "+listen+", api_tokens: [slow-token-0123456789], read_header_timeout: 1s, read_timeout: 2s, "+
		"write_timeout: 5s, idle_timeout: 1s}")
	const bound = 20 * time.Second // the client would go on for 30 s
	for _, c := range []struct {
		name, head, tail, answer string
	}{
		{"headers trickled", "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", ""},
		{"request line trickled", "", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ""},
		{"body trickled, no token", "POST /api/v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"Content-Length: 100000\r\n\r\n", " ", "401 Unauthorized"},
		{"body trickled, with a token", "POST /api/v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"Authorization: Bearer slow-token-0123456789\r\nContent-Length: 100000\r\n\r\n", " ", ""},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "", "200 OK"},
	} {
		held, answer := trickle(t, listen, c.head, c.tail)
		if held >= bound || !strings.Contains(answer, c.answer) {
			t.Errorf("%s: connection held %s (bound %s), answered %q", c.name, held.Round(time.Millisecond), bound, answer)
		} else {
			t.Logf("%s: cut after %s", c.name, held.Round(time.Millisecond))
		}
	}
}

// http.metrics_listen serves /metrics and /healthz apart (guarded by
// http.metrics_token), the API listener no longer does; a campaign naming a
// trunk the config does not have is refused at create.
func TestServeMetricsApartAndCampaignRefs(t *testing.T) {
	t.Parallel()
	listen, ops := freeAddr(t), freeAddr(t)
	startServe(t, listen, "{listen: "+listen+", api_tokens: [api-token-0123456789], metrics_listen: "+ops+
		", metrics_token: metrics-token-0123456789}")
	get := func(url, tok string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for url, want := range map[string]int{"http://" + listen + "/metrics": 404, "http://" + listen + "/healthz": 404,
		"http://" + ops + "/metrics": 401, "http://" + ops + "/healthz": 401} {
		if code, _ := get(url, "metrics-token-0123456789"); url[7:7+len(listen)] == listen && code != want {
			t.Errorf("%s: %d, want %d", url, code, want)
		}
		if code, _ := get(url, ""); code != want {
			t.Errorf("%s without a token: %d, want %d", url, code, want)
		}
	}
	if code, body := get("http://"+ops+"/metrics", "metrics-token-0123456789"); code != 200 || !strings.Contains(body, "marcador_writer_queued_rows") {
		t.Errorf("metrics with the token: %d", code)
	}
	if code, body := get("http://"+ops+"/healthz", "metrics-token-0123456789"); code != 200 || !strings.Contains(body, `"redis": "ok"`) {
		t.Errorf("healthz with the token: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", "http://"+listen+"/api/v1/campaigns",
		strings.NewReader(`{"id":"refs-check","country":"MX","time_zone":"America/Mexico_City","trunk":"nope"}`))
	req.Header.Set("Authorization", "Bearer api-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e map[string]string
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 422 || e["field"] != "trunk" || !strings.Contains(e["reason"], `"nope" is not configured (have: none)`) {
		t.Fatalf("campaign with an unknown trunk: %d %v", resp.StatusCode, e)
	}
}
