package sim

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/pacing"
)

func run(t *testing.T, p Params, name string) Result {
	t.Helper()
	pc, err := NewPacer(name, pacing.AdaptHardLimit)
	if err != nil {
		t.Fatal(err)
	}
	return Run(p, pc)
}

// The same seed gives the same run, to the last figure; another seed does not.
func TestRunIsDeterministicForASeed(t *testing.T) {
	p := Defaults()
	p.Agents, p.Hours = 10, 0.5
	for _, name := range Pacers {
		a, b := run(t, p, name), run(t, p, name)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two runs with seed %d differ:\n%+v\n%+v", name, p.Seed, a, b)
		}
		q := p
		q.Seed++
		if c := run(t, q, name); reflect.DeepEqual(a, c) {
			t.Errorf("%s: seeds %d and %d gave the same run", name, p.Seed, q.Seed)
		}
	}
}

// The parallel matrix returns exactly what the runs give one by one, in
// matrix order.
func TestMatrixRunsInParallelInOrder(t *testing.T) {
	base := Defaults()
	base.Hours = 0.25
	m := Matrix{AnswerRates: []float64{0.1, 0.35}, Agents: []int{5, 10}, Seeds: []uint64{7}, Pacers: Pacers, Base: base}
	got, err := m.Run(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, ar := range m.AnswerRates {
		for _, ag := range m.Agents {
			for _, name := range m.Pacers {
				p := base
				p.AnswerRate, p.Agents, p.Seed = ar, ag, 7
				if want := run(t, p, name); !reflect.DeepEqual(got[i], want) {
					t.Errorf("cell %d (%v, %d, %s): %+v, want %+v", i, ar, ag, name, got[i], want)
				}
				i++
			}
		}
	}
}

// Sudden changes: the live-answer rate halves mid-shift and half the team
// takes a break; the predictive pacer keeps the worst hour under 5% and the
// shift under 3%, and still keeps agents busier than progressive dialing.
func TestPredictiveThroughSuddenChanges(t *testing.T) {
	sc, err := ParseScenario([]byte(`
events:
  - at: 1h
    answer_rate: 0.05
  - at: 30m
    break: 12
    for: 15m
`))
	if err != nil {
		t.Fatal(err)
	}
	p := Defaults()
	p.Agents, p.AnswerRate, p.Hours, p.Scenario = 25, 0.10, 2, sc
	for seed := uint64(2); seed <= 2; seed++ {
		p.Seed = seed
		r := run(t, p, "predictive")
		t.Logf("seed %d: occupancy %.3f, abandon %.2f%%, worst hour %.2f%%", seed, r.Occupancy, 100*r.AbandonRate, 100*r.AbandonRateWorstHour)
		if r.AbandonRate >= 0.03 || r.AbandonRateWorstHour >= 0.05 {
			t.Errorf("seed %d: abandon %.2f%% over the shift (want < 3%%), %.2f%% in the worst hour (want < 5%%)",
				seed, 100*r.AbandonRate, 100*r.AbandonRateWorstHour)
		}
		if prog := run(t, p, "progressive"); r.Occupancy < prog.Occupancy+0.15 {
			t.Errorf("seed %d: occupancy %.3f, progressive %.3f", seed, r.Occupancy, prog.Occupancy)
		}
	}
}

// No pacer places a call while no agent is available: everyone logs out
// (the busy ones after their call) and later logs back in, and a break
// takes the whole team.
func TestNoDialsWithoutAgents(t *testing.T) {
	sc, err := ParseScenario([]byte(`
events:
  - at: 10m
    logout: 10
  - at: 20m
    login: 10
  - at: 30m
    break: 10
    for: 10m
`))
	if err != nil {
		t.Fatal(err)
	}
	p := Defaults()
	p.Agents, p.Hours, p.Scenario = 10, 0.75, sc
	for _, name := range Pacers {
		r := run(t, p, name)
		if r.DialsWithoutAgents != 0 {
			t.Errorf("%s: %d calls placed with no agent available", name, r.DialsWithoutAgents)
		}
		if r.Connects == 0 {
			t.Errorf("%s: no call connected at all", name)
		}
	}
}

// The trunk's channels bound the lines in use (ringing, waiting, talking,
// machines being hung up) whatever the pacer.
func TestSimRespectsChannels(t *testing.T) {
	p := Defaults()
	p.Agents, p.Hours, p.AnswerRate, p.Channels = 25, 0.25, 0.05, 30
	for _, name := range Pacers {
		r := run(t, p, name)
		if r.MaxLines > p.Channels || r.Connects == 0 {
			t.Errorf("%s: %d channels in use at most (limit %d), %d connects", name, r.MaxLines, p.Channels, r.Connects)
		}
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"events:\n  - at: -1m\n", "events[0].at"},
		{"events:\n  - at: 1h\n    answer_rate: 1.5\n", "events[0].answer_rate"},
		{"events:\n  - at: 1h\n    break: 3\n", "positive 'for'"},
		{"events:\n  - at: 1h\n    logout: -2\n", "must not be negative"},
		{"events: [", "scenario:"},
	} {
		if _, err := ParseScenario([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %q", tc.yaml, err, tc.want)
		}
	}
	sc, err := ParseScenario([]byte("events:\n  - at: 2h\n    aht: 200s\n  - at: 30m\n    login: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Events[0].At != 30*time.Minute || *sc.Events[1].AHT != 200*time.Second {
		t.Errorf("events not sorted by time or fields lost: %+v", sc.Events)
	}
}
