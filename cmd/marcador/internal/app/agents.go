package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marcador/marcador/dialer/agent"
	"github.com/marcador/marcador/dialer/registrar"
)

// buildRegistrar builds the agent pool and the SIP registrar its agents'
// phones REGISTER with; it comes before the endpoint, which routes
// REGISTER to it.
func (a *App) buildRegistrar(ctx context.Context) error {
	c := a.Config
	a.Agents = agent.New(agent.Options{Client: a.Redis, Realm: c.Registrar.Realm, LeaseTTL: c.Agents.LeaseTTL,
		Zone: c.AgentsZone(), Logger: a.Log})
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
		KeepAliveTimeout: c.KeepAliveTimeout, Logger: a.Log})
	if err != nil {
		return err
	}
	a.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "marcador_agent_legs",
		Help: "Nailed-up agent legs this node holds."}, func() float64 { return float64(len(a.Station.Legs())) }))
	return a.Station.Init(ctx)
}

// startAgents sweeps lapsed registrations and keeps the agents' leases.
func (a *App) startAgents(base context.Context) {
	if a.Registrar != nil {
		a.registrarLoop = startLoop(base, func(ctx context.Context) { a.logStop("sip registrar", a.Registrar.Run(ctx)) })
	}
	if a.Station != nil {
		a.stationLoop = startLoop(base, a.Station.Run)
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
	return err
}
