package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/cmd/marcador/internal/httpapi"
)

// buildHTTP mounts every route (httpapi) on what a holds and binds the
// listeners: Options.Listener or http.listen, and http.metrics_listen when
// set. Servers start in Start.
func (a *App) buildHTTP() error {
	cfg := a.Config
	tokens := cfg.HTTP.APITokens
	if len(tokens) == 0 {
		b := make([]byte, 24)
		rand.Read(b)
		tokens = []string{hex.EncodeToString(b)}
		a.Log.Warn("http.api_tokens is empty: generated a token for this run only; set http.api_tokens to keep one",
			"token", tokens[0])
	}
	opts := httpapi.Options{
		Store: a.Store, Gate: a.Gate, Runner: a.Runner, Payments: a.Promises, Tokens: tokens, Gatherer: a.Metrics, Now: time.Now,
		Logger: a.Log, Refs: a.Runner.Refs(), MetricsToken: cfg.HTTP.MetricsToken, MetricsSeparate: cfg.HTTP.MetricsListen != "",
		Checks: map[string]func(context.Context) error{
			"redis":      a.redisCheck(),
			"clickhouse": func(ctx context.Context) error { return a.Conn.Ping(ctx) },
			"writer":     a.Writer.Check, // behind by spool.max_lag, or spool full
		},
	}
	if a.Station != nil {
		opts.Agents, opts.Calls, opts.Screens, opts.Previews = a.Station, a.Runner, a.Desk, a.Runner
	}
	if a.KPI != nil {
		opts.KPIs = a.KPI
		a.kpiMetrics = kpi.NewCollector(a.KPI)
		a.Metrics.MustRegister(a.kpiMetrics)
	}
	if a.Sender != nil {
		opts.Messages = a.Sender
		opts.TwilioStatus, opts.TwilioInbound = a.Sender.StatusHandler(a.verifier), a.Sender.InboundHandler(a.verifier)
	}
	a.API = httpapi.New(opts)
	ln := a.opt.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
		}
	}
	a.http = append(a.http, served{newHTTPServer(a.API, cfg.HTTP, a.Log), ln, "http server"})
	if cfg.HTTP.MetricsListen != "" {
		oln, err := net.Listen("tcp", cfg.HTTP.MetricsListen)
		if err != nil {
			return fmt.Errorf("http.metrics_listen %s: %w", cfg.HTTP.MetricsListen, err)
		}
		a.http = append(a.http, served{newHTTPServer(a.API.Ops(), cfg.HTTP, a.Log), oln, "metrics listener"})
	}
	return nil
}

// redisCheck is /healthz's Redis check: the guard's when there is one (one
// GET: reachable, and still holding this node's data), else a ping.
func (a *App) redisCheck() func(context.Context) error {
	if a.Guard != nil {
		return a.Guard.Check
	}
	return func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() }
}

// served is one HTTP server and the listener it serves.
type served struct {
	srv  *http.Server
	ln   net.Listener
	name string
}

// HTTPAddr is the address the API is served on ("" without HTTP).
func (a *App) HTTPAddr() string {
	if len(a.http) == 0 {
		return ""
	}
	return a.http[0].ln.Addr().String()
}

// startHTTP serves every listener; the API server's unexpected end is what
// Wait returns.
func (a *App) startHTTP() {
	for i, s := range a.http {
		go func() {
			err := s.srv.Serve(s.ln)
			if errors.Is(err, http.ErrServerClosed) {
				return
			}
			if i == 0 {
				a.httpDone <- err
				return
			}
			a.Log.Error(s.name+" stopped", "err", err)
		}()
	}
	if len(a.http) > 1 {
		a.Log.Info("metrics and health served apart", "metrics_listen", a.http[1].ln.Addr().String())
	}
}

// stopHTTP lets requests in progress finish (10 s at most) and closes the
// listeners, served or not.
func (a *App) stopHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range a.http {
		if err := s.srv.Shutdown(ctx); err != nil {
			a.Log.Warn(s.name+" did not stop cleanly", "err", err)
		}
		s.ln.Close() // a server that never served does not close it
	}
}

// newHTTPServer bounds what any client, authenticated or not, may take:
// http.read_header_timeout for the request line and headers,
// http.read_timeout for the whole request, http.write_timeout for the
// handler and its answer, http.idle_timeout between keep-alive requests.
// (httpapi's stream routes lift the write deadline for their own
// responses.)
func newHTTPServer(h http.Handler, c config.HTTP, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
}
