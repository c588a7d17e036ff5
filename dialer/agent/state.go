package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Status is an agent's state as one transition left it.
type Status struct {
	Agent    string `json:"agent"`
	Campaign string `json:"campaign,omitempty"` // empty when logged out
	Node     string `json:"node,omitempty"`     // the node holding the agent's leg
	State    State  `json:"state"`
	// Since is when the agent entered State.
	Since time.Time `json:"since"`
	// IdleSince orders ready agents (longest idle first); kept while
	// reserved.
	IdleSince time.Time `json:"idle_since,omitzero"`
	// Reason is the pause code when paused, why when logged out.
	Reason string `json:"reason,omitempty"`
	// Leaving is what the agent asked for during a call (LeavePause with
	// LeaveReason as its code, or LeaveLogout): applied when the call and
	// its wrap-up end.
	Leaving     Leaving   `json:"leaving,omitempty"`
	LeaveReason string    `json:"leave_reason,omitempty"`
	Call        string    `json:"call,omitempty"` // the call (attempt id) while reserved, talking or in wrap-up
	CallAt      time.Time `json:"call_at,omitzero"`
	LoginAt     time.Time `json:"login_at,omitzero"`
	gen         int64
}

// InState is how long the agent has been in its state at now.
func (s Status) InState(now time.Time) time.Duration {
	if s.Since.IsZero() || now.Before(s.Since) {
		return 0
	}
	return now.Sub(s.Since)
}

// entry is a state entry as the scripts store it.
type entry struct {
	State       State   `json:"state"`
	Since       luaInt  `json:"since"`
	IdleSince   luaInt  `json:"idle_since"`
	Node        string  `json:"node"`
	Gen         luaInt  `json:"gen"`
	Reason      string  `json:"reason"`
	Leaving     Leaving `json:"leaving"`
	LeaveReason string  `json:"leave_reason"`
	Call        string  `json:"call"`
	CallAt      luaInt  `json:"call_at"`
	LoginAt     luaInt  `json:"login_at"`
}

// luaInt is an integer as Redis's cjson writes it: plain up to 14 digits
// (milliseconds until the year 2286), with an exponent beyond.
type luaInt int64

func (v *luaInt) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("number %.30q: %w", b, err)
	}
	*v = luaInt(f)
	return nil
}

func decodeEntry(agent, campaign, raw string) (Status, error) {
	if raw == "" {
		return Status{Agent: agent, State: LoggedOut}, nil
	}
	var e entry
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Status{}, fmt.Errorf("agent %s in %s: decode state: %w", agent, campaign, err)
	}
	s := Status{Agent: agent, Campaign: campaign, Node: e.Node, State: e.State, Since: fromMS(int64(e.Since)),
		IdleSince: fromMS(int64(e.IdleSince)), Reason: e.Reason, Leaving: e.Leaving, LeaveReason: e.LeaveReason,
		Call: e.Call, CallAt: fromMS(int64(e.CallAt)), LoginAt: fromMS(int64(e.LoginAt)), gen: int64(e.Gen)}
	if s.State == "" {
		s.State = LoggedOut
	}
	if s.State == LoggedOut {
		s.Campaign, s.Node, s.CallAt = "", "", time.Time{}
	}
	return s, nil
}

// common are a state script's first arguments (see luaCommon).
func (p *Pool) common(now time.Time, node, campaign string) []any {
	return []any{ms(now), node, campaign, p.maxlen, p.ttl.Milliseconds(), int64(retention / time.Second)}
}

func (p *Pool) day(now time.Time) string { return now.In(p.zone).Format(dayFmt) }

// location is where an agent is logged in, as the directory records it.
type location struct {
	campaign, node string
	gen            int64
	raw            string
}

func parseLocation(v string) (location, bool) {
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		return location{}, false
	}
	g, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return location{}, false
	}
	return location{campaign: parts[0], gen: g, node: parts[2], raw: v}, true
}

func (l location) String() string {
	return l.campaign + "|" + strconv.FormatInt(l.gen, 10) + "|" + l.node
}

func (p *Pool) where(ctx context.Context, id string) (location, bool, error) {
	v, err := p.rdb.HGet(ctx, whereKey, id).Result()
	if errors.Is(err, redis.Nil) {
		return location{}, false, nil
	}
	if err != nil {
		return location{}, false, fmt.Errorf("agent %s: read location: %w", id, err)
	}
	l, ok := parseLocation(v)
	if !ok {
		return location{raw: v}, false, nil
	}
	return l, true, nil
}

// swapWhere replaces the recorded location old by new ("" deletes) if it is
// still old.
func (p *Pool) swapWhere(ctx context.Context, id, old, new string) error {
	if err := whereSwapScript.Run(ctx, p.rdb, []string{whereKey}, id, old, new).Err(); err != nil {
		return fmt.Errorf("agent %s: update location: %w", id, err)
	}
	return nil
}

// run executes one transition script call and decodes its answer. detail
// is why it was refused, or, for a reserve that took the account's pinned
// agent, "1".
func (p *Pool) run(ctx context.Context, op, campaign, node, agent, call, reason string, gen int64, flag string) (res string, st Status, detail string, err error) {
	now := p.now()
	k := ck(campaign)
	args := append(p.common(now, node, campaign), op, agent, call, reason, gen, flag)
	v, err := transitionScript.Run(ctx, p.rdb, k.scriptKeys(node, p.day(now)), args...).StringSlice()
	if err != nil {
		return "", Status{}, "", fmt.Errorf("agent %s: %s in campaign %s: %w", agent, op, campaign, err)
	}
	res = v[0]
	if res == "none" {
		return res, Status{}, "", nil
	}
	if res == "ok" && len(v) > 3 {
		if v[2] != "" {
			agent = v[2] // reserve: the agent it reserved
		}
		detail = v[3]
		p.logExits(ctx, campaign, now, v[4:])
	}
	st, err = decodeEntry(agent, campaign, v[1])
	if len(v) > 2 && res == "refused" {
		detail = v[2]
	}
	return res, st, detail, err
}

func refused(op string, st Status, detail string) error {
	return &TransitionError{Agent: st.Agent, Op: op, Campaign: st.Campaign, Current: st.State,
		Leaving: st.Leaving, Call: st.Call, Detail: detail}
}

// Login logs agent id in to campaign, held by node (the node that holds, or
// will hold, the agent's nailed-up leg). The agent lands in Ready when ready
// is true, else in Paused with reason "login" (the node makes it Ready once
// the leg is up). An agent works one campaign at a time: logging in to
// another campaign while logged in is refused with the campaign it is in.
// The campaign must be in the agent's definition (ErrCampaignNotAllowed).
func (p *Pool) Login(ctx context.Context, id, campaign, node string, ready bool) (Status, error) {
	for _, c := range []struct{ f, v string }{{"id", id}, {"campaign", campaign}, {"node", node}} {
		if err := checkRef(c.f, c.v); err != nil {
			return Status{}, err
		}
	}
	a, err := p.Get(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if err := a.mayWork(campaign); err != nil {
		return Status{}, err
	}
	flag := "paused"
	if ready {
		flag = "ready"
	}
	// Where the agent is lives in the directory's slot, its state in the
	// campaign's: two scripts. The location is claimed first with a new
	// login generation; the campaign's login script refuses a generation
	// that a takeover (below) has spent there, so two logins racing to two
	// campaigns never both succeed.
	for try := 0; try < 4; try++ {
		v, err := whereClaimScript.Run(ctx, p.rdb, []string{whereKey, gensKey, campaignsKey}, id, campaign, node).StringSlice()
		if err != nil {
			return Status{}, fmt.Errorf("agent %s: login to %s: claim location: %w", id, campaign, err)
		}
		if v[0] == "held" {
			if err := p.takeOver(ctx, id, v[1]); err != nil {
				return Status{}, err
			}
			continue
		}
		gen, _ := strconv.ParseInt(v[1], 10, 64)
		mine := location{campaign: campaign, node: node, gen: gen}
		res, st, detail, err := p.run(ctx, "login", campaign, node, id, "", "", gen, flag)
		if err != nil {
			return Status{}, err
		}
		if res != "ok" {
			if st.State != LoggedOut {
				// Logged in here under a location the directory lost: put
				// the real one back.
				_ = p.swapWhere(ctx, id, mine.String(), location{campaign: campaign, node: st.Node, gen: st.gen}.String())
			}
			return Status{}, refused("login", st, detail)
		}
		p.log.Info("agent: logged in", "agent", id, "campaign", campaign, "node", node, "state", st.State)
		return st, nil
	}
	return Status{}, &TransitionError{Agent: id, Op: "login", Current: LoggedOut, Detail: "concurrent logins; try again"}
}

// mayWork says whether the agent's definition lets it log in to campaign
// (ErrCampaignNotAllowed).
func (a Agent) mayWork(campaign string) error {
	if !slices.Contains(a.Campaigns, campaign) {
		return fmt.Errorf("agent %s: login to %s (agent's campaigns: %s): %w", a.ID, campaign,
			strings.Join(a.Campaigns, ", "), ErrCampaignNotAllowed)
	}
	return nil
}

// takeOver clears a recorded location the agent is no longer logged in at
// (refusing, with its state, if it is), so a login can claim a new one.
func (p *Pool) takeOver(ctx context.Context, id, raw string) error {
	l, ok := parseLocation(raw)
	if !ok {
		p.log.Error("agent: unreadable location dropped", "agent", id, "location", raw)
		return p.swapWhere(ctx, id, raw, "")
	}
	res, st, detail, err := p.run(ctx, "fence", l.campaign, l.node, id, "", "", l.gen, "")
	if err != nil {
		return err
	}
	if res != "ok" {
		if detail == "" {
			detail = "log out first"
		}
		return refused("login", st, detail)
	}
	return p.swapWhere(ctx, id, raw, "")
}

// byAgent runs an operation addressed by agent id: where the agent is comes
// from the directory.
func (p *Pool) byAgent(ctx context.Context, op, id, reason string) (Status, error) {
	if err := checkRef("id", id); err != nil {
		return Status{}, err
	}
	for try := 0; try < 3; try++ {
		l, ok, err := p.where(ctx, id)
		if err != nil {
			return Status{}, err
		}
		if !ok {
			if l.raw != "" {
				_ = p.swapWhere(ctx, id, l.raw, "")
			}
			if _, err := p.Get(ctx, id); err != nil {
				return Status{}, err
			}
			return Status{}, &TransitionError{Agent: id, Op: op, Current: LoggedOut}
		}
		res, st, detail, err := p.run(ctx, op, l.campaign, l.node, id, "", reason, l.gen, "")
		if err != nil {
			return Status{}, err
		}
		switch res {
		case "stale":
			// Recorded on another node than the state says: fix and retry.
			_ = p.swapWhere(ctx, id, l.raw, location{campaign: l.campaign, node: st.Node, gen: st.gen}.String())
			continue
		case "refused":
			if st.State == LoggedOut {
				_ = p.swapWhere(ctx, id, l.raw, "")
			}
			return Status{}, refused(op, st, detail)
		}
		p.after(ctx, op, st, l)
		return st, nil
	}
	return Status{}, fmt.Errorf("agent %s: %s: location keeps changing", id, op)
}

// after clears the location of an agent a transition logged out, and logs
// the transitions that matter.
func (p *Pool) after(ctx context.Context, op string, st Status, l location) {
	if st.State == LoggedOut {
		if err := p.swapWhere(ctx, st.Agent, l.String(), ""); err != nil {
			p.log.Warn("agent: location not cleared after logout (the next login clears it)", "agent", st.Agent, "err", err)
		}
		p.log.Info("agent: logged out", "agent", st.Agent, "campaign", l.campaign, "node", l.node, "op", op, "reason", st.Reason)
		return
	}
	// A disconnect is logged by its caller, who knows why the leg dropped
	// (Station: one line a drop).
}

// Ready makes a paused agent ready, ends wrap-up at the agent's request
// (ready at once, cancelling a pause or logout asked for during the call),
// or, in a call (reserved, talking) with a pause or logout pending, cancels
// it. Anything else is refused.
func (p *Pool) Ready(ctx context.Context, id string) (Status, error) {
	return p.byAgent(ctx, "ready", id, "")
}

// Pause pauses a ready agent (or changes a paused agent's reason) at once;
// in a call (reserved, talking, wrap-up) it takes effect when the call and
// its wrap-up end (Status.Leaving).
func (p *Pool) Pause(ctx context.Context, id, reason string) (Status, error) {
	if err := checkCode("reason", reason); err != nil {
		return Status{}, err
	}
	return p.byAgent(ctx, "pause", id, reason)
}

// Logout logs a ready or paused agent out at once; in a call it takes effect
// when the call and its wrap-up end (Status.Leaving).
func (p *Pool) Logout(ctx context.Context, id string) (Status, error) {
	return p.byAgent(ctx, "logout", id, ReasonLogout)
}

// Disconnect pauses the agent at once from any logged-in state with reason
// (default phone_disconnected): the node lost the agent's nailed-up leg. A
// reserved or talking agent's call is no longer the agent's (the caller
// handles the debtor leg); an agent who had asked to log out is logged out.
// The caller logs the drop, with why (the pool does not know it).
func (p *Pool) Disconnect(ctx context.Context, id, reason string) (Status, error) {
	if reason == "" {
		reason = ReasonPhoneDisconnected
	}
	if err := checkCode("reason", reason); err != nil {
		return Status{}, err
	}
	return p.byAgent(ctx, "disconnect", id, reason)
}

// Status reads an agent's state. An agent that is not logged in is
// LoggedOut with no campaign.
func (p *Pool) Status(ctx context.Context, id string) (Status, error) {
	if _, err := p.Get(ctx, id); err != nil {
		return Status{}, err
	}
	l, ok, err := p.where(ctx, id)
	if err != nil || !ok {
		return Status{Agent: id, State: LoggedOut}, err
	}
	raw, err := p.rdb.HGet(ctx, ck(l.campaign).state(), id).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Status{}, fmt.Errorf("agent %s: read state: %w", id, err)
	}
	return decodeEntry(id, l.campaign, raw)
}

// Reservation is an agent reserved for a call. Its holder must Connect or
// Release it; Hangup and EndWrap follow.
type Reservation struct {
	Campaign, Node, Agent string
	Call                  string    // the call's attempt id
	At                    time.Time // reserved at
	// IdleSince is how long the agent had been waiting: At − IdleSince is
	// the agent's idle time before this call.
	IdleSince time.Time
	// Pinned: the agent is the one the account's personal call back is
	// pinned to (ReserveFor); its pin is dropped once the call is bridged
	// (Unpin).
	Pinned bool
}

// Reserve reserves the campaign's longest-idle ready agent held by node for
// call in one atomic step; ok is false when no agent is ready. No agent is
// ever reserved twice: the pick and the state change are one script.
func (p *Pool) Reserve(ctx context.Context, campaign, node, call string) (Reservation, bool, error) {
	return p.ReserveFor(ctx, campaign, node, "", call)
}

// ReserveFor reserves an agent for the answered call of account ("" for
// none) in one script call, one Redis round trip: the agent the account's
// personal call back is pinned to (PinCallback) when it is ready and held
// by node (Reservation.Pinned), else the longest-idle ready agent held by
// node; ok is false when neither is. A lapsed pin is dropped on the way.
// An agent campaign's call and `marcador bench bridge` take their agent
// through here.
func (p *Pool) ReserveFor(ctx context.Context, campaign, node, account, call string) (Reservation, bool, error) {
	for _, c := range []struct{ f, v string }{{"campaign", campaign}, {"node", node}} {
		if err := checkRef(c.f, c.v); err != nil {
			return Reservation{}, false, err
		}
	}
	if err := checkCall(call); err != nil {
		return Reservation{}, false, err
	}
	res, st, pinned, err := p.run(ctx, "reserve", campaign, node, "", call, "", 0, account)
	if err != nil || res != "ok" {
		return Reservation{}, false, err
	}
	return Reservation{Campaign: campaign, Node: node, Agent: st.Agent, Call: call, At: st.Since, IdleSince: st.IdleSince,
		Pinned: pinned == "1"}, true, nil
}

// ReserveAgent reserves one given agent for call, if it is ready and held
// by node (a preview dial: the agent who chose the account); ok is false
// otherwise.
func (p *Pool) ReserveAgent(ctx context.Context, campaign, node, agent, call string) (Reservation, bool, error) {
	for _, c := range []struct{ f, v string }{{"campaign", campaign}, {"node", node}, {"agent", agent}} {
		if err := checkRef(c.f, c.v); err != nil {
			return Reservation{}, false, err
		}
	}
	if err := checkCall(call); err != nil {
		return Reservation{}, false, err
	}
	res, st, _, err := p.run(ctx, "reserve_agent", campaign, node, agent, call, "", 0, "")
	if err != nil || res != "ok" {
		return Reservation{}, false, err
	}
	return Reservation{Campaign: campaign, Node: node, Agent: st.Agent, Call: call, At: st.Since, IdleSince: st.IdleSince}, true, nil
}

func (p *Pool) byCall(ctx context.Context, op string, r Reservation) (Status, error) {
	for _, c := range []struct{ f, v string }{{"campaign", r.Campaign}, {"node", r.Node}, {"agent", r.Agent}} {
		if err := checkRef(c.f, c.v); err != nil {
			return Status{}, err
		}
	}
	if err := checkCall(r.Call); err != nil {
		return Status{}, err
	}
	res, st, detail, err := p.run(ctx, op, r.Campaign, r.Node, r.Agent, r.Call, "", 0, "")
	if err != nil {
		return Status{}, err
	}
	if res == "stale" {
		return Status{}, refused(op, st, "the agent is held by node "+st.Node+", not "+r.Node)
	}
	if res != "ok" {
		return Status{}, refused(op, st, detail)
	}
	p.after(ctx, op, st, location{campaign: r.Campaign, node: r.Node, gen: st.gen})
	return st, nil
}

// Release gives a reserved agent back: the call failed before the bridge.
// The agent goes back to Ready keeping its idle-since (it got no call, so it
// keeps its place at the head of the queue), or to the pause or logout it
// asked for meanwhile.
func (p *Pool) Release(ctx context.Context, r Reservation) (Status, error) {
	return p.byCall(ctx, "release", r)
}

// Connect marks the bridge made: reserved → talking. The call counts in the
// agent's calls of the day.
func (p *Pool) Connect(ctx context.Context, r Reservation) (Status, error) {
	return p.byCall(ctx, "connect", r)
}

// Hangup ends the agent's call: talking → wrap-up.
func (p *Pool) Hangup(ctx context.Context, r Reservation) (Status, error) {
	return p.byCall(ctx, "hangup", r)
}

// EndWrap ends wrap-up (disposition sent, or the campaign's wrap-up limit):
// back to Ready, idle from now (the back of the queue), or to the pause or
// logout asked for during the call.
func (p *Pool) EndWrap(ctx context.Context, r Reservation) (Status, error) {
	return p.byCall(ctx, "end_wrap", r)
}
