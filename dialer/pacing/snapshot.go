package pacing

import "time"

// AgentState is what a logged-in agent is doing, as the pacer needs to know it.
type AgentState uint8

const (
	// Ready: idle, waiting for a call.
	Ready AgentState = iota
	// Reserved: picked for an answered call that is being bridged to them.
	Reserved
	// Talking: on a call.
	Talking
	// Wrap: after-call work (disposition, notes).
	Wrap
	// Paused: logged in, but taking no calls (break, training).
	Paused
)

var agentStateNames = [...]string{"ready", "reserved", "talking", "wrap", "paused"}

func (s AgentState) String() string {
	if int(s) < len(agentStateNames) {
		return agentStateNames[s]
	}
	return "unknown"
}

// Agent is one logged-in agent of the campaign.
type Agent struct {
	State AgentState
	// InState is how long the agent has been in State (for Talking, the talk
	// time so far; for Wrap, the wrap-up time so far).
	InState time.Duration
	// Leaving says the agent asked to pause or log out when the current call
	// and its wrap-up end: a busy agent that will not come back to Ready.
	Leaving bool
}

// Call is one call in flight that has not been answered yet.
type Call struct {
	// Ringing is the time since the call was sent (INVITE to now).
	Ringing time.Duration
}

// Trunk is the room the trunks leave this campaign now.
type Trunk struct {
	// CPS is the calls per second this campaign may start; 0 means no limit.
	CPS float64
	// FreeChannels is the number of channels free now; NoLimit (negative)
	// means no limit.
	FreeChannels int
}

// NoLimit in Trunk.FreeChannels means the channels are not limited.
const NoLimit = -1

// Settings are the campaign's pacing settings as they are now (they may
// change at run time; the pacer reads them on every tick).
type Settings struct {
	// TargetAbandon is the highest abandon rate allowed (abandoned ÷ live
	// answers) over the compliance window, e.g. 0.03.
	TargetAbandon float64
	// MaxLinesPerAgent caps the calls in flight per available agent; 0 means
	// the pacer's default.
	MaxLinesPerAgent float64
	// LinesPerAgent is the progressive pacer's lines per ready agent; 0
	// means 1.
	LinesPerAgent float64
	// TargetSessions is the agentless pacer's target of concurrent IVR
	// sessions.
	TargetSessions int
}

// WindowCounts are live answers and abandons over the compliance window as
// the campaign's shared counters hold them, and the answers AMD found to be
// machines (not live answers) over the same window.
type WindowCounts struct {
	Live, Abandoned int64
	Machine         int64
}

// Snapshot is the campaign as the pacer sees it on one tick. The live dialer
// fills it from Redis; the simulator from its own state. Slices are read
// during Decide only and may be reused by the caller for the next tick.
type Snapshot struct {
	// Now is the instant of the tick, from the caller's clock.
	Now time.Time
	// Agents are the campaign's logged-in agents, paused ones included.
	Agents []Agent
	// Calls are the calls in flight not yet answered.
	Calls []Call
	// Waiting is the number of calls answered by a person (or transferred
	// out of an IVR session) and waiting for an agent now.
	Waiting int
	// Sessions is the number of IVR sessions running now (agentless
	// campaigns).
	Sessions int
	Trunk    Trunk
	Settings Settings
	// Window, when set, gives the compliance window's counts from the
	// campaign's shared counters; otherwise the pacer uses the events it has
	// observed itself.
	Window *WindowCounts
}

// EventKind is an outcome the pacer learns from.
type EventKind uint8

const (
	// AnsweredLive: a person answered; Duration is the ring time.
	AnsweredLive EventKind = iota + 1
	// AnsweredMachine: an answering machine answered; Duration is the ring time.
	AnsweredMachine
	// NotAnswered: the call ended without an answer (ring timeout, busy,
	// rejected, failed); Duration is the time from sending to the end.
	NotAnswered
	// Connected: a live answer was bridged to an agent; Duration is how long
	// it waited.
	Connected
	// Abandoned: a live answer found no agent in time and was dropped (with
	// the required message). An answering machine misdetected as a person
	// and dropped counts too.
	Abandoned
	// TalkEnded: an agent's call ended; Duration is the talk time.
	TalkEnded
	// WrapEnded: an agent finished wrap-up; Duration is the wrap-up time.
	WrapEnded
	// SessionEnded: an IVR session ended without a transfer to an agent;
	// Duration is its length.
	SessionEnded
	// Transferred: an IVR session asked for an agent; Duration is the time
	// from answer to the transfer.
	Transferred
)

var eventKindNames = [...]string{"", "answered_live", "answered_machine", "not_answered", "connected",
	"abandoned", "talk_ended", "wrap_ended", "session_ended", "transferred"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && k > 0 {
		return eventKindNames[k]
	}
	return "unknown"
}

// Event is one outcome, as it happened.
type Event struct {
	Kind     EventKind
	At       time.Time
	Duration time.Duration
}

// Reason says why a decision dials what it dials (for metrics and tests).
type Reason string

const (
	ReasonDial       Reason = "dial"
	ReasonNoAgents   Reason = "no_agents"     // none logged in, or all paused or leaving
	ReasonNoneSoon   Reason = "no_agent_soon" // no agent ready or likely free within the horizon
	ReasonWarmUp     Reason = "warm_up"       // progressive until the model has enough data
	ReasonEnough     Reason = "enough"        // the calls in flight already cover what is expected
	ReasonCapLines   Reason = "cap_lines"     // max lines per agent
	ReasonCapCPS     Reason = "cap_cps"       // the trunk's calls per second
	ReasonCapChannel Reason = "cap_channels"  // no free channel
	ReasonWait       Reason = "wait"          // between placement rounds (VICIdial places every 2.5 s)
)

// Decision is a pacer's answer for one tick.
type Decision struct {
	// Dial is the number of calls to place now.
	Dial   int
	Reason Reason
	// DialLevel is calls in flight after this tick per available agent.
	DialLevel float64
	// PredictedFree is the number of agents expected free within the horizon
	// (ready ones included); PredictedLive the live answers expected from
	// the calls in flight within it (predictive and agentless pacers).
	PredictedFree, PredictedLive float64
}

// Pacer decides how many calls a campaign places on each tick.
type Pacer interface {
	// Observe learns from an outcome. Events arrive in time order.
	Observe(Event)
	// Decide answers for the tick described by s.
	Decide(s *Snapshot) Decision
	// Name is the pacer's mode name ("progressive", "vicidial", ...).
	Name() string
}
