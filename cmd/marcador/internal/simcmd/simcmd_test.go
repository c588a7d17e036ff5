package simcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func TestJSONKeys(t *testing.T) {
	var out, errb bytes.Buffer
	if err := Main(context.Background(), []string{"-pacer", "vicidial", "-agents", "5", "-hours", "0.2", "-aht", "120", "-wrap", "20s", "-json"}, &out, &errb); err != nil {
		t.Fatalf("%v (%s)", err, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"abandon_rate", "abandon_rate_worst_hour", "agent_wait_s", "agents", "answer_rate", "connects_per_agent_hour",
		"dials", "occupancy", "pacer", "seed", "talk_min_per_agent_hour"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	if m["pacer"] != "vicidial" || m["agents"] != 5.0 {
		t.Errorf("line %v", m)
	}
}

func TestTableAndScenario(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(f, []byte("events:\n  - at: 3m\n    answer_rate: 0.05\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := Main(context.Background(), []string{"-agents", "5", "-hours", "0.1", "-scenario", f}, &out, &errb); err != nil {
		t.Fatalf("%v (%s)", err, errb.String())
	}
	for _, s := range []string{"pacer", "predictive", "occupancy", "abandon rate", "dials"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-pacer", "ratio"},
		{"-answer-rate", "0.9", "-machine-rate", "0.3"},
		{"-target-abandon", "0"},
		{"-aht", "soon"},
		{"-vicidial-mode", "RATIO"},
		{"-scenario", "/nonexistent.yaml"},
	} {
		var out, errb bytes.Buffer
		if err := Main(context.Background(), append(args, "-hours", "0.01"), &out, &errb); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	var out, errb bytes.Buffer
	if err := Main(context.Background(), []string{"-h"}, &out, &errb); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errb.String(), "-matrix") {
		t.Errorf("-h: %v, %q", err, errb.String())
	}
}
