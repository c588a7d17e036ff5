package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer/agent"
)

// BridgeOptions of `bench bridge`.
type BridgeOptions struct {
	Config config.Config // redis and sip.rtp_ports are used
	Agents int           // agents' phones registered and logged in
	Calls  int           // debtor calls placed
	CPS    float64       // rate the calls are placed at
	// HoldMin and HoldMax: each bridged call is held for a uniform sample
	// of this range, then hung up.
	HoldMin, HoldMax time.Duration
	Wrap             time.Duration // wrap-up after each call before the agent is ready again
	// AbandonAfter: a call with no agent this long after its answer is
	// hung up and counted as abandoned; 0 makes calls wait for an agent.
	AbandonAfter time.Duration
	// Measure is the length of each phase of the same-socket baseline
	// (phones only, bare forwarder, bridge); 0 skips it.
	Measure time.Duration
	// AMD feeds each bridged debtor's audio to an answering-machine
	// detector on the relay's path until it is done, as a campaign with
	// AMD does.
	AMD        bool
	FarNice    int    // niceness of the simulator's and the phones' processes
	JSON       bool   // also print the result as JSON
	CPUProfile string // CPU profile of the node's process during the calls
	Version    string
}

// Bridge runs `marcador bench bridge`: a node (endpoint, registrar, agent
// pool and station) with Agents agents' phones registered and logged in
// (their nailed-up legs up), and Calls debtor calls to the carrier
// simulator; each answered debtor gets the longest-idle ready agent
// (Pool.Reserve) and is bridged to its leg (media.NewBridge), held, hung
// up, and the agent wraps up and is ready again. Then the same-socket
// baseline: a bare UDP forwarder against the bridge.
func Bridge(ctx context.Context, o BridgeOptions, stdout, stderr io.Writer) error {
	if o.Agents < 1 || o.Calls < 1 || o.CPS <= 0 || o.HoldMin <= 0 || o.HoldMax < o.HoldMin {
		return errors.New("bench bridge: want -agents and -calls at least 1, -cps above 0, 0 < hold min <= max")
	}
	// The children's stderr is copied in by goroutines of os/exec when it
	// is not a file: one lock for every writer.
	stderr = &lockedWriter{w: stderr}
	res := bridgeBench{Machine: machineLoad{CPUs: runtime.NumCPU(), LoadStart: loadAvg(), FarNice: o.FarNice}}
	run := randHex(4)
	campaign, node := "bench-bridge-"+run, "bench-"+run
	res.Campaign, res.Node = campaign, node
	cfg := o.Config
	cfg.Log.Level = "error"
	cfg.NodeID = node
	log := app.NewLogger(cfg.Log, stderr)

	// Redis for the definitions and the clean-up, on its own connection:
	// the node's closes with the node, before the clean-up.
	keep, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Redis, Logger: log})
	if err != nil {
		return err
	}
	defer keep.Close()
	pool := agent.New(agent.Options{Client: keep.Redis, Realm: cfg.Registrar.Realm, Logger: log})
	ids := make([]string, o.Agents)
	defer cleanUpBridge(keep, pool, campaign, ids, stderr)
	creds, err := defineAgents(ctx, pool, run, campaign, ids)
	if err != nil {
		return err
	}

	sim, err := startSimProcess(ctx, -1, o.FarNice, o.Config.SIP.RTPSockets, stderr)
	if err != nil {
		return err
	}
	defer sim.stop()
	simAddr, simCPU := sim.addr, sim.cpu
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Agents, Logger: log, Version: o.Version, SIPListen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	defer a.Close()
	a.Start(ctx)
	fmt.Fprintf(stderr, "bench bridge: node %s, campaign %s; %d phones register (simulator and phones at nice %d)...\n",
		node, campaign, o.Agents, o.FarNice)
	stopPhones, phonesCPU, err := startPhonesProcess(ctx, phonesSpec{Registrar: a.Endpoint.Addr(), RTPPorts: phonesRTP, Phones: creds},
		o.FarNice, stderr)
	if err != nil {
		return err
	}
	defer stopPhones()
	// Agents out first (their legs hung up while the phones still answer),
	// then the phones unregister while the node still answers.
	defer logOutAll(a.Station, ids)

	res.Agents, err = logInAll(ctx, a.Station, ids, campaign)
	if err != nil {
		return err
	}
	idleRate := idleCPU(ctx)
	res.Agents.IdleCPUPercent = 100 * idleRate

	cr := &callRun{o: o, ep: a.Endpoint, st: a.Station, pool: a.Agents, campaign: campaign, node: node, run: run, log: log,
		d2a: relayLatency(), a2d: relayLatency(), failed: map[string]int{}}
	if res.Calls, err = cr.profiled(ctx, simAddr, simCPU, phonesCPU, idleRate, stderr); err != nil {
		return err
	}

	if res.Baseline, err = bridgeBaseline(ctx, o, cfg.RTPPorts(), log, res.Calls, stderr); err != nil {
		return err
	}
	res.Machine.LoadEnd = loadAvg()
	printBridgeBench(stdout, o, res)
	if o.JSON {
		return printJSON(stdout, res)
	}
	return nil
}

// lockedWriter serialises writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// defineAgents puts the run's agents in the pool (bb-<run>-a001...) with
// random passwords, each id in ids once it is defined (the clean-up
// deletes those).
func defineAgents(ctx context.Context, pool *agent.Pool, run, campaign string, ids []string) ([]phoneCreds, error) {
	creds := make([]phoneCreds, len(ids))
	for i := range ids {
		id := fmt.Sprintf("bb-%s-a%03d", run, i+1)
		creds[i] = phoneCreds{User: id, Password: randHex(12)}
		if _, _, err := pool.Put(ctx, agent.Definition{ID: id, Name: "bench agent", SIPUser: id, Password: creds[i].Password,
			Campaigns: []string{campaign}}); err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return creds, nil
}

// logInAll logs every agent in (the node calls its phone, which answers by
// itself) and times each login.
func logInAll(ctx context.Context, st *agent.Station, ids []string, campaign string) (agentsPhase, error) {
	ph := agentsPhase{Agents: len(ids)}
	lat := make([]time.Duration, len(ids))
	err := parallel(ctx, len(ids), 10, func(i int) error {
		t := time.Now()
		s, err := st.Login(ctx, ids[i], campaign)
		if err != nil {
			return err
		}
		if s.State != agent.Ready {
			return fmt.Errorf("agent %s is %s after login", ids[i], s.State)
		}
		lat[i] = time.Since(t)
		return nil
	})
	if err != nil {
		return ph, err
	}
	sp := spreadOf(lat)
	ph.LoginP50MS, ph.LoginP99MS = sp.P50, sp.P99
	return ph, nil
}

func logOutAll(st *agent.Station, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	parallel(ctx, len(ids), 10, func(i int) error {
		if ids[i] != "" {
			st.Logout(ctx, ids[i])
		}
		return nil
	})
}

// cleanUpBridge removes what the run put in Redis: its campaign's keys
// (states, events, counters: the campaign is its own), the campaign from
// the lease loops' set, and its agents.
func cleanUpBridge(a *app.App, pool *agent.Pool, campaign string, ids []string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	if err := pool.Forget(ctx, campaign); err != nil {
		errs = append(errs, err)
	}
	iter := a.Redis.Scan(ctx, 0, "marcador:{"+campaign+"}:*", 100).Iterator()
	for iter.Next(ctx) {
		if err := a.Redis.Del(ctx, iter.Val()).Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := iter.Err(); err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if err := pool.Delete(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "bench bridge: clean-up incomplete: %v\n", err)
	}
}
