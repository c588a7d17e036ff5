package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

func TestAMDCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pause := func(ms int) []int16 { return make([]int16, ms*8) }
	write := func(name string, parts ...[]int16) string {
		var x []int16
		for _, p := range parts {
			x = append(x, p...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, media.EncodeWAV(x), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	person := write("person.wav", pause(300), simcarrier.Voice(400*time.Millisecond, 180, 1), pause(5000))
	box := write("box.wav", pause(500), simcarrier.Voice(6*time.Second, 120, 2), pause(400), media.Tone(1000, 9000, 8*400), pause(2000))

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"amd", "-json", person, box}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	type line struct {
		File       string `json:"file"`
		Result     string `json:"result"`
		Cause      string `json:"cause"`
		DecisionMS int64  `json:"decision_ms"`
		BeepMS     *int64 `json:"beep_ms"`
	}
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var x line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, x)
	}
	if len(got) != 2 {
		t.Fatalf("%d lines: %s", len(got), out.String())
	}
	if g := got[0]; g.File != person || g.Result != "human" || g.DecisionMS < 700 || g.DecisionMS > 1500 || g.BeepMS != nil {
		t.Errorf("person: %+v", g)
	}
	if g := got[1]; g.File != box || g.Result != "machine" || g.BeepMS == nil || *g.BeepMS < 6880 || *g.BeepMS > 6920 {
		t.Errorf("box: %+v (beep starts at 6900 ms)", g)
	}

	// A short greeting, a pause, then the beep: human at once, revised to
	// machine by the beep.
	late := write("late.wav", pause(300), simcarrier.Voice(400*time.Millisecond, 150, 3), pause(1500), media.Tone(1000, 8000, 8*400), pause(3000))
	out.Reset()
	if code := run(context.Background(), []string{"amd", "-json", late}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var revised map[string]any
	if err := json.Unmarshal(out.Bytes(), &revised); err != nil || revised["result"] != "machine" || revised["cause"] != "beep" || revised["revised_from"] != "human" {
		t.Errorf("late beep: %s (%v)", out.String(), err)
	}
	if ms, ok := revised["first_decision_ms"].(float64); !ok || ms < 700 || ms > 1500 {
		t.Errorf("late beep: first decision %v", revised["first_decision_ms"])
	}
	out.Reset()
	if code := run(context.Background(), []string{"amd", "-trace", late}, &out, &errb); code != 0 || !strings.Contains(out.String(), "(human at ") || !strings.Contains(out.String(), "ttttr") {
		t.Errorf("late beep, text: exit %d\n%s", code, out.String())
	}

	// The reference parameters from a file, and a trace.
	params := filepath.Join(dir, "ref.yaml")
	os.WriteFile(params, []byte("profile: reference\n"), 0o644)
	out.Reset()
	if code := run(context.Background(), []string{"amd", "-params", params, "-trace", person}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "after_greeting_silence") || !strings.Contains(out.String(), "  0s ") || !strings.Contains(out.String(), "|") {
		t.Errorf("trace output:\n%s", out.String())
	}

	// Bad parameters name the key; an unreadable file is reported and fails the run.
	os.WriteFile(params, []byte("greeting: 20ms\n"), 0o644)
	errb.Reset()
	if code := run(context.Background(), []string{"amd", "-params", params, person}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "greeting 20ms") {
		t.Errorf("bad params: exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"amd", person, filepath.Join(dir, "missing.wav")}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "missing.wav") {
		t.Errorf("missing file: exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"amd", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-campaign ID") || !strings.Contains(errb.String(), "-params") {
		t.Errorf("help: exit %d, %s", code, errb.String())
	}
}

func TestBenchAMDCommand(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: no %s (CI installs it in .ci/run)", tool)
		}
	}
	dir := filepath.Join(t.TempDir(), "corpus")
	var out, errb bytes.Buffer
	// No corpus there yet: it is generated first.
	if code := run(context.Background(), []string{"bench", "amd", "-corpus", dir, "-n", "12", "-seed", "5", "-json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "generating 12 recordings") {
		t.Errorf("stderr: %s", errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep struct {
		Files    int `json:"files"`
		Profiles []struct {
			Profile string `json:"profile"`
		} `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil || rep.Files != 12 || len(rep.Profiles) != 2 || rep.Profiles[0].Profile != "human-first" || rep.Profiles[1].Profile != "reference" {
		t.Fatalf("JSON %v: %s", err, lines[len(lines)-1])
	}
	if !strings.Contains(out.String(), "human recall") {
		t.Errorf("no table:\n%s", out.String())
	}
	// A second run reads the same corpus.
	errb.Reset()
	if code := run(context.Background(), []string{"bench", "amd", "-corpus", dir}, &out, &errb); code != 0 || strings.Contains(errb.String(), "generating") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}

// -config F -campaign ID classifies with the campaign's amd block as
// stored in Redis: a short greeting, a pause, then a beep is a machine
// (revised) with the default block, and stays human for a campaign whose
// block turns revision off (revise_within 0).
func TestAMDCommandCampaign(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	late := filepath.Join(dir, "late.wav")
	var x []int16
	for _, p := range [][]int16{make([]int16, 300*8), simcarrier.Voice(400*time.Millisecond, 150, 3), make([]int16, 1500*8),
		media.Tone(1000, 8000, 8*400), make([]int16, 3000*8)} {
		x = append(x, p...)
	}
	if err := os.WriteFile(late, media.EncodeWAV(x), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "marcador.yaml")
	os.WriteFile(cfg, []byte("redis: {addr: "+redistest.Addr()+"}\n"), 0o600)
	ctx := context.Background()
	rdb := redistest.Client(t)
	store := queue.New(queue.Options{Client: rdb, NodeID: "amd-cmd"})
	put := func(amdBlock string) string {
		t.Helper()
		c := queue.Campaign{ID: redistest.CampaignID(t, rdb), Mode: queue.ModeIVR, Country: "MX", Profile: "MX", TimeZone: "America/Mexico_City",
			Trunk: "sim", Script: "reminder-overdue", Language: "es"}
		if amdBlock != "" {
			c.AMD = &queue.AMD{}
			if err := json.Unmarshal([]byte(amdBlock), c.AMD); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.PutCampaign(ctx, c, time.Now()); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	classify := func(args ...string) (map[string]any, string, int) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"amd"}, args...), &out, &errb)
		var got map[string]any
		if code == 0 {
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("%q: %v", out.String(), err)
			}
		}
		return got, errb.String(), code
	}
	on := put(`{"mode":"on","on_machine":"hangup"}`)
	if got, errs, code := classify("-config", cfg, "-campaign", on, "-json", late); code != 0 || got["result"] != "machine" || got["revised_from"] != "human" {
		t.Errorf("default block: exit %d %v %s", code, got, errs)
	}
	final := put(`{"mode":"on","profile":"human-first","revise_within":"0s"}`)
	if got, errs, code := classify("-config", cfg, "-campaign", final, "-json", late); code != 0 || got["result"] != "human" || got["revised_from"] != nil {
		t.Errorf("revise_within 0: exit %d %v %s", code, got, errs)
	}
	off := put(`{"mode":"off","revise_within":"0s"}`)
	if got, errs, code := classify("-config", cfg, "-campaign", off, "-json", late); code != 0 || got["result"] != "human" || !strings.Contains(errs, "amd mode off") {
		t.Errorf("mode off: exit %d %v %s", code, got, errs)
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"-config", cfg, "-campaign", put("")}, "has no amd block"},
		{[]string{"-config", cfg, "-campaign", "no-such-campaign"}, "campaign no-such-campaign"},
		{[]string{"-campaign", on}, "give -config"},
		{[]string{"-config", cfg, "-campaign", on, "-profile", "reference"}, "-campaign with -params or -profile"},
		{[]string{"-config", cfg}, "-config without -campaign"},
	} {
		if _, errs, code := classify(append(c.args, late)...); code == 0 || !strings.Contains(errs, c.err) {
			t.Errorf("%v: exit %d, %s; want %q", c.args, code, errs, c.err)
		}
	}
}
