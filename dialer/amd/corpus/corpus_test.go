package corpus

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

func needTools(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping: %v (CI installs them in .ci/run)", err)
	}
}

func TestGenerateIsDeterministicAndLabelled(t *testing.T) {
	needTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := t.TempDir(), t.TempDir()
	ma, err := Generate(ctx, Options{Dir: a, Set: "test", Seed: 9, N: 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(ctx, Options{Dir: b, Set: "test", Seed: 9, N: 30, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	// Same seed, different scheduling: the same bytes.
	for _, f := range append([]string{"manifest.json"}, files(ma)...) {
		x, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", f)
		}
	}
	m, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	for _, e := range m.Entries {
		classes[e.Class]++
		if e.Expect != Expect(e.Class) {
			t.Errorf("%s: expect %s for %s", e.File, e.Expect, e.Class)
		}
		raw, err := os.ReadFile(filepath.Join(a, e.File))
		if err != nil {
			t.Fatal(err)
		}
		p, err := media.DecodeWAV(e.File, raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(p.Samples) / 8; got != e.DurationMS {
			t.Errorf("%s: %d ms of audio, manifest says %d", e.File, got, e.DurationMS)
		}
		switch e.Class {
		case Human, Machine:
			if e.SpeechMS < 0 || e.GreetingEndMS <= e.SpeechMS || e.Voice == "" || e.Text == "" {
				t.Errorf("%s: speech labels %+v", e.File, e)
			}
			if e.SpeechMS >= 100 && power(p.Samples[:e.SpeechMS*8-400]) > power(p.Samples[e.SpeechMS*8:e.GreetingEndMS*8])/4 {
				t.Errorf("%s: as loud before the speech label as after it", e.File)
			}
		}
		if e.BeepMS != nil {
			if e.Class != Machine || *e.BeepMS < e.GreetingEndMS || *e.BeepEndMS <= *e.BeepMS || *e.BeepEndMS > e.DurationMS {
				t.Errorf("%s: beep labels %+v", e.File, e)
				continue
			}
			// The labelled beep is where the tone is.
			mid := (*e.BeepMS + 60) * 8
			if f, share := media.PureTone(p.Samples[mid : mid+160]); share < 0.8 || f < e.BeepHz-30 || f > e.BeepHz+30 {
				t.Errorf("%s: %.0f Hz (share %.2f) 60 ms into the beep, labelled %.0f Hz", e.File, f, share, e.BeepHz)
			}
		}
	}
	for _, c := range Classes() {
		if classes[c] == 0 {
			t.Errorf("no %s recordings in %v", c, classes)
		}
	}
}

func TestGenerateRefusesBadOptions(t *testing.T) {
	if _, err := Generate(context.Background(), Options{Dir: t.TempDir(), Set: "train", N: 3}); err == nil {
		t.Error("set train accepted")
	}
	if _, err := Generate(context.Background(), Options{Dir: t.TempDir(), Set: "test", N: 0}); err == nil {
		t.Error("0 recordings accepted")
	}
}

func files(m Manifest) []string {
	var out []string
	for _, e := range m.Entries {
		out = append(out, e.File)
	}
	return out
}

func power(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(max(1, len(x)))
}
