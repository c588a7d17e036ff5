package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/dialer/pacing"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/queue"
)

// buildRegistrar builds the agent pool and the SIP registrar its agents'
// phones REGISTER with; it comes before the endpoint, which routes
// REGISTER to it.
func (a *App) buildRegistrar(ctx context.Context) error {
	c := a.Config
	var states agent.StateLog // agent_states rows, when this node writes to ClickHouse
	if a.Writer != nil {
		states = a.Writer
	}
	a.Agents = agent.New(agent.Options{Client: a.Redis, Realm: c.Registrar.Realm, LeaseTTL: c.Agents.LeaseTTL,
		Zone: c.AgentsZone(), States: states, Logger: a.Log})
	r := c.Registrar
	var err error
	a.Registrar, err = registrar.New(ctx, registrar.Options{Redis: a.Redis, Credentials: a.Agents.RegistrarCredentials(),
		Realm: r.Realm, Node: c.NodeID, Algorithms: c.RegistrarAlgorithms(), NonceTTL: r.NonceTTL,
		MinExpires: r.MinExpires, MaxExpires: r.MaxExpires, DefaultExpires: r.DefaultExpires,
		Lockout: registrar.Lockout{PerSource: r.Lockout.PerSource, PerUser: r.Lockout.PerUser, Window: r.Lockout.Window,
			Duration: r.Lockout.Duration, Exempt: c.RegistrarExempt()},
		Logger: a.Log})
	return err
}

// buildStation builds what holds the agents' nailed-up legs on the
// endpoint, and logs out the agents this node held before it restarted.
func (a *App) buildStation(ctx context.Context) error {
	c := a.Config.Agents
	keepAlive := c.KeepAlive
	if keepAlive == 0 {
		keepAlive = -1 // agents.keepalive: 0s sends none
	}
	var err error
	a.Station, err = agent.NewStation(agent.StationOptions{Pool: a.Agents, Node: a.Config.NodeID, Dialer: a.Endpoint,
		Phones: a.Registrar, RingTimeout: c.RingTimeout, RTPTimeout: c.RTPTimeout, KeepAlive: keepAlive,
		KeepAliveTimeout: c.KeepAliveTimeout, Logger: a.Log,
		// The runner, built later, gives the debtor of a call whose agent's
		// leg dropped the abandon message.
		OnCallLost: func(l agent.CallLost) {
			if r := a.inbound.Load(); r != nil {
				r.CallLost(l)
			}
		},
		OnNodeLost: func(ctx context.Context, node string) {
			if r := a.inbound.Load(); r != nil {
				r.NodeLost(ctx, node)
			}
		}})
	if err != nil {
		return err
	}
	a.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "marcador_agent_legs",
		Help: "Nailed-up agent legs this node holds."}, func() float64 { return float64(len(a.Station.Legs())) }))
	a.Desk = agent.NewDesk(agent.DeskOptions{Client: a.Redis, Logger: a.Log})
	if a.Store != nil {
		a.Metrics.MustRegister(&answersCollector{store: a.Store, pool: a.Agents, log: a.Log})
	}
	return a.Station.Init(ctx)
}

// runnerAgents is what the runner needs of the Agents part (nothing
// without it).
func (a *App) runnerAgents() campaign.Options {
	if a.Station == nil {
		return campaign.Options{}
	}
	o := campaign.Options{Agents: a.Station, Desk: a.Desk, RecordingsDir: a.Config.Recordings.Dir}
	if a.Conn != nil {
		if rd, err := analytics.NewReader(a.Conn, a.Config.ClickHouse.Database); err == nil {
			o.History = rd
		}
	}
	return o
}

// startAgents sweeps lapsed registrations and keeps the agents' leases.
func (a *App) startAgents(base context.Context) {
	if a.Registrar != nil {
		a.registrarLoop = startLoop(base, func(ctx context.Context) { a.logStop("sip registrar", a.Registrar.Run(ctx)) })
	}
	if a.Station != nil {
		a.stationLoop = startLoop(base, a.Station.Run)
		a.deskLoop = startLoop(base, a.Desk.Run)
	}
}

// closeAgents hangs up the agents' legs and logs their agents out (10 s at
// most), then stops the registrar's sweep.
func (a *App) closeAgents() error {
	a.stationLoop.stop()
	var err error
	if a.Station != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = a.Station.Close(ctx)
	}
	a.registrarLoop.stop()
	a.deskLoop.stop()
	return err
}

// answersCollector exports every agent campaign's live answers and
// abandons over the last hour and 24 hours (to the five minutes), today and
// over 30 days, from the pool's shared counts (so any node shows the
// campaign's figures).
type answersCollector struct {
	store *queue.Store
	pool  *agent.Pool
	log   *slog.Logger
}

var (
	liveDesc = prometheus.NewDesc("marcador_campaign_live_answers", "Live answers of an agent campaign in the window (1h, 24h, today in the campaign's zone, 30d).",
		[]string{"campaign", "window"}, nil)
	abandonDesc = prometheus.NewDesc("marcador_campaign_abandoned", "Abandoned live answers (no agent within abandon_after) of an agent campaign in the window.",
		[]string{"campaign", "window"}, nil)
	rateDesc = prometheus.NewDesc("marcador_campaign_abandon_rate", "Abandoned ÷ live answers of an agent campaign in the window (0 with none).",
		[]string{"campaign", "window"}, nil)
)

func (c *answersCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- liveDesc
	ch <- abandonDesc
	ch <- rateDesc
}

func (c *answersCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ids, err := c.store.CampaignIDs(ctx)
	if err != nil {
		c.log.Warn("metrics: campaigns not read", "err", err)
		return
	}
	for _, id := range ids {
		cp, err := c.store.Campaign(ctx, id)
		if err != nil || !cp.HasAgents() {
			continue
		}
		r, err := c.pool.Rates(ctx, id, cp.Zone())
		var recent agent.Recent
		if err == nil {
			recent, err = c.pool.RecentRates(ctx, id)
		}
		if err != nil {
			c.log.Warn("metrics: abandon counts not read", "campaign", id, "err", err)
			continue
		}
		for _, w := range []struct {
			name string
			v    pacing.WindowCounts
		}{{"1h", recent.Hour}, {"24h", recent.Day}, {"today", r.Today}, {"30d", r.Rolling}} {
			ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(w.v.Live), id, w.name)
			ch <- prometheus.MustNewConstMetric(abandonDesc, prometheus.GaugeValue, float64(w.v.Abandoned), id, w.name)
			ch <- prometheus.MustNewConstMetric(rateDesc, prometheus.GaugeValue, agent.Rate(w.v), id, w.name)
		}
	}
}
