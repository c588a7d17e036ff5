//go:build !prod

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/marcador/marcador/cmd/marcador/internal/bench"
)

const benchUsage = `usage: marcador bench <analytics|sip|amd|bridge|kpi> [flags]

  analytics  attempts/s through the spooled writer vs a plain clickhouse-go batch insert
  sip        calls/s, concurrent two-way audio calls and RTP pacing against the carrier simulator
  amd        answering-machine detection over the labelled corpus vs the reference profile
  bridge     debtors bridged to registered agents' nailed-up legs: answer-to-bridge, relay latency and CPU vs a bare forwarder
  kpi        every KPI query on generated attempts, promises and payments: roll-ups vs the raw tables
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, benchUsage)
		if len(args) == 0 {
			return fmt.Errorf("which benchmark?")
		}
		return nil
	}
	switch args[0] {
	case "analytics":
		return benchAnalytics(ctx, args[1:], stdout, stderr)
	case "sip":
		return benchSIP(ctx, args[1:], stdout, stderr)
	case "amd":
		return benchAMD(ctx, args[1:], stdout, stderr)
	case "bridge":
		return benchBridge(ctx, args[1:], stdout, stderr)
	case "bridge-phones": // the agents' phones of bench bridge, its child process
		return bench.BridgePhones(ctx, os.Stdin, stdout, stderr)
	case "kpi":
		return benchKPI(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown benchmark %q (want analytics, sip, amd, bridge or kpi)", args[0])
}

func benchAnalytics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, parse := configFlags("bench analytics", "bench analytics [-config FILE] [-rows N] [-producers N] [-fsync POLICY] [-json]",
		"YAML config file: ClickHouse to use and spool settings", stderr)
	var o bench.AnalyticsOptions
	fs.IntVar(&o.Rows, "rows", 1_000_000, "synthetic attempts to write")
	fs.IntVar(&o.Producers, "producers", 4, "goroutines calling Write concurrently (the call path)")
	fs.StringVar(&o.Fsync, "fsync", "batch", "spool fsync policy for the run: always, batch or never")
	fs.BoolVar(&o.JSON, "json", false, "also print the result as JSON")
	var err error
	if o.Config, err = parse(args); err != nil {
		return err
	}
	return bench.Analytics(ctx, o, stdout, stderr)
}

func benchSIP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, parse := configFlags("bench sip", "bench sip [-config FILE] [-cps 200] [-duration 60s] [-hold 2s] [-concurrent 1000] [-bridged 0] [-measure 30s] [-old-engine] [-json]",
		"YAML config file (sip.rtp_ports is used for our side)", stderr)
	o := bench.SIPOptions{Version: version}
	fs.Float64Var(&o.CPS, "cps", 200, "calls per second to originate in the CPS phase")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "length of the CPS phase")
	fs.DurationVar(&o.Hold, "hold", 2*time.Second, "each CPS-phase call holds two-way audio this long, then we hang up")
	fs.IntVar(&o.Concurrent, "concurrent", 1000, "calls held at once in the concurrency phase (0 skips it)")
	fs.DurationVar(&o.Measure, "measure", 30*time.Second, "how long the concurrency phase measures once every call is up")
	fs.BoolVar(&o.Baseline, "baseline", true, "also run sipp's uac scenario at the same rate, when sipp is installed")
	fs.BoolVar(&o.JSON, "json", false, "also print the result as JSON")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the dialer side to this file")
	fs.IntVar(&o.SimCPU, "sim-cpu", bench.DefaultSimCPU(), "pin the simulator to this CPU with one Go thread (-1: share every CPU with the dialer)")
	fs.IntVar(&o.SimNice, "sim-nice", bench.DefaultSimNice, "niceness of the simulator's process (0: the dialer's priority)")
	fs.IntVar(&o.Bridged, "bridged", 0, "bridges held at once in the bridged phase, two simulator calls each (0 skips it)")
	fs.BoolVar(&o.OldEngine, "old-engine", true, "first run today's engine (a socket per call) as the same-run baseline, when sip.rtp_sockets > 0")
	var err error
	if o.Config, err = parse(args); err != nil {
		return err
	}
	return bench.SIP(ctx, o, stdout, stderr)
}

func benchBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench bridge", "bench bridge [-config FILE] [-agents 50] [-calls 200] [-cps 100] [-hold 2s-5s] [-abandon-after 0s] [-measure 10s] [-json]", stderr)
	cfgPath := fs.String("config", "", "YAML config file (redis; sip.rtp_ports is used for the node's legs)")
	o := bench.BridgeOptions{Version: version}
	fs.IntVar(&o.Agents, "agents", 50, "agents' phones registered and logged in (nailed-up legs)")
	fs.IntVar(&o.Calls, "calls", 200, "debtor calls placed to the carrier simulator")
	fs.Float64Var(&o.CPS, "cps", 100, "rate the calls are placed at")
	hold := fs.String("hold", "2s-5s", "each bridged call is held this long, uniform MIN-MAX, then hung up")
	fs.DurationVar(&o.Wrap, "wrap", 0, "wrap-up after each call before the agent is ready again")
	fs.DurationVar(&o.AbandonAfter, "abandon-after", 0, "hang up a call with no agent this long after answer and count it abandoned (0: calls wait for an agent)")
	fs.DurationVar(&o.Measure, "measure", 10*time.Second, "each phase of the same-socket baseline: phones only, bare forwarder, bridge (0 skips it)")
	fs.IntVar(&o.FarNice, "far-nice", 10, "niceness of the simulator's and the agents' phones' processes (0: same priority as the node)")
	fs.BoolVar(&o.AMD, "amd", true, "feed each bridged debtor's audio to an answering-machine detector until it is done, as a campaign with AMD does")
	fs.BoolVar(&o.JSON, "json", false, "also print the result as JSON")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the node's process during the calls to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := parseRange(*hold)
	if err != nil {
		return fmt.Errorf("-hold: %w", err)
	}
	o.HoldMin, o.HoldMax = r.Min, r.Max
	if o.Config, err = loadConfig(*cfgPath); err != nil {
		return err
	}
	return bench.Bridge(ctx, o, stdout, stderr)
}

func benchAMD(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench amd", "bench amd [-corpus DIR] [-set test|tune] [-n 500] [-seed N] [-regen] [-params FILE.yaml] [-misses] [-json]\n\n"+
		"Runs the human-first detector (or -params) and the reference profile over the labelled corpus,\n"+
		"generating it first (espeak-ng and sox) when DIR has no manifest.json.", stderr)
	var o bench.AMDOptions
	fs.StringVar(&o.Set, "set", "test", "corpus set: test (report on it) or tune (adjust on it)")
	fs.StringVar(&o.Dir, "corpus", "", "corpus directory (default .corpus/amd/<set>)")
	fs.IntVar(&o.N, "n", 500, "recordings, when generating")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed, when generating (default 1 for tune, 4 for test)")
	fs.BoolVar(&o.Regen, "regen", false, "generate the corpus even if DIR has one")
	fs.StringVar(&o.ParamsFile, "params", "", "YAML AMD parameters to measure instead of the human-first profile")
	fs.BoolVar(&o.Misses, "misses", false, "list every file given a wrong result")
	fs.BoolVar(&o.JSON, "json", false, "also print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return bench.AMD(ctx, o, stdout, stderr)
}

func benchKPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench kpi", "bench kpi [-config FILE] [-attempts 10000000] [-days 90] [-campaigns 20] [-db NAME] [-runs 9] [-raw-runs 3] [-keep] [-reuse] [-json]\n\n"+
		"Generates attempts, promises, payments, agents' time and replies in <clickhouse.database>_bench_kpi (or -db), builds the\n"+
		"roll-ups and times every KPI family's query on them and, in the same run, on the raw tables.", stderr)
	cfgPath := fs.String("config", "", "YAML config file: the ClickHouse to use")
	var o bench.KPIOptions
	fs.IntVar(&o.Attempts, "attempts", 10_000_000, "attempts to generate")
	fs.IntVar(&o.Days, "days", 90, "days the attempts are spread over, ending yesterday")
	fs.IntVar(&o.Campaigns, "campaigns", 20, "campaigns (the first half with agents)")
	fs.StringVar(&o.Database, "db", "", "scratch database (default <clickhouse.database>_bench_kpi); dropped at the end unless -keep")
	fs.IntVar(&o.Runs, "runs", 9, "timed runs of each roll-up query")
	fs.IntVar(&o.RawRuns, "raw-runs", 3, "timed runs of each raw-table query (the baseline; 0 skips it)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the scratch database")
	fs.BoolVar(&o.Reuse, "reuse", false, "reuse the scratch database a -keep run left")
	fs.BoolVar(&o.JSON, "json", false, "also print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Attempts <= 0 || o.Days <= 0 || o.Campaigns < 2 || o.Runs <= 0 || o.RawRuns < 0 {
		return fmt.Errorf("bench kpi: -attempts, -days, -runs > 0, -campaigns >= 2, -raw-runs >= 0")
	}
	var err error
	if o.Config, err = loadConfig(*cfgPath); err != nil {
		return err
	}
	return bench.KPI(ctx, o, stdout, stderr)
}
