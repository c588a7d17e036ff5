package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

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
	Logger     *slog.Logger
}

// CallLost is an agent call whose agent's phone leg dropped.
type CallLost struct {
	Agent, Campaign string
	Call            string // the call's attempt id
	State           State  // what the agent was doing: reserved, talking or wrap_up
	Why             string // how the leg ended
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
	freed, err := s.pool.Evict(ctx, s.node, "node_restarted")
	if err != nil {
		return fmt.Errorf("agent station %s: release the agents of the last run: %w", s.node, err)
	}
	if len(freed) > 0 {
		s.log.Info("agent station: agents of this node's last run logged out", "node", s.node, "count", len(freed))
	}
	return nil
}

// Login logs the agent in to campaign on this node and calls its phone;
// the agent is Ready once the phone has answered. campaign may be empty
// when the agent's definition has exactly one. Errors: ErrNotFound, a
// *FieldError, a *TransitionError, ErrCampaignNotAllowed, ErrNoPhone
// (nothing changed), ErrPhoneUnreachable (the agent is logged out again).
func (s *Station) Login(ctx context.Context, id, campaign string) (Status, error) {
	a, err := s.pool.Get(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if campaign == "" {
		switch len(a.Campaigns) {
		case 1:
			campaign = a.Campaigns[0]
		case 0:
			return Status{}, &FieldError{Agent: id, Field: "campaign", Reason: "the agent has no campaigns: add one to its definition"}
		default:
			return Status{}, &FieldError{Agent: id, Field: "campaign", Reason: "required: the agent works " + strings.Join(a.Campaigns, ", ")}
		}
	}
	if err := checkRef("campaign", campaign); err != nil {
		return Status{}, err
	}
	if err := a.mayWork(campaign); err != nil {
		return Status{}, err
	}
	// Nothing to call: refuse before the login shows on the stream.
	if _, err := s.phone(ctx, id); err != nil {
		return Status{}, err
	}
	st, err := s.pool.Login(ctx, id, campaign, s.node, false)
	if err != nil {
		return Status{}, err
	}
	if _, err := s.ensureLeg(ctx, id, campaign, st.LoginAt); err != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, lerr := s.pool.Logout(lctx, id); lerr != nil && !errors.Is(lerr, ErrTransition) {
			s.log.Error("agent station: agent whose phone was not reached still logged in", "agent", id, "err", lerr)
		}
		return Status{}, err
	}
	return s.pool.Ready(ctx, id)
}

// Ready makes the agent ready (Pool.Ready). A paused agent held here whose
// leg is down (phone_disconnected) gets its phone called again first; one
// held by another node whose leg is down is refused (log out and in
// again).
func (s *Station) Ready(ctx context.Context, id string) (Status, error) {
	st, err := s.pool.Status(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if st.State == Paused {
		if st.Node == s.node {
			if _, err := s.ensureLeg(ctx, id, st.Campaign, st.LoginAt); err != nil {
				return Status{}, err
			}
		} else if st.Reason == ReasonLogin || st.Reason == ReasonPhoneDisconnected {
			return Status{}, &TransitionError{Agent: id, Op: "ready", Campaign: st.Campaign, Current: st.State,
				Detail: "its phone leg is held by node " + st.Node + " and is not up: log out and log in again"}
		}
	}
	return s.pool.Ready(ctx, id)
}

// Pause pauses the agent with a reason code (Pool.Pause); the leg stays up.
func (s *Station) Pause(ctx context.Context, id, reason string) (Status, error) {
	return s.pool.Pause(ctx, id, reason)
}

// Logout logs the agent out (Pool.Logout) and, when that happened at once
// and this node holds the leg, hangs it up. A leg another node holds is
// hung up by that node's Run.
func (s *Station) Logout(ctx context.Context, id string) (Status, error) {
	st, err := s.pool.Logout(ctx, id)
	if err != nil {
		return st, err
	}
	if st.State == LoggedOut {
		s.hangUp(id)
	}
	return st, nil
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

// phone is the agent's current binding (the newest).
func (s *Station) phone(ctx context.Context, id string) (registrar.Binding, error) {
	bs, err := s.opt.Phones.Lookup(ctx, id)
	if err != nil {
		return registrar.Binding{}, fmt.Errorf("agent %s: look up its phone: %w", id, err)
	}
	if len(bs) == 0 {
		return registrar.Binding{}, fmt.Errorf("agent %s: %w", id, ErrNoPhone)
	}
	return bs[0], nil
}

// ensureLeg returns the agent's live leg, calling its phone when there is
// none (one call at a time per agent: a second caller waits for the first).
func (s *Station) ensureLeg(ctx context.Context, id, campaign string, loginAt time.Time) (*held, error) {
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return nil, ErrStopping
		}
		h := s.legs[id]
		if h != nil {
			select {
			case <-h.ready:
				if h.live() && h.loginAt.Equal(loginAt) {
					s.mu.Unlock()
					return h, nil
				}
				// Ended, failed, or a leg of an earlier login: replace it.
				delete(s.legs, id)
				h.release()
				if h.err == nil {
					s.hangUpLocked(h)
				}
				h = nil
			default:
				s.mu.Unlock()
				select {
				case <-h.ready:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				continue
			}
		}
		h = &held{agent: id, campaign: campaign, loginAt: loginAt, ready: make(chan struct{}), ours: make(chan struct{})}
		s.legs[id] = h
		s.mu.Unlock()
		h.leg, h.err = s.dial(ctx, id)
		s.mu.Lock()
		if h.err != nil {
			if s.legs[id] == h {
				delete(s.legs, id)
			}
		} else {
			s.wg.Add(1)
			go s.watch(h)
		}
		close(h.ready)
		s.mu.Unlock()
		if h.err != nil {
			return nil, h.err
		}
		return h, nil
	}
}

// dial calls the agent's registered phone, asking it to answer by itself.
func (s *Station) dial(ctx context.Context, id string) (*dialer.Leg, error) {
	b, err := s.phone(ctx, id)
	if err != nil {
		return nil, err
	}
	leg, err := s.opt.Dialer.Dial(ctx, dialer.DialRequest{To: b.Contact, RingTimeout: s.opt.RingTimeout,
		RTPTimeout: s.opt.RTPTimeout, Direct: &dialer.Direct{Addr: b.Received, Route: b.Path, FromName: s.opt.FromName,
			Headers: AutoAnswerHeaders(b.Contact)}})
	if err != nil {
		return nil, fmt.Errorf("agent %s: call its phone at %s: %w", id, b.Contact, err)
	}
	if r := leg.Result(); r.Answered.IsZero() {
		why := r.Reason
		if r.SIPCode != 0 {
			why = fmt.Sprintf("%d %s", r.SIPCode, r.Reason)
		}
		return nil, fmt.Errorf("agent %s: %w: %s at %s (via %s)", id, ErrPhoneUnreachable, why, b.Contact, b.Received)
	}
	s.log.Info("agent station: phone leg up", "agent", id, "call_id", leg.CallID, "contact", b.Contact,
		"received", b.Received, "user_agent", b.UserAgent)
	return leg, nil
}

// AutoAnswerHeaders ask a phone to answer the call by itself, at once:
// Call-Info answer-after=0 (Snom, Yealink, Polycom, Linphone, newer
// baresip) and Alert-Info with info=alert-autoanswer (Grandstream, Cisco
// SPA, Yealink). A phone that honours neither must be set to answer by
// itself (Debian's baresip 1.0: answermode=auto on the account).
func AutoAnswerHeaders(uri string) []sip.Header {
	return []sip.Header{
		sip.NewHeader("Call-Info", "<"+uri+">;answer-after=0"),
		sip.NewHeader("Alert-Info", "<http://127.0.0.1/>;info=alert-autoanswer;delay=0"),
	}
}

// watch follows one leg until it ends or the station ends it: the phone's
// BYE and the RTP timeout end the leg (the dialer), a failed keep-alive
// OPTIONS is judged here.
func (s *Station) watch(h *held) {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.opt.KeepAlive > 0 {
		t := time.NewTicker(s.opt.KeepAlive)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-h.ours:
			return
		case <-h.leg.Ended():
			s.lost(h, h.leg.Result().Reason)
			return
		case <-tick:
			ctx, cancel := context.WithTimeout(context.Background(), s.opt.KeepAliveTimeout)
			err := h.leg.Ping(ctx)
			cancel()
			if err == nil {
				continue
			}
			select {
			case <-h.ours:
				return
			case <-h.leg.Ended():
				continue // its own end says why
			default:
			}
			s.lost(h, "keep-alive failed: "+err.Error())
			s.mu.Lock()
			s.hangUpLocked(h)
			s.mu.Unlock()
			return
		}
	}
}

// lost handles a leg that dropped without the station ending it: the agent
// is paused with reason phone_disconnected (unless it has logged out or in
// again meanwhile), and the drop is logged once.
func (s *Station) lost(h *held, why string) {
	s.mu.Lock()
	if s.legs[h.agent] == h {
		delete(s.legs, h.agent)
	}
	closing := s.closing
	s.mu.Unlock()
	select {
	case <-h.ours:
		return
	default:
	}
	h.release()
	if closing {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.pool.Status(ctx, h.agent)
	if errors.Is(err, ErrNotFound) {
		return // the agent was deleted
	}
	if err == nil && (st.State == LoggedOut || st.Node != s.node || !st.LoginAt.Equal(h.loginAt)) {
		s.log.Debug("agent station: leg of an earlier login ended", "agent", h.agent, "call_id", h.leg.CallID, "why", why)
		return
	}
	was := st
	if err == nil {
		st, err = s.pool.Disconnect(ctx, h.agent, ReasonPhoneDisconnected)
	}
	if err != nil && !errors.Is(err, ErrTransition) {
		s.log.Error("agent station: phone leg lost; agent not paused (Redis): the next renewal retries", "agent", h.agent,
			"campaign", h.campaign, "call_id", h.leg.CallID, "why", why, "err", err)
		return
	}
	s.log.Warn("agent station: phone leg lost; agent paused", "agent", h.agent, "campaign", h.campaign, "node", s.node,
		"call_id", h.leg.CallID, "why", why, "reason", ReasonPhoneDisconnected, "state", st.State, "call", was.Call)
	s.callLost(was, why)
}

// callLost tells OnCallLost about the call an agent had when its leg went.
func (s *Station) callLost(was Status, why string) {
	if was.Call == "" || s.opt.OnCallLost == nil {
		return
	}
	s.opt.OnCallLost(CallLost{Agent: was.Agent, Campaign: was.Campaign, Call: was.Call, State: was.State, Why: why})
}

// hangUp ends the agent's leg on this node, if any.
func (s *Station) hangUp(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.legs[id]
	if h == nil {
		return
	}
	delete(s.legs, id)
	h.release()
	select {
	case <-h.ready:
		if h.err == nil {
			s.hangUpLocked(h)
		}
	default:
		// Still being dialled: hang up what the dial brings.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-h.ready
			if h.err == nil {
				hangupLeg(h.leg)
			}
		}()
	}
}

// hangUpLocked sends the leg's BYE in the background (s.mu held).
func (s *Station) hangUpLocked(h *held) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		hangupLeg(h.leg)
	}()
}

func hangupLeg(l *dialer.Leg) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	l.Hangup(ctx)
}

// Run renews the leases of this node's agents every LeaseTTL/3, hangs up
// the legs of agents no longer held here (logged out by another node or
// reaped), pauses held agents found without a leg, and reaps the agents of
// nodes that stopped renewing, until ctx ends.
func (s *Station) Run(ctx context.Context) {
	t := time.NewTicker(s.pool.LeaseTTL() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.tick(ctx)
		}
	}
}

func (s *Station) tick(ctx context.Context) {
	renewed, err := s.pool.Renew(ctx, s.node)
	if err != nil {
		if ctx.Err() == nil && !s.down {
			s.down = true
			s.log.Error("agent station: leases not renewed; agents are reaped if this lasts past the lease", "node", s.node,
				"lease", s.pool.LeaseTTL().String(), "err", err)
		}
		return
	}
	if s.down {
		s.down = false
		s.log.Info("agent station: leases renewed again", "node", s.node)
	}
	heldHere := make(map[string]bool, len(renewed))
	for _, h := range renewed {
		heldHere[h.Agent] = true
	}
	s.mu.Lock()
	var gone []string
	for id, h := range s.legs {
		select {
		case <-h.ready:
		default:
			continue // being dialled: the login's own steps decide
		}
		if !heldHere[id] {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.log.Info("agent station: agent no longer held here; leg hung up", "agent", id, "node", s.node)
		s.hangUp(id)
	}
	for id := range heldHere {
		s.mu.Lock()
		_, has := s.legs[id]
		s.mu.Unlock()
		if !has {
			s.heal(ctx, id)
		}
	}
	if _, err := s.pool.Reap(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("agent station: reap failed", "err", err)
	}
}

// heal pauses an agent held here with no leg that is not paused: its drop
// was not recorded (Redis failed then).
func (s *Station) heal(ctx context.Context, id string) {
	st, err := s.pool.Status(ctx, id)
	if err != nil || st.Node != s.node || st.State == Paused || st.State == LoggedOut {
		return
	}
	if _, err := s.pool.Disconnect(ctx, id, ReasonPhoneDisconnected); err == nil {
		s.log.Warn("agent station: agent had no phone leg on its node; paused", "agent", id, "campaign", st.Campaign,
			"node", s.node, "was", st.State, "reason", ReasonPhoneDisconnected, "call", st.Call)
		s.callLost(st, "no phone leg on its node")
	}
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
