package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// silentAddr accepts connections and never answers.
func silentAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String()
}

// /healthz names the dependency that is down and a short reason, never the
// error's text with internal addresses; the detail is logged once.
func TestHealthzReasonsHideAddresses(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { down.Close() })
	slow := redis.NewClient(&redis.Options{Addr: silentAddr(t), MaxRetries: -1, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { slow.Close() })
	wrongPass := redis.NewClient(&redis.Options{Addr: privateRedis(t, "--requirepass", "the-password"), Password: "not-the-password",
		MaxRetries: -1})
	t.Cleanup(func() { wrongPass.Close() })
	f := newFixture(t, func(o *Options) {
		o.Checks = map[string]func(context.Context) error{
			"redis":       func(ctx context.Context) error { return down.Ping(ctx).Err() },
			"slow":        func(ctx context.Context) error { return slow.Ping(ctx).Err() },
			"auth":        func(ctx context.Context) error { return wrongPass.Ping(ctx).Err() },
			"clickhouse":  func(ctx context.Context) error { return fmt.Errorf("ping: %w", net.ErrClosed) },
			"writer":      func(context.Context) error { return errors.New("oldest unsent row is 5m old (spool at 10.1.2.3:9000)") },
			"epoch":       func(context.Context) error { return reasoned{"data epoch missing: run marcador redis restore"} },
			"fine":        func(context.Context) error { return nil },
			"http-upstrm": func(context.Context) error { return errors.New(`Get "http://ch.internal:8123/ping": EOF-ish`) },
		}
	})
	var h map[string]string
	for range 3 {
		if code := f.do(t, "GET", "/healthz", "", "", false, &h); code != 503 {
			t.Fatalf("healthz %d %v", code, h)
		}
	}
	want := map[string]string{"redis": "down: unreachable", "slow": "down: timeout", "auth": "down: auth",
		"clickhouse": "down: unreachable", "writer": "down: oldest unsent row is 5m old (spool at <address>)",
		"epoch": "down: data epoch missing: run marcador redis restore", "fine": "ok",
		"http-upstrm": `down: Get "<address> EOF-ish`}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s: %q, want %q", k, h[k], v)
		}
	}
	raw := fmt.Sprint(h)
	for _, leak := range []string{"127.0.0.1", "10.1.2.3", "ch.internal", "dial tcp"} {
		if strings.Contains(raw, leak) {
			t.Errorf("healthz shows %q: %v", leak, h)
		}
	}
	logs := f.logs.String()
	if n := strings.Count(logs, `msg="healthz: dependency down" check=redis `); n != 1 || !strings.Contains(logs, "connection refused") {
		t.Fatalf("redis failure logged %d times (want once, with the detail):\n%s", n, logs)
	}
}

// privateRedis starts a redis-server of the test's own (the shared one has
// no password) and returns its address.
func privateRedis(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	addr := closedAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir()}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis-server on %s did not start: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type reasoned struct{ r string }

func (e reasoned) Error() string        { return "internal: " + e.r }
func (e reasoned) HealthReason() string { return e.r }

// http.metrics_token guards /metrics and /healthz; http.metrics_listen
// moves them to their own listener (Ops), off the API's.
func TestMetricsTokenAndSeparateListener(t *testing.T) {
	const mtok = "metrics-token-0123456789"
	f := newFixture(t, func(o *Options) { o.MetricsToken = mtok })
	get := func(base, path, tok string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range []string{"/metrics", "/healthz"} {
		if c := get(f.srv.URL, p, ""); c != 401 {
			t.Errorf("%s without the token: %d", p, c)
		}
		if c := get(f.srv.URL, p, token); c != 401 {
			t.Errorf("%s with an API token: %d", p, c)
		}
	}
	if c := get(f.srv.URL, "/metrics", mtok); c != 200 {
		t.Errorf("/metrics with the token: %d", c)
	}
	if c := get(f.srv.URL, "/healthz", mtok); c != 503 { // the fixture's "down" check
		t.Errorf("/healthz with the token: %d", c)
	}

	g := newFixture(t, func(o *Options) { o.MetricsSeparate = true })
	ops := httptest.NewServer(g.api.Ops())
	t.Cleanup(ops.Close)
	for _, p := range []string{"/metrics", "/healthz"} {
		if c := get(g.srv.URL, p, ""); c != 404 {
			t.Errorf("API listener still serves %s: %d", p, c)
		}
	}
	if c := get(ops.URL, "/metrics", ""); c != 200 {
		t.Errorf("ops listener /metrics: %d", c)
	}
	if c := get(ops.URL, "/healthz", ""); c != 503 {
		t.Errorf("ops listener /healthz: %d", c)
	}
	if c := get(ops.URL, "/api/v1/campaigns/"+g.id, token); c != 404 {
		t.Errorf("ops listener serves the API: %d", c)
	}
}
