package agent

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// start is a state an agent can be put in, with a pending leave.
type start struct {
	state   State
	leaving Leaving
}

func (s start) String() string {
	if s.leaving != "" {
		return string(s.state) + "+" + string(s.leaving)
	}
	return string(s.state)
}

// put brings a fresh agent of campaign c, held by node, to s; it returns
// the agent and its reservation (calls).
func (e *env) put(c, node string, s start) (string, Reservation) {
	e.t.Helper()
	id := e.agent(c)
	r := Reservation{Campaign: c, Node: node, Agent: id, Call: "call-" + id}
	step := func(st Status, err error) {
		e.t.Helper()
		e.must(st, err)
		e.clk.Add(time.Second)
	}
	if s.state == LoggedOut {
		return id, r
	}
	step(e.p.Login(e.ctx, id, c, node, s.state != Paused))
	if s.state == Ready || s.state == Paused {
		return id, r
	}
	got, ok, err := e.p.Reserve(e.ctx, c, node, r.Call)
	if err != nil || !ok || got.Agent != id {
		e.t.Fatalf("reserve: %+v %v %v", got, ok, err)
	}
	if s.state != Reserved {
		step(e.p.Connect(e.ctx, r))
	}
	if s.state == WrapUp {
		step(e.p.Hangup(e.ctx, r))
	}
	switch s.leaving {
	case LeavePause:
		step(e.p.Pause(e.ctx, id, "lunch"))
	case LeaveLogout:
		step(e.p.Logout(e.ctx, id))
	}
	return id, r
}

// Every operation from every state: allowed ones move where the table says
// and publish one event stamped with the clock; refused ones are a
// *TransitionError naming the current state, change nothing and publish
// nothing.
func TestTransitions(t *testing.T) {
	e := newEnv(t)
	type want struct {
		to      State
		leaving Leaving
		reason  string
	}
	no := want{} // refused
	ops := []string{"login", "ready", "pause", "logout", "release", "connect", "hangup", "end_wrap", "disconnect"}
	table := []struct {
		from start
		want map[string]want // op → result; missing ops are refused
	}{
		{start{LoggedOut, ""}, map[string]want{"login": {Paused, "", ReasonLogin}}},
		{start{Ready, ""}, map[string]want{"pause": {Paused, "", "break"}, "logout": {LoggedOut, "", ReasonLogout},
			"disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{Paused, ""}, map[string]want{"ready": {Ready, "", ""}, "pause": {Paused, "", "break"},
			"logout": {LoggedOut, "", ReasonLogout}, "disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{Reserved, ""}, map[string]want{"pause": {Reserved, LeavePause, ""}, "logout": {Reserved, LeaveLogout, ""},
			"release": {Ready, "", ""}, "connect": {Talking, "", ""}, "disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{Talking, ""}, map[string]want{"pause": {Talking, LeavePause, ""}, "logout": {Talking, LeaveLogout, ""},
			"hangup": {WrapUp, "", ""}, "disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{WrapUp, ""}, map[string]want{"ready": {Ready, "", ""}, "pause": {WrapUp, LeavePause, ""},
			"logout": {WrapUp, LeaveLogout, ""}, "end_wrap": {Ready, "", ""}, "disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{Reserved, LeavePause}, map[string]want{"ready": {Reserved, "", ""}, "pause": {Reserved, LeavePause, ""},
			"logout": {Reserved, LeaveLogout, ""}, "release": {Paused, "", "lunch"}, "connect": {Talking, LeavePause, ""},
			"disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{Reserved, LeaveLogout}, map[string]want{"ready": {Reserved, "", ""}, "pause": {Reserved, LeavePause, ""},
			"logout": {Reserved, LeaveLogout, ""}, "release": {LoggedOut, "", ReasonLogout}, "connect": {Talking, LeaveLogout, ""},
			"disconnect": {LoggedOut, "", ReasonLogout}}},
		{start{Talking, LeavePause}, map[string]want{"ready": {Talking, "", ""}, "pause": {Talking, LeavePause, ""},
			"logout": {Talking, LeaveLogout, ""}, "hangup": {WrapUp, LeavePause, ""}, "disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{Talking, LeaveLogout}, map[string]want{"ready": {Talking, "", ""}, "pause": {Talking, LeavePause, ""},
			"logout": {Talking, LeaveLogout, ""}, "hangup": {WrapUp, LeaveLogout, ""}, "disconnect": {LoggedOut, "", ReasonLogout}}},
		{start{WrapUp, LeavePause}, map[string]want{"ready": {Ready, "", ""}, "pause": {WrapUp, LeavePause, ""},
			"logout": {WrapUp, LeaveLogout, ""}, "end_wrap": {Paused, "", "lunch"}, "disconnect": {Paused, "", ReasonPhoneDisconnected}}},
		{start{WrapUp, LeaveLogout}, map[string]want{"ready": {Ready, "", ""}, "pause": {WrapUp, LeavePause, ""},
			"logout": {WrapUp, LeaveLogout, ""}, "end_wrap": {LoggedOut, "", ReasonLogout}, "disconnect": {LoggedOut, "", ReasonLogout}}},
	}
	// One campaign; each case has its own node, so its own idle queue.
	c := e.campaign()
	n := 0
	for _, row := range table {
		for _, op := range ops {
			w, allowed := row.want[op]
			if !allowed {
				w = no
			}
			name := fmt.Sprintf("%s/%s", row.from, op)
			t.Run(name, func(t *testing.T) {
				e.t = t
				node := fmt.Sprintf("n%d", n)
				id, r := e.put(c, node, row.from)
				before := e.status(id)
				last, lerr := e.p.LastEventID(e.ctx, c)
				if lerr != nil {
					t.Fatal(lerr)
				}
				at := e.clk.Add(time.Second)
				var st Status
				var err error
				switch op {
				case "login":
					st, err = e.p.Login(e.ctx, id, c, node, false)
				case "ready":
					st, err = e.p.Ready(e.ctx, id)
				case "pause":
					reason := "break"
					if row.from.leaving != "" {
						reason = "lunch"
					}
					st, err = e.p.Pause(e.ctx, id, reason)
				case "logout":
					st, err = e.p.Logout(e.ctx, id)
				case "release":
					st, err = e.p.Release(e.ctx, r)
				case "connect":
					st, err = e.p.Connect(e.ctx, r)
				case "hangup":
					st, err = e.p.Hangup(e.ctx, r)
				case "end_wrap":
					st, err = e.p.EndWrap(e.ctx, r)
				case "disconnect":
					st, err = e.p.Disconnect(e.ctx, id, "")
				}
				evs, evErr := e.p.Events(e.ctx, c, last, 100)
				if evErr != nil {
					t.Fatal(evErr)
				}
				if !allowed {
					var te *TransitionError
					if !errors.As(err, &te) || !errors.Is(err, ErrTransition) {
						t.Fatalf("%s from %s: %v, want a TransitionError", op, row.from, err)
					}
					if te.Current != row.from.state || te.Leaving != row.from.leaving || te.Agent != id || te.Op != op {
						t.Fatalf("error %+v, want current %s", te, row.from)
					}
					if !strings.Contains(err.Error(), string(row.from.state)) {
						t.Fatalf("error does not name the state: %v", err)
					}
					if after := e.status(id); after != before {
						t.Fatalf("a refused %s changed the state: %+v → %+v", op, before, after)
					}
					if len(evs) != 0 {
						t.Fatalf("a refused %s published %d events", op, len(evs))
					}
					return
				}
				if err != nil {
					t.Fatalf("%s from %s: %v", op, row.from, err)
				}
				if st.State != w.to || st.Leaving != w.leaving || st.Reason != w.reason {
					t.Fatalf("%s from %s: %s+%s (%s), want %s+%s (%s)", op, row.from, st.State, st.Leaving, st.Reason, w.to, w.leaving, w.reason)
				}
				if got := e.status(id); got.State != st.State || got.Leaving != st.Leaving {
					t.Fatalf("Status %+v after %s, returned %+v", got, op, st)
				}
				if st.State != row.from.state && !st.Since.Equal(at) {
					t.Fatalf("since %s, want the clock's %s", st.Since, at)
				}
				if len(evs) != 1 {
					t.Fatalf("%s published %d events, want 1", op, len(evs))
				}
				ev := evs[0]
				if ev.Kind != op || ev.Agent != id || ev.Campaign != c || ev.From != row.from.state || ev.To != w.to ||
					!ev.At.Equal(at) || ev.Leaving != w.leaving || ev.Node != node {
					t.Fatalf("event %+v after %s from %s at %s", ev, op, row.from, at)
				}
				// The idle queue holds exactly the ready agents.
				inIdle := strings.Contains(strings.Join(e.idle(c, node), ","), id)
				if inIdle != (st.State == Ready) {
					t.Fatalf("agent in idle queue: %v, state %s", inIdle, st.State)
				}
				if st.State == LoggedOut {
					if l, ok, _ := e.p.where(e.ctx, id); ok {
						t.Fatalf("location %v kept after logout", l)
					}
					if e.rdb.ZScore(e.ctx, ck(c).lease(), id).Err() == nil || e.rdb.SIsMember(e.ctx, ck(c).held(node), id).Val() {
						t.Fatal("lease or held entry kept after logout")
					}
				}
			})
			n++
		}
	}
	e.t = t
	if n != 12*len(ops) {
		t.Fatalf("%d cases", n)
	}
}

func TestLoginReadyFlagAndWrongCall(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	id := e.agent(c)
	st := e.must(e.p.Login(e.ctx, id, c, "n1", true))
	if st.State != Ready || !st.IdleSince.Equal(base) || st.Campaign != c || st.Node != "n1" || !st.LoginAt.Equal(base) {
		t.Fatalf("login ready: %+v", st)
	}
	r, ok, err := e.p.Reserve(e.ctx, c, "n1", "call-1")
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	// An operation naming another call (a late timer of an earlier one) is
	// refused with the agent's call.
	_, err = e.p.Connect(e.ctx, Reservation{Campaign: c, Node: "n1", Agent: id, Call: "call-0"})
	var te *TransitionError
	if !errors.As(err, &te) || te.Current != Reserved || te.Call != "call-1" || !strings.Contains(te.Detail, "call-0") {
		t.Fatalf("wrong call: %v", err)
	}
	// The wrong node's keys are refused too.
	if _, err = e.p.Connect(e.ctx, Reservation{Campaign: c, Node: "n2", Agent: id, Call: "call-1"}); !errors.As(err, &te) {
		t.Fatalf("wrong node: %v", err)
	}
	e.must(e.p.Connect(e.ctx, r))
	// Not allowed: a campaign outside the definition; a bad reason code.
	other := e.agent(c)
	if _, err := e.p.Login(e.ctx, other, e.campaign(), "n1", true); !errors.Is(err, ErrCampaignNotAllowed) {
		t.Fatalf("login elsewhere: %v", err)
	}
	var fe *FieldError
	if _, err := e.p.Pause(e.ctx, id, "Bad Reason"); !errors.As(err, &fe) || fe.Field != "reason" {
		t.Fatalf("bad reason: %v", err)
	}
	if _, err := e.p.Ready(e.ctx, "a-unknown-"+rnd()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
	if _, _, err := e.p.Reserve(e.ctx, c, "n1", ""); !errors.As(err, &fe) || fe.Field != "call" {
		t.Fatalf("reserve without call: %v", err)
	}
}

// A full day of one agent, read back from the stream in order.
func TestEventsInOrder(t *testing.T) {
	e := newEnv(t)
	c := e.campaign()
	id := e.agent(c)
	type step struct {
		kind     string
		from, to State
		do       func() (Status, error)
	}
	r := Reservation{Campaign: c, Node: "n1", Agent: id, Call: "k1"}
	steps := []step{
		{"login", LoggedOut, Paused, func() (Status, error) { return e.p.Login(e.ctx, id, c, "n1", false) }},
		{"ready", Paused, Ready, func() (Status, error) { return e.p.Ready(e.ctx, id) }},
		{"reserve", Ready, Reserved, func() (Status, error) {
			got, _, err := e.p.Reserve(e.ctx, c, "n1", "k1")
			return Status{Agent: got.Agent, State: Reserved}, err
		}},
		{"connect", Reserved, Talking, func() (Status, error) { return e.p.Connect(e.ctx, r) }},
		{"pause", Talking, Talking, func() (Status, error) { return e.p.Pause(e.ctx, id, "lunch") }},
		{"hangup", Talking, WrapUp, func() (Status, error) { return e.p.Hangup(e.ctx, r) }},
		{"end_wrap", WrapUp, Paused, func() (Status, error) { return e.p.EndWrap(e.ctx, r) }},
		{"ready", Paused, Ready, func() (Status, error) { return e.p.Ready(e.ctx, id) }},
		{"logout", Ready, LoggedOut, func() (Status, error) { return e.p.Logout(e.ctx, id) }},
	}
	for i, s := range steps {
		e.clk.Set(base.Add(time.Duration(i) * time.Minute))
		if _, err := s.do(); err != nil {
			t.Fatalf("step %d %s: %v", i, s.kind, err)
		}
	}
	evs := e.events(c)
	if len(evs) != len(steps) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(steps), evs)
	}
	for i, s := range steps {
		ev := evs[i]
		if ev.Kind != s.kind || ev.From != s.from || ev.To != s.to || !ev.At.Equal(base.Add(time.Duration(i)*time.Minute)) {
			t.Errorf("event %d: %+v, want %s %s→%s", i, ev, s.kind, s.from, s.to)
		}
	}
	if evs[4].Leaving != LeavePause || evs[4].Reason != "lunch" || evs[4].Call != "k1" || evs[6].Reason != "lunch" || evs[6].Call != "k1" {
		t.Errorf("pause in a call: %+v then %+v", evs[4], evs[6])
	}
	// Reading on from an id gives what follows.
	rest, _ := e.p.Events(e.ctx, c, evs[6].ID, 100)
	if len(rest) != 2 || rest[0].ID != evs[7].ID {
		t.Errorf("events after %s: %+v", evs[6].ID, rest)
	}
}

// An agent works one campaign at a time; two logins racing to two
// campaigns never both win.
func TestOneCampaignAtATime(t *testing.T) {
	e := newEnv(t)
	c1, c2 := e.campaign(), e.campaign()
	id := e.agent(c1, c2)
	e.must(e.p.Login(e.ctx, id, c1, "n1", true))
	_, err := e.p.Login(e.ctx, id, c2, "n1", true)
	var te *TransitionError
	if !errors.As(err, &te) || te.Campaign != c1 || te.Current != Ready {
		t.Fatalf("login to a second campaign: %v", err)
	}
	if _, err = e.p.Login(e.ctx, id, c1, "n2", true); !errors.As(err, &te) || te.Current != Ready {
		t.Fatalf("login again: %v", err)
	}
	e.must(e.p.Logout(e.ctx, id))
	e.must(e.p.Login(e.ctx, id, c2, "n2", false))
	if st := e.status(id); st.Campaign != c2 || st.Node != "n2" || st.State != Paused {
		t.Fatalf("after moving: %+v", st)
	}
	e.must(e.p.Logout(e.ctx, id))

	// A location left behind (a crash between the two login steps) does
	// not stop the next login.
	e.rdb.HSet(e.ctx, whereKey, id, c1+"|999|n9")
	e.must(e.p.Login(e.ctx, id, c2, "n1", true))
	e.must(e.p.Logout(e.ctx, id))

	// Races: several pools (processes) log the same agent in to two
	// campaigns at once, many times.
	pools := []*Pool{e.p, e.pool(), e.pool(), e.pool()}
	for round := 0; round < 30; round++ {
		var wg sync.WaitGroup
		wins := make(chan string, len(pools))
		for i, p := range pools {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := []string{c1, c2}[i%2]
				if _, err := p.Login(e.ctx, id, c, "n1", true); err == nil {
					wins <- c
				} else if !errors.Is(err, ErrTransition) {
					t.Errorf("login: %v", err)
				}
			}()
		}
		wg.Wait()
		close(wins)
		var won []string
		for c := range wins {
			won = append(won, c)
		}
		if len(won) > 1 {
			t.Fatalf("round %d: logged in %d times: %v", round, len(won), won)
		}
		// Exactly the campaign that won has the agent logged in.
		for _, c := range []string{c1, c2} {
			s, _ := e.rdb.HGet(e.ctx, ck(c).state(), id).Result()
			st, _ := decodeEntry(id, c, s)
			in := st.State != LoggedOut
			if in != (len(won) == 1 && won[0] == c) {
				t.Fatalf("round %d: winners %v, but in %s the agent is %s", round, won, c, st.State)
			}
		}
		if len(won) == 1 {
			if st := e.status(id); st.Campaign != won[0] || st.State != Ready {
				t.Fatalf("round %d: status %+v, won %v", round, st, won)
			}
			e.must(e.p.Logout(e.ctx, id))
		}
	}
}

func TestDecodeEntryNumbers(t *testing.T) {
	st, err := decodeEntry("a", "c", `{"state":"ready","since":1893456000000,"idle_since":1e+14,"node":"n1","gen":3}`)
	if err != nil || !st.Since.Equal(time.UnixMilli(1893456000000)) || !st.IdleSince.Equal(time.UnixMilli(1e14)) || st.gen != 3 {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := decodeEntry("a", "c", `{"since":"x"}`); err == nil {
		t.Fatal("a string as a number decoded")
	}
}
