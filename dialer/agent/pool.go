package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/queue"
)

// Options configures a Pool. Zero values take the documented defaults.
type Options struct {
	// Client is a go-redis UniversalClient (single node, Sentinel or
	// Cluster). Required.
	Client redis.UniversalClient
	// Realm is the SIP digest realm the stored HA1 values are computed for;
	// the registrar must challenge with the same realm. Default "marcador".
	Realm string
	// LeaseTTL is how long an agent's state outlives the last lease renewal
	// of the node holding the agent; after it, Reap logs the agent out with
	// reason node_lost. A node renews every LeaseTTL/3 or so. Node clocks
	// must agree to well within it (NTP). Default 30s.
	LeaseTTL time.Duration
	// StreamMaxLen bounds each campaign's agent event stream (trimmed
	// approximately, XADD MAXLEN ~). Default 10000.
	StreamMaxLen int64
	// Zone sets the day boundary of agents' daily figures (calls, talk time,
	// time in state): the contact centre's day. Default UTC.
	Zone *time.Location
	// FollowBlock is how long one blocking read of Follow waits before it
	// looks at its context again. Default 2s.
	FollowBlock time.Duration
	// Now is the clock every transition is stamped with. Default time.Now.
	Now func() time.Time
	// States takes an agent_states row for every interval an agent leaves
	// (any state but logged out; analytics/writer.Writer). Nil: none.
	States StateLog
	Logger *slog.Logger
}

// Pool owns agent definitions and agent states in Redis. It keeps no state of
// its own: any number of Pools on any number of nodes may share one Redis.
// It is safe for concurrent use.
type Pool struct {
	rdb    redis.UniversalClient
	realm  string
	ttl    time.Duration
	maxlen int64
	zone   *time.Location
	block  time.Duration
	now    func() time.Time
	states StateLog
	log    *slog.Logger
}

// New returns a Pool.
func New(opt Options) *Pool {
	if opt.Realm == "" {
		opt.Realm = "marcador"
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 30 * time.Second
	}
	if opt.StreamMaxLen <= 0 {
		opt.StreamMaxLen = 10000
	}
	if opt.Zone == nil {
		opt.Zone = time.UTC
	}
	if opt.FollowBlock <= 0 {
		opt.FollowBlock = 2 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Pool{rdb: opt.Client, realm: opt.Realm, ttl: opt.LeaseTTL, maxlen: opt.StreamMaxLen,
		zone: opt.Zone, block: opt.FollowBlock, now: opt.Now, states: opt.States, log: opt.Logger}
}

// Realm is the SIP digest realm of the stored credentials.
func (p *Pool) Realm() string { return p.realm }

// LeaseTTL is the lease a node's renewal gives its agents.
func (p *Pool) LeaseTTL() time.Duration { return p.ttl }

// State is what an agent is doing.
type State string

const (
	LoggedOut State = "logged_out"
	Ready     State = "ready"    // idle, in the campaign's idle queue
	Reserved  State = "reserved" // picked for an answered call being bridged
	Talking   State = "talking"
	WrapUp    State = "wrap_up" // after-call work
	Paused    State = "paused"  // logged in, taking no calls; Status.Reason says why
)

// States lists every state in the order of the life cycle.
func States() []State { return []State{LoggedOut, Ready, Reserved, Talking, WrapUp, Paused} }

// Leaving is what an agent in a call asked for when the call and its wrap-up
// end, instead of going back to Ready.
type Leaving string

const (
	LeavePause  Leaving = "pause"
	LeaveLogout Leaving = "logout"
)

// Reasons the pool itself gives (pause reasons from agents are their own
// codes).
const (
	ReasonLogin             = "login"              // paused right after login until Ready
	ReasonLogout            = "logout"             // logged out by request
	ReasonNodeLost          = "node_lost"          // the holding node stopped renewing its lease
	ReasonNodeRestarted     = "node_restarted"     // the holding node started again without its legs and calls
	ReasonPhoneDisconnected = "phone_disconnected" // default reason of Disconnect
)

// ErrNotFound is returned for an agent that is not defined.
var ErrNotFound = errors.New("not found")

// ErrTransition marks a transition the agent's current state does not allow
// (the API answers 409). The error is a *TransitionError.
var ErrTransition = errors.New("transition not allowed")

// ErrCampaignNotAllowed is returned by Login for a campaign that is not in
// the agent's definition.
var ErrCampaignNotAllowed = errors.New("campaign not allowed for this agent")

// TransitionError says which operation was refused and what the agent was
// doing: its state (and campaign, call and pending leave) at that instant.
type TransitionError struct {
	Agent    string
	Op       string // login, ready, pause, logout, release, connect, hangup, end_wrap, disconnect
	Campaign string // where the agent is; empty when logged out
	Current  State
	Leaving  Leaving
	Call     string // the call the agent has, if any
	// Detail adds why when the state alone does not say it: "call X is not
	// the agent's", "superseded by a concurrent login".
	Detail string
}

func (e *TransitionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "agent %s: %s not allowed: agent is %s", e.Agent, e.Op, e.Current)
	if e.Campaign != "" {
		fmt.Fprintf(&b, " in campaign %s", e.Campaign)
	}
	if e.Call != "" {
		fmt.Fprintf(&b, " (call %s)", e.Call)
	}
	if e.Leaving != "" {
		fmt.Fprintf(&b, ", leaving to %s", e.Leaving)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrTransition }

// FieldError says which field of an agent definition or request is wrong and
// why (the API answers 422 with field and reason).
type FieldError struct {
	Agent  string
	Field  string // as in the JSON: id, name, sip_user, password, campaigns[2], language
	Reason string
}

func (e *FieldError) Error() string {
	if e.Agent == "" {
		return "agent: " + e.Field + ": " + e.Reason
	}
	return "agent " + e.Agent + ": " + e.Field + ": " + e.Reason
}

// codeRe is the rule for reason codes (pause reasons): short, key- and
// log-safe.
var codeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

const codeRule = "1-64 of a-z 0-9 _ . - starting with a letter or digit"

// CheckCode validates a reason code (a pause's, a preview skip's).
func CheckCode(field, v string) error { return checkCode(field, v) }

// checkCode validates a reason code.
func checkCode(field, v string) error {
	if !codeRe.MatchString(v) {
		return &FieldError{Field: field, Reason: fmt.Sprintf("%.70q: %s", v, codeRule)}
	}
	return nil
}

// checkRef validates an id that becomes part of a key or of the agent's
// location (agent, campaign, node): queue's id rule, the one rule for ids.
func checkRef(field, v string) error {
	if err := queue.CheckID(v); err != nil {
		return &FieldError{Field: field, Reason: err.Error()}
	}
	return nil
}

func checkCall(call string) error {
	if call == "" || len(call) > 200 || strings.ContainsAny(call, "\x00\r\n") {
		return &FieldError{Field: "call", Reason: fmt.Sprintf("%.70q: want 1-200 bytes, no line breaks", call)}
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
