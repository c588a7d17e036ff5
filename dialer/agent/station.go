package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/ivr/media"
)

// Phones says where agents' phones are registered (registrar.Registrar's
// Lookup): any node finds any agent's phone.
type Phones interface {
	Lookup(ctx context.Context, agentID string) ([]registrar.Binding, error)
}

// Dialer places the nailed-up calls (the node's dialer.Endpoint).
type Dialer interface {
	Dial(ctx context.Context, r dialer.DialRequest) (*dialer.Leg, error)
}

// Why a Station could not give an agent a leg.
var (
	// ErrNoPhone: the agent's phone is not registered, so there is
	// nothing to call (the API answers 409).
	ErrNoPhone = errors.New("the agent's phone is not registered")
	// ErrPhoneUnreachable: the phone did not answer the nailed-up call
	// (busy, refused, rang out, or sent nothing back); the error says how
	// (409).
	ErrPhoneUnreachable = errors.New("the agent's phone did not answer the nailed-up call")
	// ErrNoLeg: this node holds no live leg for the agent.
	ErrNoLeg = errors.New("no nailed-up leg for the agent on this node")
	// ErrStopping: the station is closing and sets up no leg.
	ErrStopping = errors.New("the node is stopping")
)

// StationOptions configure a Station. Zero values take the documented
// defaults.
type StationOptions struct {
	// Pool holds the agents' states (required).
	Pool *Pool
	// Node is this node's id, recorded with the agents whose legs it holds
	// (required).
	Node   string
	Dialer Dialer // required
	Phones Phones // required
	// RingTimeout bounds how long a phone may take to answer the
	// nailed-up call; default 15s. Phones that honour the auto-answer
	// headers answer at once.
	RingTimeout time.Duration
	// RTPTimeout: a leg from which no RTP arrives for this long is dead
	// (the dialer hangs it up); default 20s.
	RTPTimeout time.Duration
	// KeepAlive is how often an OPTIONS is sent in each leg's dialog; a
	// phone that does not answer one within KeepAliveTimeout, or answers
	// 481 or 408, has lost the leg. Default 10s and 5s; a negative
	// KeepAlive sends none.
	KeepAlive, KeepAliveTimeout time.Duration
	// FromName is the display name the agent's phone shows for the
	// nailed-up call; default "Marcador".
	FromName string
	// OnCallLost is told when an agent whose leg dropped had a call
	// (reserved, talking or in wrap-up): the agent is paused and the call
	// is no longer the agent's, so whoever holds the debtor's leg gives it
	// the abandon message rather than dead air. It must not block.
	OnCallLost func(CallLost)
	// OnNodeLost is told, on the node whose reaper found it, that a node
	// stopped renewing its agents' leases (it died): whoever keeps that
	// node's calls ends them (Calls.EndNode). It must not block long.
	OnNodeLost func(ctx context.Context, node string)
	Logger     *slog.Logger
}

// Station holds the nailed-up legs of the agents logged in on this node:
// one SIP call to each agent's registered phone, made at login (answered
// by itself: Call-Info answer-after=0 and Alert-Info auto-answer), kept
// up between calls (the leg's session sends silence), and watched (RTP,
// OPTIONS in its dialog, the phone's BYE). A leg that drops pauses its
// agent with reason phone_disconnected; Ready calls the phone again.
//
// Run renews the leases of the agents this node holds, hangs up the legs
// of agents logged out elsewhere (another node's API, or the reaper) and
// reaps the agents of nodes that stopped renewing. A bridge takes an
// agent's leg with Session.
//
// The state is in Redis (the Pool); what a Station holds in memory is only
// its own legs, which no other node could use.
type Station struct {
	opt  StationOptions
	pool *Pool
	node string
	log  *slog.Logger

	mu      sync.Mutex
	legs    map[string]*held // by agent
	closing bool
	wg      sync.WaitGroup // watchers and hang-ups
	down    bool           // Redis failed the last renewal (logged once)
}

// held is one agent's leg on this node: being dialled until ready closes,
// then up (err nil) until it ends.
type held struct {
	agent, campaign string
	loginAt         time.Time // the login the leg serves: a later login is another
	leg             *dialer.Leg
	err             error
	ready           chan struct{}
	// ours is closed when the station ends the leg itself (logout, close):
	// its end is then no drop.
	ours     chan struct{}
	oursOnce sync.Once
}

func (h *held) release() { h.oursOnce.Do(func() { close(h.ours) }) }

func (h *held) live() bool {
	select {
	case <-h.ready:
	default:
		return false
	}
	if h.err != nil {
		return false
	}
	select {
	case <-h.leg.Ended():
		return false
	case <-h.ours:
		return false
	default:
		return true
	}
}

// NewStation returns a Station; Init it before serving logins and Run it.
func NewStation(opt StationOptions) (*Station, error) {
	if opt.Pool == nil || opt.Dialer == nil || opt.Phones == nil {
		return nil, errors.New("agent station: pool, dialer and phones are required")
	}
	if err := checkRef("node", opt.Node); err != nil {
		return nil, fmt.Errorf("agent station: %w", err)
	}
	if opt.RingTimeout <= 0 {
		opt.RingTimeout = 15 * time.Second
	}
	if opt.RTPTimeout <= 0 {
		opt.RTPTimeout = 20 * time.Second
	}
	if opt.KeepAlive == 0 {
		opt.KeepAlive = 10 * time.Second
	}
	if opt.KeepAliveTimeout <= 0 {
		opt.KeepAliveTimeout = 5 * time.Second
	}
	if opt.FromName == "" {
		opt.FromName = "Marcador"
	}
	if opt.Logger == nil {
		opt.Logger = opt.Pool.log
	}
	return &Station{opt: opt, pool: opt.Pool, node: opt.Node, log: opt.Logger, legs: map[string]*held{}}, nil
}

// Pool is the station's agent pool.
func (s *Station) Pool() *Pool { return s.pool }

// Init logs out, with reason node_restarted, every agent Redis says this
// node holds: their legs died with the process that held them. Call it
// once at start, before any login.
func (s *Station) Init(ctx context.Context) error {
	freed, err := s.pool.Evict(ctx, s.node, ReasonNodeRestarted)
	if err != nil {
		return fmt.Errorf("agent station %s: release the agents of the last run: %w", s.node, err)
	}
	if len(freed) > 0 {
		s.log.Info("agent station: agents of this node's last run logged out", "node", s.node, "count", len(freed))
	}
	return nil
}

// Session is the media of the agent's nailed-up leg, for a bridge to take
// (media.NewBridge(debtor, session, ...)); when the bridge stops, the
// session's own sender goes back to silence. The station keeps the leg:
// it watches it during the call too, and a drop pauses the agent and
// closes the session, which ends the bridge (Bridge.Done). ErrNoLeg when
// this node has no live leg for the agent: release the reservation and
// Disconnect the agent.
func (s *Station) Session(agentID string) (*media.Session, error) {
	s.mu.Lock()
	h := s.legs[agentID]
	s.mu.Unlock()
	if h == nil || !h.live() {
		return nil, fmt.Errorf("agent %s: %w", agentID, ErrNoLeg)
	}
	return h.leg.Session(), nil
}

// Legs lists the agents whose legs are up on this node.
func (s *Station) Legs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, h := range s.legs {
		if h.live() {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Close stops setting up legs, hangs up every leg this node holds and logs
// its agents out (reason node_stopped), within ctx.
func (s *Station) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	ids := make([]string, 0, len(s.legs))
	for id := range s.legs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.hangUp(id)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if _, err := s.pool.Evict(ctx, s.node, "node_stopped"); err != nil {
		return fmt.Errorf("agent station %s: log its agents out: %w", s.node, err)
	}
	return nil
}
