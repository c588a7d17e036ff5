// Package demo is `marcador demo`, the newcomer's tour: a generated
// portfolio goes into two campaigns through the HTTP API, the overdue one
// runs as an IVR campaign over SIP/RTP against an in-process carrier
// simulator, unanswered debtors are texted through a local
// Twilio-compatible server, a debtor calls back, two promises are paid,
// agents work a predictive campaign, the media engine holds hundreds of
// calls at once, and what happened is read back from ClickHouse. It runs
// the node's parts as `serve` builds them (cmd/marcador/internal/app), with
// the demo's own carrier, texting provider and compliance clock.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/sms/twiliotest"
)

// Options of one demo run.
type Options struct {
	// Config is the node's (make demo passes deploy/dev/marcador.yaml); the
	// demo replaces its trunks, texting provider, payment-link secret and
	// callback line with its own, and keeps its spool in <spool.dir>/demo.
	Config config.Config
	// Debtors in the generated portfolio; default 1000.
	Debtors int
	// Seed of the portfolio generator (same seed, same debtors); default 2026.
	Seed int64
	// Calls is about how many contacts the IVR campaign tries; default 30.
	Calls int
	// MediaCalls are held at once in the media step; default 300.
	MediaCalls int
	// Logger gets the parts' log lines; default slog.Default().
	Logger  *slog.Logger
	Version string
}

// The demo's campaigns: reminders before the due date, collection after it.
func demoCampaigns() []queue.Campaign {
	return []queue.Campaign{
		{ID: "demo-preventive", Name: "Recordatorio preventivo", Mode: queue.ModeIVR, Country: "MX",
			TimeZone: "America/Mexico_City", Profile: queue.ProfileAuto, Trunk: "sim", CallerID: "+525550000100",
			Script: "reminder-preventive", MaxConcurrent: 30, CallbackNumber: "+525550000100", PayURL: "https://pagos.example.com/p/{token}",
			Retry: queue.RetryPolicy{MaxAttempts: 3, Delays: map[string]queue.Duration{analytics.NoAnswer: queue.Duration(4 * time.Hour), analytics.Busy: queue.Duration(30 * time.Minute)}}},
		{ID: "demo-overdue", Name: "Cobranza temprana y tardía", Mode: queue.ModeIVR, Country: "MX",
			TimeZone: "America/Mexico_City", Profile: queue.ProfileAuto, Trunk: "sim", CallerID: "+525550000200",
			Script: "reminder-overdue", MaxConcurrent: 30, CallbackNumber: "+525550000200", PayURL: "https://pagos.example.com/p/{token}",
			Promise: queue.PromisePolicy{MaxDays: 15, MinPercent: 10, GraceDays: 2}, RingTimeout: queue.Duration(queue.MinRingTimeout),
			Company: "Financiera Sol",
			SMS:     queue.SMSPolicy{Fallback: []queue.FallbackRule{{After: []string{analytics.NoAnswer, analytics.Busy}, Template: "missed-call"}}},
			Retry:   queue.RetryPolicy{MaxAttempts: 6, Delays: map[string]queue.Duration{analytics.NoAnswer: queue.Duration(2 * time.Hour), analytics.Busy: queue.Duration(15 * time.Minute), analytics.Machine: queue.Duration(6 * time.Hour)}}},
	}
}

const (
	// demoToken is the API token the demo's client and server share.
	demoToken = "demo-token-0123456789abcdef"
	// demoCallbackLine is the number debtors call back on in the demo.
	demoCallbackLine = "8005550100"
	// The local Twilio-compatible server's account and sender.
	twilioSID, twilioToken, twilioFrom = "AC0d3e0d3e0d3e0d3e0d3e0d3e0d3e0d3e", "demo0d3e0d3e0d3e0d3e0d3e0d3e0d3e", "+15005550006"
)

// run is one demo run: its parts, its fakes and what it prints.
type run struct {
	opt      Options
	out      io.Writer
	app      *app.App
	api      *client
	read     *analytics.Reader
	sim      *simcarrier.Carrier
	twilio   *twiliotest.Server
	hooksURL string // where the Twilio-compatible server sends callbacks
	now      time.Time
	gateNow  func() time.Time // compliance runs on a business-hours clock
	// callsStart is when the IVR campaign started: the run's rows are the
	// ones from then on.
	callsStart time.Time
	// agentsStart is when the agents' step began.
	agentsStart time.Time
	pmu         sync.Mutex // the agents print from their own goroutines
	// proofs: what the debtor at each uploaded number keys at the
	// reminders' right-party check (the birth date, the line's method).
	proofs sync.Map
}

// proof is what the debtor at number keys to prove who they are; "" for a
// number with no check (the agents' campaign's).
func (r *run) proof(number string) string {
	v, _ := r.proofs.Load(number)
	s, _ := v.(string)
	return s
}

// remember keeps what each account's debtor keys at the right-party check.
func (r *run) remember(accts ...queue.Account) {
	for _, a := range accts {
		if answer, ok := ivr.Answer("birth_date", a); ok {
			for _, p := range a.Phones {
				r.proofs.Store(p.Number, answer)
			}
		}
	}
}

// Run tells the demo's story on w.
func Run(ctx context.Context, opt Options, w io.Writer) error {
	if opt.Debtors <= 0 {
		opt.Debtors = 1000
	}
	if opt.Seed == 0 {
		opt.Seed = 2026
	}
	if opt.Calls <= 0 {
		opt.Calls = 30
	}
	if opt.MediaCalls <= 0 {
		opt.MediaCalls = 300
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	r, err := start(ctx, opt, w)
	if err != nil {
		return err
	}
	defer r.close()
	r.p("\n== Marcador demo ==\n")
	c := r.opt.Config
	r.p("Redis %s · ClickHouse %s (database %s) · node %s\n\n", app.RedisAddr(c.Redis), c.ClickHouse.Addr, c.ClickHouse.Database, c.NodeID)
	for _, step := range []func(context.Context) error{r.createCampaigns, r.upload, r.queueState, r.campaignRun, r.explain, r.agentsRun, r.mediaRun, r.summary} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// start brings up the carrier simulator, the Twilio-compatible server and
// the node's parts wired to them, with the API on a loopback port.
func start(ctx context.Context, opt Options, w io.Writer) (_ *run, err error) {
	r := &run{opt: opt, out: w, now: time.Now()}
	// Compliance runs on a simulated clock set to business hours, so the
	// demo calls whatever the hour: the next Tuesday-Friday, 10:30 in Mexico
	// City, moving on with real time.
	r.gateNow = demoClock(r.now)
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	log := opt.Logger
	if r.sim, err = simcarrier.Start(simcarrier.Options{Listen: "127.0.0.1:0", ByLastDigit: true, Seed: 7,
		Ring: simcarrier.Range{Min: time.Second, Max: 3 * time.Second}, DigitsFor: demoDebtor, DigitsAfter: 1500 * time.Millisecond,
		Proof: r.proof, Parties: demoParty,
		Record: true, Logger: log}); err != nil {
		return nil, err
	}
	if r.twilio, err = twiliotest.Start(twiliotest.Options{AccountSID: twilioSID, AuthToken: twilioToken, Numbers: []string{twilioFrom},
		Logger: log}); err != nil {
		return nil, err
	}
	// The API and the Twilio webhooks are served together, as `serve` does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.hooksURL = "http://" + ln.Addr().String()
	host, _, _ := net.SplitHostPort(opt.Config.SIP.Listen)
	r.app, err = app.New(ctx, app.Options{Config: r.config(), Parts: app.Node &^ app.Guard, Schema: app.SchemaRequired,
		Logger: log, Version: opt.Version, SpoolName: "demo", SIPListen: net.JoinHostPort(host, "0"), Listener: ln,
		ComplianceClock: r.gateNow})
	if err != nil {
		ln.Close()
		var ue *app.UnreachableError
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%w (start the dev services: make dev-up)", err)
		}
		return nil, err
	}
	r.app.Start(ctx)
	r.api = &client{base: r.hooksURL + "/api/v1", token: demoToken}
	if r.read, err = analytics.NewReader(r.app.Conn, opt.Config.ClickHouse.Database); err != nil {
		return nil, err
	}
	return r, nil
}

// config is the node's config with the demo's carrier (which also carries
// the debtors' calls back from this host), texting provider, payment-link
// secret and callback line; the shipped scripts only; no metrics listener
// of its own (a `serve` may hold it).
func (r *run) config() config.Config {
	c := r.opt.Config
	host, _, _ := net.SplitHostPort(c.SIP.Listen)
	from := []string{"127.0.0.0/8"}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		from = append(from, ip.Unmap().String())
	}
	camp := demoCampaigns()[1]
	c.Trunks = []dialer.TrunkConfig{{Name: camp.Trunk, URI: "sip:" + r.sim.Addr(), CallerID: camp.CallerID, CPS: 20, MaxChannels: 60,
		InboundFrom: from}}
	c.IVR.ScriptsDir = ""
	// Mexican ids are CURPs, which cannot be keyed: callers prove who they
	// are with their date of birth.
	c.IVR.Inbound = config.Inbound{Numbers: []string{demoCallbackLine}, Country: "MX", Language: "es", Verify: "birth_date",
		MaxCalls: c.IVR.Inbound.MaxCalls, Lockout: c.IVR.Inbound.Lockout}
	c.PayLinks = config.PayLinks{Secret: "demo-paylink-secret-0123456789", TTL: 72 * time.Hour}
	c.Twilio = config.Twilio{AccountSID: twilioSID, AuthToken: twilioToken, From: twilioFrom, PublicURL: r.hooksURL, APIURL: r.twilio.URL()}
	c.SMS.Rate = 20 // the local server takes more than a real long code
	c.HTTP.APITokens, c.HTTP.MetricsListen, c.HTTP.MetricsToken = []string{demoToken}, "", ""
	return c
}

// close stops the node's parts first (their last texts and callbacks
// still reach the fakes), then the fakes.
func (r *run) close() {
	if r.app != nil {
		if err := r.app.Close(); err != nil {
			r.opt.Logger.Warn("demo: not every part stopped cleanly", "err", err)
		}
	}
	if r.twilio != nil {
		r.twilio.Close()
	}
	if r.sim != nil {
		r.sim.Close()
	}
}

// p prints a line of the story.
func (r *run) p(format string, a ...any) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	fmt.Fprintf(r.out, format, a...)
}

// since is where this run's rows start (ClickHouse keeps whole seconds).
func (r *run) since() time.Time { return r.callsStart.Add(-time.Second) }

// demoClock is the next Tuesday to Friday at 10:30 in Mexico City (today
// if it is one and it is not yet 10:30), running on from there.
func demoClock(real time.Time) func() time.Time {
	mx := mustZone("America/Mexico_City")
	l := real.In(mx)
	base := time.Date(l.Year(), l.Month(), l.Day(), 10, 30, 0, 0, mx)
	for base.Before(real) || base.Weekday() < time.Tuesday || base.Weekday() > time.Friday {
		base = base.AddDate(0, 0, 1)
	}
	return func() time.Time { return base.Add(time.Since(real)) }
}

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // the Go time zone database ships with the binary (time/tzdata)
	}
	return l
}
