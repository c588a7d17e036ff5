package sim

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/marcador/marcador/dialer/pacing"
)

// Pacers are the pacer names a run may use.
var Pacers = []string{"progressive", "vicidial", "predictive"}

// NewPacer returns a fresh pacer by name for a run; VICIdial runs
// ADAPT_HARD_LIMIT (vm sets another method).
func NewPacer(name string, vm pacing.VicidialMode) (pacing.Pacer, error) {
	switch name {
	case "progressive":
		return pacing.NewProgressive(), nil
	case "vicidial":
		return pacing.NewVicidial(pacing.VicidialConfig{Mode: vm}), nil
	case "predictive":
		return pacing.NewPredictive(pacing.PredictiveConfig{}), nil
	}
	return nil, fmt.Errorf("pacer %q: want progressive, vicidial or predictive", name)
}

// Matrix is a set of runs: every answer rate × team size × seed × pacer,
// the rest as in Base.
type Matrix struct {
	AnswerRates []float64
	Agents      []int
	Seeds       []uint64
	Pacers      []string
	Vicidial    pacing.VicidialMode
	Base        Params
}

// StandardMatrix is the matrix the goals are stated on: live-answer rate
// 0.05, 0.10, 0.20, 0.35 × 5, 10, 25, 50, 100 agents × 3 seeds × the three
// pacers.
func StandardMatrix(base Params) Matrix {
	return Matrix{
		AnswerRates: []float64{0.05, 0.10, 0.20, 0.35},
		Agents:      []int{5, 10, 25, 50, 100},
		Seeds:       []uint64{base.Seed, base.Seed + 1, base.Seed + 2},
		Pacers:      Pacers,
		Base:        base,
	}
}

// Run runs every cell of the matrix on workers goroutines (GOMAXPROCS when
// 0) and returns the results in matrix order (answer rate, agents, seed,
// pacer), whatever order they finished in.
func (m Matrix) Run(ctx context.Context, workers int) ([]Result, error) {
	type job struct {
		i int
		p Params
		n string
	}
	var jobs []job
	for _, ar := range m.AnswerRates {
		for _, ag := range m.Agents {
			for _, seed := range m.Seeds {
				for _, name := range m.Pacers {
					p := m.Base
					p.AnswerRate, p.Agents, p.Seed = ar, ag, seed
					jobs = append(jobs, job{len(jobs), p, name})
				}
			}
		}
	}
	// The largest teams first, so that no long run starts last.
	order := make(chan job, len(jobs))
	for _, ag := range sortedDesc(m.Agents) {
		for _, j := range jobs {
			if j.p.Agents == ag {
				order <- j
			}
		}
	}
	close(order)
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([]Result, len(jobs))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range order {
				if ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				pc, err := NewPacer(j.n, m.Vicidial)
				if err != nil {
					errs[w] = err
					return
				}
				out[j.i] = Run(j.p, pc)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sortedDesc(a []int) []int {
	b := append([]int(nil), a...)
	for i := range b {
		for j := i + 1; j < len(b); j++ {
			if b[j] > b[i] {
				b[i], b[j] = b[j], b[i]
			}
		}
	}
	return b
}
