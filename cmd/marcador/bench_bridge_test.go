//go:build !prod

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/queue/redistest"
)

// asCLI makes this test binary run as marcador itself when a test
// starts it as a child (os.Executable: the simulator, the agents' phones).
const asCLI = "MARCADOR_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	// Children a test starts from os.Executable (a benchmark's simulator,
	// the demo's) run as marcador too.
	os.Setenv(asCLI, "1")
	os.Exit(m.Run())
}

// lockedBuffer is a bytes.Buffer that a benchmark and the children it
// hands it to as their stderr (copied in by os/exec's goroutine) may both
// write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bench bridge end to end, small: phones register with digest in their own
// process and are logged in, every debtor call of the simulator is answered,
// bridged with audio both ways (the calls beyond the agents wait for one),
// the baseline runs, and the run leaves nothing in Redis.
func TestBenchBridge(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "marcador.yaml")
	os.WriteFile(cfg, []byte("redis: {addr: "+redistest.Addr()+"}\nsip: {rtp_ports: {min: 45000, max: 45499}}\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var errb lockedBuffer
	if code := run(ctx, []string{"bench", "bridge", "-config", cfg, "-agents", "3", "-calls", "8", "-cps", "20",
		"-hold", "300ms-600ms", "-measure", "1s", "-json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var r struct {
		Campaign string
		Agents   struct{ Agents int }
		Calls    struct {
			Answered, Bridged int
			Immediate         int                      `json:"bridged_at_answer"`
			Waited            int                      `json:"bridged_after_wait"`
			TwoWay            int                      `json:"bridges_with_audio_both_ways"`
			AnswerToBridge    struct{ N int }          `json:"answer_to_bridge"`
			Relay             struct{ Packets uint64 } `json:"relay_debtor_to_agent"`
		}
		Baseline struct {
			Bare, Bridge struct {
				Latency struct{ Packets uint64 }
			}
		}
	}
	text := benchJSON(t, out.String(), &r)
	c := r.Calls
	if r.Agents.Agents != 3 || c.Answered != 8 || c.Bridged != 8 || c.TwoWay != 8 || c.Immediate+c.Waited != 8 ||
		c.Waited == 0 || c.AnswerToBridge.N == 0 || c.Relay.Packets == 0 {
		t.Fatalf("%+v\n%s", r, text)
	}
	if r.Baseline.Bare.Latency.Packets == 0 || r.Baseline.Bridge.Latency.Packets == 0 {
		t.Fatalf("baseline %+v", r.Baseline)
	}
	for _, want := range []string{"answer → bridged", "relay debtor → agent", "bridge / bare", "load average"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Nothing left in Redis: the campaign's keys, its place in the lease
	// loops' set, the agents, their phones' bindings.
	rdb := redistest.Client(t)
	if keys, _ := rdb.Keys(ctx, "marcador:{"+r.Campaign+"}:*").Result(); len(keys) > 0 {
		t.Errorf("left %v", keys)
	}
	if in, _ := rdb.SIsMember(ctx, "marcador:{agents}:campaigns", r.Campaign).Result(); in {
		t.Error("campaign left in the agents' campaigns")
	}
	run := strings.TrimPrefix(r.Campaign, "bench-bridge-")
	pool := agent.New(agent.Options{Client: rdb})
	for _, id := range []string{"bb-" + run + "-a001", "bb-" + run + "-a003"} {
		if _, err := pool.Get(ctx, id); !errors.Is(err, agent.ErrNotFound) {
			t.Errorf("agent %s: %v", id, err)
		}
		if n, _ := rdb.HExists(ctx, "marcador:{agents}:gen", id).Result(); n {
			t.Errorf("agent %s: generation left", id)
		}
		if n, _ := rdb.Exists(ctx, "marcador:{registrar}:binding:"+id).Result(); n != 0 {
			t.Errorf("agent %s: the phone's binding left (it unregisters)", id)
		}
	}
}

// bench sip end to end, small: both engines hold two-way calls, and the
// bridged phase's audio crosses every bridge, the sampled one's tones
// heard by the simulator on both sides.
func TestBenchSIPBridged(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "marcador.yaml")
	os.WriteFile(cfg, []byte("sip: {rtp_ports: {min: 45500, max: 45999}, rtp_sockets: 2}\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var errb lockedBuffer
	if code := run(ctx, []string{"bench", "sip", "-config", cfg, "-cps", "0", "-concurrent", "20", "-bridged", "10", "-measure", "1s",
		"-sim-cpu", "-1", "-sim-nice", "0", "-json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var r struct {
		Engines []struct {
			Sockets    int `json:"rtp_sockets"`
			Concurrent struct {
				Up     int `json:"calls_up"`
				TwoWay int `json:"calls_with_two_way_audio"`
			}
			Bridged struct {
				Bridges      int
				BothWays     int `json:"bridges_with_audio_both_ways"`
				ToneSampled  int `json:"tone_sampled_bridges"`
				ToneBothWays int `json:"tone_sampled_heard_both_ways"`
			}
		}
	}
	text := benchJSON(t, out.String(), &r)
	if len(r.Engines) != 2 || r.Engines[0].Sockets != 0 || r.Engines[1].Sockets != 2 {
		t.Fatalf("engines %+v\n%s", r.Engines, text)
	}
	for _, e := range r.Engines {
		if c, b := e.Concurrent, e.Bridged; c.Up != 20 || c.TwoWay != 20 || b.Bridges != 10 || b.BothWays != 10 || b.ToneSampled != 1 || b.ToneBothWays != 1 {
			t.Errorf("%d sockets: %+v\n%s", e.Sockets, e, text)
		}
	}
	if !strings.Contains(text, "1 of 1 sampled bridges") {
		t.Errorf("no tone line in\n%s", text)
	}
}

// benchJSON decodes the JSON a bench command printed after its text (-json)
// into v and returns the text.
func benchJSON(t *testing.T, out string, v any) string {
	t.Helper()
	text, js, ok := strings.Cut(out, "\n{")
	if !ok {
		t.Fatalf("no JSON in\n%s", out)
	}
	if err := json.Unmarshal([]byte("{"+js), v); err != nil {
		t.Fatal(err)
	}
	return text
}
