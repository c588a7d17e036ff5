// Package simcmd is the 'marcador sim' command: flags, the runs, and their
// output (a table, or one JSON object per run).
package simcmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/dialer/pacing/sim"
)

const synopsis = "sim [-pacer progressive|vicidial|predictive] [-agents N] [-answer-rate F] [-machine-rate F] [-ring-mean D] [-aht D] [-aht-cv F] [-wrap D] [-hours H] [-target-abandon F] [-seed N] [-scenario FILE.yaml] [-matrix] [-json]"

// seconds is a duration flag that also takes a plain number of seconds.
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}

func (s seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return fmt.Errorf("%q: must not be negative", v)
		}
		*s.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("%q: want seconds (150) or a duration (2m30s)", v)
	}
	*s.d = d
	return nil
}

// options are the command's flags: the simulation's parameters and how to
// run and print it.
type options struct {
	p                      sim.Params
	pacer, vmode, scenario string
	matrix, asJSON         bool
	workers                int
}

// Main runs 'marcador sim' with args (after the command name).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, o := flags(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := check(o.p); err != nil {
		return err
	}
	vm, err := vicidialMode(o.vmode)
	if err != nil {
		return err
	}
	if o.scenario != "" {
		sc, err := sim.LoadScenario(o.scenario)
		if err != nil {
			return err
		}
		o.p.Scenario = sc
	}
	start := time.Now()
	results, err := o.run(ctx, vm)
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if o.matrix {
		printMatrix(stdout, results, o.p)
		fmt.Fprintf(stdout, "\n%d runs of %.0f h in %s\n", len(results), o.p.Hours, time.Since(start).Round(time.Millisecond))
		return nil
	}
	printRun(stdout, results[0], o.p)
	return nil
}

func flags(stderr io.Writer) (*flag.FlagSet, *options) {
	fs := flag.NewFlagSet("marcador sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: marcador %s\n\nA discrete-event simulation of a campaign's shift driving the real pacers (dialer/pacing).\nDurations take seconds (150) or Go durations (2m30s).\n\n", synopsis)
		fs.PrintDefaults()
	}
	o := &options{p: sim.Defaults()}
	p := &o.p
	fs.StringVar(&o.pacer, "pacer", "predictive", "progressive, vicidial or predictive")
	fs.IntVar(&p.Agents, "agents", p.Agents, "agents logged in at the start")
	fs.Float64Var(&p.AnswerRate, "answer-rate", p.AnswerRate, "share of calls a person answers (live answers)")
	fs.Float64Var(&p.MachineRate, "machine-rate", p.MachineRate, "share of calls an answering machine answers (the rest ring out)")
	fs.Var(seconds{&p.RingMean}, "ring-mean", "mean ring time before a person answers (lognormal; machines answer after 1.5x)")
	fs.Float64Var(&p.RingCV, "ring-cv", p.RingCV, "coefficient of variation of the ring time")
	fs.Var(seconds{&p.RingTimeout}, "ring-timeout", "unanswered calls are cancelled after this")
	fs.Var(seconds{&p.AHT}, "aht", "mean talk time (lognormal)")
	fs.Float64Var(&p.AHTCV, "aht-cv", p.AHTCV, "coefficient of variation of the talk time")
	fs.Var(seconds{&p.Wrap}, "wrap", "wrap-up time after each call")
	fs.Float64Var(&p.WrapCV, "wrap-cv", p.WrapCV, "coefficient of variation of the wrap-up time (0: fixed)")
	fs.Float64Var(&p.Hours, "hours", p.Hours, "shift length in hours")
	fs.Float64Var(&p.Settings.TargetAbandon, "target-abandon", p.Settings.TargetAbandon, "abandon limit (abandoned / live answers)")
	fs.Float64Var(&p.Settings.MaxLinesPerAgent, "max-lines", 0, "max lines per agent (0: the pacer's default)")
	fs.Float64Var(&p.CPS, "cps", 0, "trunk calls per second (0: no limit)")
	fs.IntVar(&p.Channels, "channels", 0, "trunk channels (0: no limit)")
	fs.Var(seconds{&p.Patience}, "patience", "a live answer with no agent within this is abandoned")
	fs.Var(seconds{&p.Tick}, "tick", "pacer tick")
	fs.Uint64Var(&p.Seed, "seed", p.Seed, "random seed (same seed, same run; -matrix uses seed, seed+1, seed+2)")
	fs.StringVar(&o.vmode, "vicidial-mode", "ADAPT_HARD_LIMIT", "VICIdial method: ADAPT_HARD_LIMIT, ADAPT_AVERAGE or ADAPT_TAPERED")
	fs.StringVar(&o.scenario, "scenario", "", "YAML file of changes over the shift (answer rate, logins, logouts, breaks)")
	fs.BoolVar(&o.matrix, "matrix", false, "run the standard matrix (answer rate 0.05,0.10,0.20,0.35 x agents 5,10,25,50,100 x 3 seeds) for all three pacers")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON object per run")
	fs.IntVar(&o.workers, "workers", 0, "runs in parallel for -matrix (0: GOMAXPROCS)")
	return fs, o
}

func vicidialMode(s string) (pacing.VicidialMode, error) {
	var vm pacing.VicidialMode
	switch strings.ToUpper(s) {
	case "ADAPT_HARD_LIMIT":
	case "ADAPT_AVERAGE":
		vm = pacing.AdaptAverage
	case "ADAPT_TAPERED":
		vm = pacing.AdaptTapered
	default:
		return vm, fmt.Errorf("-vicidial-mode %q: want ADAPT_HARD_LIMIT, ADAPT_AVERAGE or ADAPT_TAPERED", s)
	}
	return vm, nil
}

// run runs the standard matrix or the one pacer.
func (o *options) run(ctx context.Context, vm pacing.VicidialMode) ([]sim.Result, error) {
	if o.matrix {
		m := sim.StandardMatrix(o.p)
		m.Vicidial = vm
		return m.Run(ctx, o.workers)
	}
	pc, err := sim.NewPacer(o.pacer, vm)
	if err != nil {
		return nil, fmt.Errorf("-pacer: %w", err)
	}
	return []sim.Result{sim.Run(o.p, pc)}, nil
}

func check(p sim.Params) error {
	switch {
	case p.Agents < 0:
		return fmt.Errorf("-agents %d: must not be negative", p.Agents)
	case p.AnswerRate < 0 || p.MachineRate < 0 || p.AnswerRate+p.MachineRate > 1:
		return fmt.Errorf("-answer-rate %v, -machine-rate %v: want shares that add up to at most 1", p.AnswerRate, p.MachineRate)
	case p.RingMean <= 0 || p.RingTimeout <= 0 || p.AHT <= 0 || p.Tick <= 0:
		return fmt.Errorf("-ring-mean, -ring-timeout, -aht and -tick must be positive")
	case p.Hours <= 0 || p.Hours > 24*31:
		return fmt.Errorf("-hours %v: want more than 0, at most a month", p.Hours)
	case p.Settings.TargetAbandon <= 0 || p.Settings.TargetAbandon >= 1:
		return fmt.Errorf("-target-abandon %v: want a share between 0 and 1", p.Settings.TargetAbandon)
	case p.AHTCV < 0 || p.RingCV < 0 || p.WrapCV < 0:
		return fmt.Errorf("coefficients of variation must not be negative")
	}
	return nil
}

func printRun(w io.Writer, r sim.Result, p sim.Params) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "pacer\t%s\n", r.Pacer)
	fmt.Fprintf(tw, "agents\t%d\n", r.Agents)
	fmt.Fprintf(tw, "answer rate\t%.2f\n", r.AnswerRate)
	fmt.Fprintf(tw, "seed\t%d\n", r.Seed)
	fmt.Fprintf(tw, "occupancy\t%.3f\t(talk+wrap) / logged time\n", r.Occupancy)
	fmt.Fprintf(tw, "talk min per agent-hour\t%.1f\n", r.TalkMinPerAgentHour)
	fmt.Fprintf(tw, "abandon rate\t%.2f%%\t%d of %d live answers (limit %.1f%%)\n", 100*r.AbandonRate, r.Abandoned, r.Live, 100*p.Settings.TargetAbandon)
	fmt.Fprintf(tw, "abandon rate, worst hour\t%.2f%%\n", 100*r.AbandonRateWorstHour)
	fmt.Fprintf(tw, "connects per agent-hour\t%.1f\n", r.ConnectsPerAgentHour)
	fmt.Fprintf(tw, "agent wait between calls\t%.1f s\n", r.AgentWaitS)
	fmt.Fprintf(tw, "dials\t%d\n", r.Dials)
	tw.Flush()
}

// printMatrix prints one line per cell: each pacer's occupancy, talk
// minutes per agent-hour and abandon rate (means over the seeds), and the
// predictive pacer's worst seed.
func printMatrix(w io.Writer, rs []sim.Result, p sim.Params) {
	type agg struct {
		occ, talk, ab, worstAb float64
		n                      int
	}
	type key struct {
		ar float64
		ag int
	}
	cells := map[key]map[string]*agg{}
	var order []key
	for _, r := range rs {
		k := key{r.AnswerRate, r.Agents}
		if cells[k] == nil {
			cells[k] = map[string]*agg{}
			order = append(order, k)
		}
		a := cells[k][r.Pacer]
		if a == nil {
			a = &agg{}
			cells[k][r.Pacer] = a
		}
		a.occ += r.Occupancy
		a.talk += r.TalkMinPerAgentHour
		a.ab += r.AbandonRate
		a.worstAb = math.Max(a.worstAb, r.AbandonRate)
		a.n++
	}
	fmt.Fprintf(w, "occupancy / talk min per agent-hour / abandon %% (means over seeds); %.0f h shifts, talk %v cv %.1f + wrap %v, limit %.1f%%\n\n",
		p.Hours, p.AHT, p.AHTCV, p.Wrap, 100*p.Settings.TargetAbandon)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "answer\tagents\tprogressive\tvicidial\tpredictive\tpredictive worst seed abandon\n")
	for _, k := range order {
		fmt.Fprintf(tw, "%.2f\t%d", k.ar, k.ag)
		for _, name := range sim.Pacers {
			a := cells[k][name]
			if a == nil {
				fmt.Fprintf(tw, "\t-")
				continue
			}
			n := float64(a.n)
			fmt.Fprintf(tw, "\t%.3f / %.1f / %.2f", a.occ/n, a.talk/n, 100*a.ab/n)
		}
		if a := cells[k]["predictive"]; a != nil {
			fmt.Fprintf(tw, "\t%.2f%%", 100*a.worstAb)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
