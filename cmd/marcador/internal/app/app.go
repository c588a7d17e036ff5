// Package app builds the parts of a Marcador node from its config, once:
// Redis and the queue store, ClickHouse and the attempt writer, the data
// epoch guard, the compliance gate, the agents' registrar, the SIP
// endpoint, the agents' leg station, the promise ledger, the SMS sender,
// the campaign runner and the HTTP API. Start runs them in that order and
// Close stops them in reverse: the HTTP servers, promise follow-up, the
// runner (its calls finish and are recorded), the agents' legs (hung up,
// their agents logged out), the sender, and last the writer, whose final
// flush takes every row the others wrote. Each command asks for the parts
// it needs.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/epoch"
	"github.com/marcador/marcador/queue/promise"
	"github.com/marcador/marcador/sms"
)

// Parts says what an App builds. A part brings the parts it needs.
type Parts uint

const (
	// Redis is the client (New pings it) and the queue store on it.
	Redis Parts = 1 << iota
	// ClickHouse is the connection pool; Options.Schema says whether it
	// must answer at New.
	ClickHouse
	// Writer is the attempt writer with its spool; it brings ClickHouse.
	Writer
	// Guard holds dialing and texting while Redis has lost its data
	// (queue/epoch); it brings Redis.
	Guard
	// Gate is the compliance gate; it brings Redis and Writer, so every
	// listing and removal gets its dnc_events row.
	Gate
	// ReadGate is the compliance gate for questions only (compliance
	// explain): it has no writer, so the command must not list or unlist a
	// number with it, and needs no spool of its own. It brings Redis; Gate,
	// when asked for too, is built instead.
	ReadGate
	// Endpoint is the SIP endpoint, on Options.SIPListen.
	Endpoint
	// Promises is the promise ledger (queue/promise): promises the runner
	// captures, payments the API records, and their follow-up; it brings
	// Redis and Writer.
	Promises
	// Sender sends texts; it is built only when twilio.account_sid is set
	// (App.Sender stays nil otherwise). It brings Gate.
	Sender
	// Runner is the campaign runner; it brings Gate, Endpoint and Promises,
	// and uses the Sender and the Guard when they are built.
	Runner
	// CallbackLine lets the trunks' inbound_from call the endpoint and hands
	// their calls to the runner; it brings Runner.
	CallbackLine
	// HTTP is every route (the API, webhooks, metrics, health) on
	// Options.Listener or http.listen, and http.metrics_listen; it brings
	// Runner.
	HTTP
	// Agents are the agent pool, the SIP registrar the endpoint routes
	// REGISTER to, and the station that holds the agents' nailed-up legs
	// (agents.go); it brings Redis and Endpoint. With HTTP it serves
	// /api/v1/agents.
	Agents
)

// Node is every part: a node as `marcador serve` runs it.
const Node = Redis | ClickHouse | Writer | Guard | Gate | Endpoint | Promises | Sender | Runner | CallbackLine | HTTP | Agents

// closure adds to p every part its parts bring.
func (p Parts) closure() Parts {
	// A part comes before the parts it brings, so one pass brings them all.
	needs := []struct{ part, brings Parts }{
		{HTTP, Runner}, {CallbackLine, Runner}, {Runner, Gate | Endpoint | Promises}, {Agents, Redis | Endpoint}, {Sender, Gate},
		{Promises, Redis | Writer},
		{Gate, Redis | Writer}, {ReadGate, Redis}, {Guard, Redis}, {Writer, ClickHouse},
	}
	for _, n := range needs {
		if p&n.part != 0 {
			p |= n.brings
		}
	}
	return p
}

// Schema says what New does with ClickHouse.
type Schema int

const (
	// SchemaLater connects without asking ClickHouse anything: the writer
	// spools until it answers (call, bench).
	SchemaLater Schema = iota
	// SchemaTry migrates the schema when ClickHouse answers within 10 s,
	// else warns and goes on: the writer spools until it answers (serve,
	// which must start while ClickHouse is down).
	SchemaTry
	// SchemaRequired fails unless ClickHouse answers, then migrates the
	// schema (the demo and the rebuilds, which read it).
	SchemaRequired
)

// Options say what to build and how. Only Config and Parts are needed;
// every other field has the default its comment gives.
type Options struct {
	Config config.Config
	Parts  Parts
	// Schema: default SchemaLater.
	Schema Schema
	// Logger: default slog.Default().
	Logger *slog.Logger
	// Version goes in the SIP User-Agent, marcador/<Version>; default "dev".
	Version string
	// SpoolName keeps the writer's spool in <spool.dir>/<SpoolName>; default
	// spool.dir itself. A command run beside a `serve` on the same config
	// names its own: one process holds a spool.
	SpoolName string
	// SIPListen is the endpoint's address; default sip.listen.
	SIPListen string
	// Listener serves the API; default a listener on http.listen.
	Listener net.Listener
	// ComplianceClock is the gate's clock; default time.Now. (The demo's
	// runs on business hours whatever the hour.)
	ComplianceClock func() time.Time
	// Resume makes Start take up this node's work: resume the campaigns
	// Redis says are running and follow up promises every minute (serve).
	// A command that borrows the runner for one call, or the demo, leaves
	// it false.
	Resume bool
}

// App is the parts built; a part not asked for is nil.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	Redis    redis.UniversalClient
	Store    *queue.Store
	Texts    *sms.Store // the texting state: outbox, send records, rate slots, conversations
	Conn     driver.Conn
	Writer   *writer.Writer
	Guard    *epoch.Guard
	Gate     *compliance.Gate
	Endpoint *dialer.Endpoint
	Promises *promise.Ledger
	Sender   *sms.Sender
	Runner   *campaign.Runner
	API      *httpapi.API
	// Agents, Registrar and Station are the Agents part.
	Agents    *agent.Pool
	Registrar *registrar.Registrar
	Station   *agent.Station
	Desk      *agent.Desk // agents' screen events
	// KPI reads the KPIs (with ClickHouse); serve refreshes its roll-ups
	// every kpi.refresh.
	KPI *kpi.KPI

	opt      Options
	parts    Parts // what was asked for, with what it brings
	verifier sms.Verifier
	// inbound is the runner the callback line hands calls to, once built.
	inbound  atomic.Pointer[campaign.Runner]
	http     []served
	httpDone chan error

	writerLoop, guardLoop, senderLoop, followLoop *loop
	registrarLoop, stationLoop, deskLoop          *loop
	closeOnce                                     sync.Once
	closeErr                                      error

	// kpiLoop refreshes the KPI roll-ups (serve); kpiMetrics exports them.
	kpiLoop    *loop
	kpiMetrics *kpi.Collector
}

// UnreachableError is a service New could not reach.
type UnreachableError struct {
	Service string // redis or clickhouse
	Err     error
}

func (e *UnreachableError) Error() string { return e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// New builds the parts opt asks for, in order. On error what was built is
// closed again.
func New(ctx context.Context, opt Options) (_ *App, err error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Version == "" {
		opt.Version = "dev"
	}
	if opt.SIPListen == "" {
		opt.SIPListen = opt.Config.SIP.Listen
	}
	if opt.ComplianceClock == nil {
		opt.ComplianceClock = time.Now
	}
	a := &App{Config: opt.Config, Log: opt.Logger, Metrics: prometheus.NewRegistry(), opt: opt, httpDone: make(chan error, 1)}
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	a.parts = opt.Parts.closure()
	steps := []struct {
		part  Parts
		build func(context.Context) error
	}{
		{Redis, a.buildRedis}, {ClickHouse, a.buildClickHouse}, {Writer, a.buildWriter}, {Guard, a.buildGuard},
		{Gate | ReadGate, a.buildGate}, {Agents, a.buildRegistrar}, {Endpoint, a.buildEndpoint}, {Agents, a.buildStation},
		{Promises, a.buildPromises}, {Sender, a.buildSender}, {Runner, a.buildRunner},
		{HTTP, func(context.Context) error { return a.buildHTTP() }},
	}
	for _, s := range steps {
		if a.parts&s.part == 0 {
			continue
		}
		if err := s.build(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *App) buildRedis(ctx context.Context) error {
	a.Redis = newRedis(a.Config.Redis)
	if err := pingRedis(ctx, a.Redis, a.Config.Redis); err != nil {
		return &UnreachableError{Service: "redis", Err: err} // queues live in Redis: nothing useful runs without it
	}
	a.Store = newStore(a.Redis, a.Config, a.Log)
	a.Texts = sms.NewStore(sms.StoreOptions{Client: a.Redis})
	a.Metrics.MustRegister(queue.NewCollector(a.Store, time.Now))
	return nil
}

func (a *App) buildClickHouse(ctx context.Context) error {
	c := a.Config.ClickHouse
	var err error
	if a.opt.Schema == SchemaRequired {
		if a.Conn, err = analytics.Open(ctx, chOptions(c)); err != nil {
			return &UnreachableError{Service: "clickhouse", Err: err}
		}
		if _, err = analytics.Migrate(ctx, a.Conn, c.Database); err != nil {
			return err
		}
		return a.buildKPI()
	}
	if a.Conn, err = analytics.Dial(chOptions(c)); err != nil {
		return err
	}
	if err := a.buildKPI(); err != nil {
		return err
	}
	if a.opt.Schema == SchemaTry {
		mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := analytics.Migrate(mctx, a.Conn, c.Database); err != nil {
			a.Log.Warn("clickhouse schema not checked; attempts are spooled until ClickHouse answers", "err", err)
		}
	}
	return nil
}

func (a *App) buildWriter(context.Context) error {
	dir := a.Config.Spool.Dir
	if a.opt.SpoolName != "" {
		dir = filepath.Join(dir, a.opt.SpoolName)
	}
	var err error
	a.Writer, err = newWriter(a.Conn, a.Config, dir, a.Log, a.Metrics)
	return err
}

// buildGuard: Redis restarted without its data must not let anyone be
// called; the guard holds the runner and the sender until an operator
// confirms (marcador redis).
func (a *App) buildGuard(ctx context.Context) error {
	a.Guard = epoch.New(epoch.Options{Client: a.Redis, File: epoch.FileBeside(a.Config.Spool.Dir), Node: a.Config.NodeID, Logger: a.Log})
	if err := a.Guard.Init(ctx); err != nil {
		return err
	}
	a.Metrics.MustRegister(a.Guard.Collector())
	return nil
}

func (a *App) buildGate(context.Context) error {
	var w compliance.Writer // nil for a ReadGate
	if a.Writer != nil {
		w = a.Writer
	}
	var err error
	a.Gate, err = newGate(a.Config, a.Redis, w, a.Log, a.opt.ComplianceClock)
	return err
}

func (a *App) buildEndpoint(ctx context.Context) error {
	var onInvite func(*dialer.Inbound)
	var policy dialer.InboundPolicy // nobody may call
	if a.parts&CallbackLine != 0 {
		var err error
		if policy, err = a.Config.InboundPolicy(ctx, nil); err != nil {
			return err
		}
		if len(policy.Sources) == 0 {
			a.Log.Warn("no trunk lists inbound_from: the callback line refuses every call (403); list the carrier's addresses under trunks[].inbound_from")
		}
		// A call that arrives before the runner exists is turned away.
		onInvite = func(in *dialer.Inbound) {
			if r := a.inbound.Load(); r != nil {
				r.Inbound(in)
				return
			}
			in.Reject(503, "Service Unavailable")
		}
	}
	var err error
	var onRegister func(*sip.Request, sip.ServerTransaction)
	if a.Registrar != nil {
		onRegister = a.Registrar.Handle
	}
	a.Endpoint, err = newEndpoint(a.Config, a.opt.SIPListen, "marcador/"+a.opt.Version, a.Log, onInvite, policy, onRegister)
	return err
}

func (a *App) buildPromises(context.Context) error {
	a.Promises = promise.New(promise.Options{Redis: a.Redis, Store: a.Store, Writer: a.Writer, Node: a.Config.NodeID,
		Ready: a.ready(), Logger: a.Log})
	return nil
}

func (a *App) buildSender(context.Context) error {
	var err error
	a.Sender, a.verifier, err = newSender(a.Config, a.Store, a.Texts, a.Gate, a.Writer, a.ready(), a.Log, time.Now)
	return err
}

func (a *App) buildRunner(context.Context) error {
	var err error
	a.Runner, err = newRunner(a.Config, a.Store, a.Gate, a.Endpoint, a.Writer, a.Promises, queueSMS(a.Sender, time.Now), a.ready(), a.Log,
		a.runnerAgents())
	if err != nil {
		return err
	}
	if a.Station != nil {
		a.Metrics.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "marcador_recording_errors_total",
			Help: "Agent calls whose recording could not be written (disk full, unwritable); the calls went on."},
			func() float64 { return float64(a.Runner.RecordingErrors()) }))
	}
	a.Metrics.MustRegister(pacingCollector{a.Runner})
	a.inbound.Store(a.Runner)
	return nil
}

// ready is what holds the runner and the sender: the guard, when built.
func (a *App) ready() func() error {
	if a.Guard == nil {
		return nil
	}
	return a.Guard.Err
}

// loop is a background task Close stops.
type loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startLoop(ctx context.Context, run func(context.Context)) *loop {
	ctx, cancel := context.WithCancel(ctx)
	l := &loop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		run(ctx)
	}()
	return l
}

// stop ends the task and waits for it (a nil loop was never started).
func (l *loop) stop() {
	if l != nil {
		l.cancel()
		<-l.done
	}
}

// Start runs what was built: the writer, the guard, the sender, the
// campaigns and promise follow-up (Options.Resume), then the HTTP servers.
// The tasks run until Close, not until ctx ends: Close stops them in order.
func (a *App) Start(ctx context.Context) {
	base := context.WithoutCancel(ctx)
	if a.Writer != nil {
		a.writerLoop = startLoop(base, func(ctx context.Context) { a.logStop("writer", a.Writer.Run(ctx)) })
	}
	if a.Guard != nil {
		a.guardLoop = startLoop(base, a.Guard.Run)
	}
	if a.Sender != nil {
		a.senderLoop = startLoop(base, func(ctx context.Context) { a.logStop("sms sender", a.Sender.Run(ctx)) })
	}
	if a.Runner != nil && a.opt.Resume {
		if err := a.Runner.Resume(ctx); err != nil {
			a.Log.Error("campaigns not resumed", "err", err)
		}
		// Follow-up reminds through the runner, which knows texts and links.
		a.followLoop = startLoop(base, func(ctx context.Context) { a.Promises.Run(ctx, time.Minute, a.Runner) })
	}
	a.startAgents(base)
	if a.kpiMetrics != nil {
		a.kpiLoop = startLoop(base, func(ctx context.Context) {
			refreshKPIs(ctx, a.KPI, a.kpiMetrics, a.Config.KPI.Refresh, a.Log)
		})
	}
	a.startHTTP()
}

func (a *App) logStop(what string, err error) {
	if err != nil {
		a.Log.Error(what+" stopped", "err", err)
	}
}

// Wait returns nil when ctx ends, or the API server's error if it stops by
// itself first.
func (a *App) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-a.httpDone:
		return err
	}
}

// Close stops everything in reverse order of Start and releases what New
// built; calling it again does nothing.
func (a *App) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *App) close() error {
	a.stopHTTP()
	a.followLoop.stop()
	a.kpiLoop.stop()
	if a.Runner != nil {
		a.Runner.Close() // calls in progress finish and are recorded
	}
	// The agents' legs are hung up, their agents logged out.
	errs := []error{a.closeAgents()}
	a.senderLoop.stop() // texts being sent finish; queued ones wait in Redis
	a.guardLoop.stop()
	a.writerLoop.stop() // Run makes a last bounded flush; the rest stays spooled
	if a.Writer != nil {
		errs = append(errs, a.Writer.Close())
	}
	if a.Endpoint != nil {
		errs = append(errs, a.Endpoint.Close())
	}
	if a.Conn != nil {
		errs = append(errs, a.Conn.Close())
	}
	if a.Redis != nil {
		errs = append(errs, a.Redis.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("app: close: %w", err)
	}
	return nil
}
