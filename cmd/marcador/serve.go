package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/epoch"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "serve [-config FILE]", stderr)
	cfgPath := fs.String("config", "", "YAML config file (default: built-in defaults plus MARCADOR_* environment)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr).With("node", cfg.NodeID)

	rdb := newRedis(cfg.Redis)
	defer rdb.Close()
	if err := pingRedis(ctx, rdb, cfg.Redis); err != nil {
		return err // queues live in Redis: nothing useful runs without it
	}
	// ClickHouse may be down: the writer spools until it returns.
	conn, err := analytics.Dial(chOptions(cfg.ClickHouse))
	if err != nil {
		return err
	}
	defer conn.Close()
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if _, err := analytics.Migrate(mctx, conn, cfg.ClickHouse.Database); err != nil {
		log.Warn("clickhouse schema not checked; attempts are spooled until ClickHouse answers", "err", err)
	}
	cancel()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := newWriter(conn, cfg, log, reg)
	if err != nil {
		return err
	}
	defer w.Close()
	store := newStore(rdb, cfg, log)
	reg.MustRegister(queue.NewCollector(store, time.Now))
	// Redis restarted without its data must not let anyone be called: the
	// guard holds every runner until an operator confirms (marcador redis).
	guard := epoch.New(epoch.Options{Client: rdb, File: epoch.FileBeside(cfg.Spool.Dir), Node: cfg.NodeID, Logger: log})
	if err := guard.Init(ctx); err != nil {
		return err
	}
	reg.MustRegister(guard.Collector())
	gate, err := newGate(cfg, rdb, w, log, time.Now)
	if err != nil {
		return err
	}
	// Inbound calls go to the runner once it exists; until then they are
	// turned away. Only the trunks' inbound_from may call.
	policy, err := cfg.InboundPolicy(ctx, nil)
	if err != nil {
		return err
	}
	if len(policy.Sources) == 0 {
		log.Warn("no trunk lists inbound_from: the callback line refuses every call (403); list the carrier's addresses under trunks[].inbound_from")
	}
	var inbound atomic.Pointer[campaign.Runner]
	ep, err := newEndpoint(cfg, cfg.SIP.Listen, log, func(in *dialer.Inbound) {
		if r := inbound.Load(); r != nil {
			r.Inbound(in)
			return
		}
		in.Reject(503, "Service Unavailable")
	}, policy)
	if err != nil {
		return err
	}
	defer ep.Close()
	sender, verifier, err := newSender(cfg, store, gate, w, guard.Err, log, time.Now)
	if err != nil {
		return err
	}
	runner, err := newRunner(cfg, store, gate, ep, w, queueSMS(sender, time.Now), guard.Err, log)
	if err != nil {
		return err
	}
	defer runner.Close()
	inbound.Store(runner)

	tokens := cfg.HTTP.APITokens
	if len(tokens) == 0 {
		b := make([]byte, 24)
		rand.Read(b)
		tokens = []string{hex.EncodeToString(b)}
		log.Warn("http.api_tokens is empty: generated a token for this run only; set http.api_tokens to keep one",
			"token", tokens[0])
	}
	opts := httpapi.Options{
		Store: store, Gate: gate, Runner: runner, Payments: runner, Tokens: tokens, Gatherer: reg, Now: time.Now, Logger: log,
		Refs: runner.Refs(), MetricsToken: cfg.HTTP.MetricsToken, MetricsSeparate: cfg.HTTP.MetricsListen != "",
		Checks: map[string]func(context.Context) error{
			"redis":      guard.Check, // one GET: reachable, and still holding this node's data
			"clickhouse": func(ctx context.Context) error { return conn.Ping(ctx) },
			"writer":     w.Check, // behind by spool.max_lag, or spool full
		},
	}
	if sender != nil {
		opts.Messages = sender
		opts.TwilioStatus, opts.TwilioInbound = sender.StatusHandler(verifier), sender.InboundHandler(verifier)
	}
	api := httpapi.New(opts)
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	srv := newHTTPServer(api, cfg.HTTP, log)
	var opsSrv *http.Server
	if cfg.HTTP.MetricsListen != "" {
		oln, err := net.Listen("tcp", cfg.HTTP.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("http.metrics_listen %s: %w", cfg.HTTP.MetricsListen, err)
		}
		opsSrv = newHTTPServer(api.Ops(), cfg.HTTP, log)
		go func() {
			if err := opsSrv.Serve(oln); !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
		log.Info("metrics and health served apart", "metrics_listen", oln.Addr().String())
	}

	wctx, stopWriter := context.WithCancel(context.Background())
	writerDone := make(chan error, 1)
	go func() { writerDone <- w.Run(wctx) }()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	if err := runner.Resume(ctx); err != nil {
		log.Error("campaigns not resumed", "err", err)
	}
	go followUpPromises(wctx, runner, log)
	go guard.Run(wctx)
	senderCtx, stopSender := context.WithCancel(context.Background())
	senderDone := make(chan error, 1)
	if sender != nil {
		go func() { senderDone <- sender.Run(senderCtx) }()
	} else {
		close(senderDone)
	}
	log.Info("marcador serving", "http", ln.Addr().String(), "sip", ep.Addr(), "redis", redisAddr(cfg.Redis),
		"clickhouse", cfg.ClickHouse.Addr, "spool", cfg.Spool.Dir, "version", version)

	select {
	case <-ctx.Done():
	case err := <-httpDone:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}
	log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	if opsSrv != nil {
		_ = opsSrv.Shutdown(sctx)
	}
	runner.Close() // calls in progress finish and are recorded
	stopSender()   // texts being sent finish; queued ones wait in Redis
	<-senderDone
	stopWriter() // Run makes a last bounded flush; the rest stays spooled
	<-writerDone
	log.Info("stopped", "rows_left_in_spool", w.Queued())
	return nil
}

// newHTTPServer bounds what any client, authenticated or not, may take:
// http.read_header_timeout for the request line and headers,
// http.read_timeout for the whole request, http.write_timeout for the
// handler and its answer, http.idle_timeout between keep-alive requests.
// (A server-sent events route lifts the write deadline for its own
// responses with http.ResponseController.)
func newHTTPServer(h http.Handler, c config.HTTP, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
}
