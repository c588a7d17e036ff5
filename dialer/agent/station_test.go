package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/agent/agenttest"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

// jsonLogs keeps log lines (JSON) for tests that count them.
type jsonLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLogs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// lines are the records whose msg is msg.
func (l *jsonLogs) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// live is a test world on the real clock: stations (nodes), each with a SIP
// endpoint whose registrar takes the phones' REGISTERs, on the dev Redis.
type live struct {
	t    *testing.T
	ctx  context.Context
	rdb  redis.UniversalClient
	logs *jsonLogs
	log  *slog.Logger
	ttl  time.Duration
	src  netip.Addr // the phones' loopback address (the registrar counts failures per source)
}

func newLive(t *testing.T, ttl time.Duration) *live {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	n, _ := rand.Int(rand.Reader, big.NewInt(200*250))
	v := int(n.Int64())
	l := &live{t: t, ctx: ctx, rdb: client(t), logs: &jsonLogs{}, ttl: ttl,
		src: netip.AddrFrom4([4]byte{127, 90, byte(1 + v/250), byte(1 + v%250)})}
	l.log = slog.New(slog.NewJSONHandler(l.logs, nil))
	t.Cleanup(func() {
		if t.Failed() {
			l.logs.mu.Lock()
			t.Logf("log:\n%s", l.logs.buf.String())
			l.logs.mu.Unlock()
		}
	})
	return l
}

func (l *live) pool() *Pool {
	return New(Options{Client: l.rdb, LeaseTTL: l.ttl, Logger: l.log})
}

// node is one Marcador node: endpoint, registrar, station.
type node struct {
	id  string
	ep  *dialer.Endpoint
	reg *registrar.Registrar
	st  *Station
}

func (l *live) node(mod func(*StationOptions)) *node {
	l.t.Helper()
	p := l.pool()
	n := &node{id: "n-" + rnd()}
	var err error
	// The registrar's keys are its own (single-key scripts): a client
	// without this package's slot check.
	n.reg, err = registrar.New(l.ctx, registrar.Options{Redis: agentRedis(l.t), Credentials: p.RegistrarCredentials(), Realm: p.Realm(),
		Node: n.id, Logger: l.log})
	if err != nil {
		l.t.Fatal(err)
	}
	n.ep, err = dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 37500, Max: 37999},
		OnRegister: n.reg.Handle, Logger: l.log})
	if err != nil {
		l.t.Fatal(err)
	}
	opt := StationOptions{Pool: p, Node: n.id, Dialer: n.ep, Phones: n.reg, RingTimeout: 5 * time.Second,
		RTPTimeout: 5 * time.Second, KeepAlive: time.Second, KeepAliveTimeout: time.Second, Logger: l.log}
	if mod != nil {
		mod(&opt)
	}
	if n.st, err = NewStation(opt); err != nil {
		l.t.Fatal(err)
	}
	if err := n.st.Init(l.ctx); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		n.st.Close(ctx)
		n.ep.Close()
	})
	return n
}

// run runs the node's station until the test ends.
func (n *node) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.st.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// agent defines an agent working campaign, challenged with MD5 only; its
// keys and binding go when the test ends.
func (l *live) agent(campaign string) (id, user string) {
	l.t.Helper()
	id = "a-" + rnd()
	user = "u-" + id
	p := l.pool()
	if _, _, err := p.Put(l.ctx, Definition{ID: id, SIPUser: user, Password: testPassword, Campaigns: []string{campaign},
		Algorithms: []string{"md5"}}); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		ctx := context.Background()
		l.rdb.Del(ctx, defKey(id), "marcador:{registrar}:binding:"+id, "marcador:registrar:fail:{user:"+user+"}")
		l.rdb.SRem(ctx, idsKey, id)
		l.rdb.HDel(ctx, whereKey, id)
		l.rdb.HDel(ctx, gensKey, id)
		l.rdb.HDel(ctx, sipUsersKey, user)
		prefix := strconv.Itoa(len(id)) + ":" + id
		ms, _ := l.rdb.ZRange(ctx, "marcador:{registrar}:expiry", 0, -1).Result()
		for _, m := range ms {
			if strings.HasPrefix(m, prefix) {
				l.rdb.ZRem(ctx, "marcador:{registrar}:expiry", m)
			}
		}
	})
	return id, user
}

func (l *live) campaign() string {
	id := "c-" + rnd()
	l.t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := l.rdb.Keys(ctx, "marcador:{"+id+"}:*").Result()
		if len(keys) > 0 {
			l.rdb.Del(ctx, keys...)
		}
		l.rdb.SRem(ctx, campaignsKey, id)
	})
	return id
}

// phone starts a test phone for user and registers it at n.
func (l *live) phone(n *node, user string, o agenttest.Options) *agenttest.Phone {
	l.t.Helper()
	o.User, o.Registrar, o.Listen, o.Record = user, n.ep.Addr(), netip.AddrPortFrom(l.src, 0).String(), true
	if o.Password == "" {
		o.Password = testPassword
	}
	if o.RTPPorts == (media.PortRange{}) {
		o.RTPPorts = media.PortRange{Min: 38000, Max: 38499}
	}
	ph, err := agenttest.Start(o)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(ph.Close)
	if err := ph.Register(l.ctx); err != nil {
		l.t.Fatal(err)
	}
	return ph
}

func (l *live) status(id string) Status {
	l.t.Helper()
	st, err := l.pool().Status(l.ctx, id)
	if err != nil {
		l.t.Fatal(err)
	}
	return st
}

// waitState polls until the agent is in state with reason (any reason when
// empty).
func (l *live) waitState(id string, want State, reason string) Status {
	l.t.Helper()
	var st Status
	if !polltest.Until(30*time.Second, func() bool { st = l.status(id); return st.State == want && (reason == "" || st.Reason == reason) }) {
		l.t.Fatalf("agent %s is %s (%s) after 30s, want %s (%s)", id, st.State, st.Reason, want, reason)
	}
	return st
}

// lastEvent is the campaign's newest agent event.
func (l *live) lastEvent(campaign string) Event {
	l.t.Helper()
	evs, err := l.pool().Events(l.ctx, campaign, "", 1000)
	if err != nil {
		l.t.Fatal(err)
	}
	if len(evs) == 0 {
		return Event{}
	}
	return evs[len(evs)-1]
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Eventually(t, 30*time.Second, cond, what)
}

// waitEnded waits until the phone's call is over.
func waitEnded(t *testing.T, c *agenttest.Call, what string) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out after 30s waiting for %s", what)
	}
}

// waitEvent follows the campaign's agent events, from the oldest kept, until
// one matches, and returns it.
func (l *live) waitEvent(campaign, what string, match func(Event) bool) Event {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
	defer cancel()
	var got Event
	found := errors.New("found")
	err := l.pool().Follow(ctx, campaign, "0", func(ev Event) error {
		if match(ev) {
			got = ev
			return found
		}
		return nil
	})
	if !errors.Is(err, found) {
		l.t.Fatalf("no event of %s: %v", what, err)
	}
	return got
}

// login logs the agent in on n and returns the nailed-up call its phone
// answered.
func (l *live) login(n *node, id, campaign string, ph *agenttest.Phone) *agenttest.Call {
	l.t.Helper()
	if _, err := n.st.Login(l.ctx, id, campaign); err != nil {
		l.t.Fatal(err)
	}
	call, err := ph.NextCall(l.ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	return call
}

func ended(c *agenttest.Call) bool {
	select {
	case <-c.Ended():
		return true
	default:
		return false
	}
}

// Login calls the agent's registered phone (registered with MD5, the
// algorithm its definition asks for, through the node's endpoint, from
// behind a "NAT"), which answers by itself because the INVITE asks it to;
// the agent is ready on this node, the leg carries audio and stays up
// between calls (keep-alive OPTIONS answered), and logout hangs it up.
func TestStationLoginNailsUpTheLeg(t *testing.T) {
	t.Parallel()
	l := newLive(t, 30*time.Second)
	n := l.node(nil)
	c := l.campaign()
	id, user := l.agent(c)
	// The phone names a private address in its Contact, as behind a NAT:
	// only the address its REGISTER came from reaches it.
	ph := l.phone(n, user, agenttest.Options{Algorithm: "MD5", Advertise: "10.255.3.4:5060"})
	if bs, err := n.reg.Lookup(l.ctx, id); err != nil || len(bs) != 1 || !bs[0].NAT || bs[0].Received != ph.Addr() {
		t.Fatalf("binding %+v %v", bs, err)
	}
	st, err := n.st.Login(l.ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != Ready || st.Node != n.id || st.Campaign != c {
		t.Fatalf("after login: %+v", st)
	}
	call, err := ph.NextCall(l.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !agenttest.AutoAnswer(call.Invite) || call.Invite.GetHeader("Alert-Info") == nil {
		t.Fatalf("INVITE does not ask for auto-answer:\n%s", call.Invite)
	}
	sess, err := n.st.Session(id)
	if err != nil {
		t.Fatal(err)
	}
	tone := &media.Prompt{Name: "tone", Samples: media.Tone(700, 8000, media.SampleRate)}
	if _, err := sess.Play(l.ctx, false, tone); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "the phone to hear the tone", func() bool { return mediatest.ToneAt(call.Heard(), 700) >= 600*time.Millisecond })
	// The leg stays up between calls: keep-alives answered, nothing dropped.
	waitCond(t, "two keep-alives", func() bool { return ph.Pings() >= 2 })
	if ended(call) || l.status(id).State != Ready || len(n.st.Legs()) != 1 {
		t.Fatalf("leg ended %v, agent %+v, legs %v", ended(call), l.status(id), n.st.Legs())
	}
	// The events show the login paused until the leg was up.
	evs, _ := n.st.Pool().Events(l.ctx, c, "", 100)
	if len(evs) != 2 || evs[0].Kind != "login" || evs[0].To != Paused || evs[0].Reason != ReasonLogin || evs[1].To != Ready {
		t.Fatalf("events %+v", evs)
	}
	if st, err := n.st.Logout(l.ctx, id); err != nil || st.State != LoggedOut {
		t.Fatalf("logout: %+v %v", st, err)
	}
	waitEnded(t, call, "the leg to be hung up")
	if _, err := n.st.Session(id); !errors.Is(err, ErrNoLeg) {
		t.Fatalf("session after logout: %v", err)
	}
	if l := l.logs.lines("agent station: phone leg lost; agent paused"); len(l) != 0 {
		t.Fatalf("our own hangup counted as a drop: %v", l)
	}
}

// No registered phone: login is refused before anything changes. A phone
// that does not answer: the agent is logged out again and the error says
// how the call went.
func TestStationLoginRefusals(t *testing.T) {
	t.Parallel()
	l := newLive(t, 30*time.Second)
	n := l.node(nil)
	c := l.campaign()
	id, user := l.agent(c)
	if _, err := n.st.Login(l.ctx, id, c); !errors.Is(err, ErrNoPhone) {
		t.Fatalf("login without a phone: %v", err)
	}
	if evs, _ := n.st.Pool().Events(l.ctx, c, "", 10); len(evs) != 0 {
		t.Fatalf("a refused login left events %+v", evs)
	}
	if _, err := n.st.Login(l.ctx, id, "other"); !errors.Is(err, ErrCampaignNotAllowed) {
		t.Fatalf("login to a campaign not the agent's: %v", err)
	}
	ph := l.phone(n, user, agenttest.Options{})
	ph.Vanish() // registered, then gone: the INVITE gets nothing back
	_, err := n.st.Login(l.ctx, id, c)
	if !errors.Is(err, ErrPhoneUnreachable) || !strings.Contains(err.Error(), "no response") {
		t.Fatalf("login with a dead phone: %v", err)
	}
	if st := l.status(id); st.State != LoggedOut {
		t.Fatalf("after a failed login: %+v", st)
	}
}

// The agent's phone hangs up: the agent is paused with phone_disconnected,
// logged once; Ready calls the phone again. A phone that vanishes (no BYE)
// is found by the keep-alive.
func TestStationDroppedLegPausesTheAgent(t *testing.T) {
	t.Parallel()
	l := newLive(t, 30*time.Second)
	n := l.node(nil)
	c := l.campaign()
	id, user := l.agent(c)
	ph := l.phone(n, user, agenttest.Options{})
	call := l.login(n, id, c, ph)
	if err := call.Hangup(l.ctx); err != nil {
		t.Fatal(err)
	}
	l.waitState(id, Paused, ReasonPhoneDisconnected)
	waitCond(t, "the drop's log line", func() bool { return len(l.logs.lines("agent station: phone leg lost; agent paused")) == 1 })
	if line := l.logs.lines("agent station: phone leg lost; agent paused")[0]; line["why"] != "remote hangup" || line["agent"] != id {
		t.Fatalf("log line %v", line)
	}
	if _, err := n.st.Session(id); !errors.Is(err, ErrNoLeg) {
		t.Fatalf("session of a dropped leg: %v", err)
	}
	// Ready calls the phone again.
	if st, err := n.st.Ready(l.ctx, id); err != nil || st.State != Ready {
		t.Fatalf("ready after the drop: %+v %v", st, err)
	}
	if _, err := ph.NextCall(l.ctx); err != nil {
		t.Fatal(err)
	}
	// Now the phone loses power: no BYE, no RTP, no answer to OPTIONS.
	ph.Vanish()
	l.waitState(id, Paused, ReasonPhoneDisconnected)
	waitCond(t, "the second drop's log line", func() bool { return len(l.logs.lines("agent station: phone leg lost; agent paused")) == 2 })
	why, _ := l.logs.lines("agent station: phone leg lost; agent paused")[1]["why"].(string)
	if !strings.Contains(why, "keep-alive") && !strings.Contains(why, "no RTP") {
		t.Fatalf("why %q", why)
	}
	// And with no phone at all, Ready says so and leaves the agent paused.
	n.reg.Sweep(l.ctx)
	l.rdb.Del(l.ctx, "marcador:{registrar}:binding:"+id)
	if _, err := n.st.Ready(l.ctx, id); !errors.Is(err, ErrNoPhone) {
		t.Fatalf("ready with no phone: %v", err)
	}
	if st := l.status(id); st.State != Paused {
		t.Fatalf("after a refused ready: %+v", st)
	}
}

// Another node logs the agent out: this node's Run hangs up the leg at its
// next renewal. Ready on a node that does not hold a dropped leg is
// refused with the holder named.
func TestStationLogoutElsewhereHangsUp(t *testing.T) {
	t.Parallel()
	l := newLive(t, 3*time.Second)
	a, b := l.node(nil), l.node(nil)
	a.run(t)
	c := l.campaign()
	id, user := l.agent(c)
	ph := l.phone(a, user, agenttest.Options{})
	call := l.login(a, id, c, ph)
	if _, err := b.st.Pause(l.ctx, id, "lunch"); err != nil {
		t.Fatal(err)
	}
	if st, err := b.st.Ready(l.ctx, id); err != nil || st.State != Ready {
		t.Fatalf("ready from another node with the leg up: %+v %v", st, err)
	}
	if _, err := b.st.Logout(l.ctx, id); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, call, "node a to hang up the leg")
	if len(a.st.Legs()) != 0 {
		t.Fatalf("legs %v", a.st.Legs())
	}
	// Log in again on a; the phone drops; b cannot call it back.
	call = l.login(a, id, c, ph)
	call.Hangup(l.ctx)
	l.waitState(id, Paused, ReasonPhoneDisconnected)
	_, err := b.st.Ready(l.ctx, id)
	var te *TransitionError
	if !errors.As(err, &te) || !strings.Contains(te.Detail, a.id) {
		t.Fatalf("ready on the other node: %v", err)
	}
}

// A node that stops renewing (dead: its process gone, its legs with it) has
// its agents logged out by another node's reaper once the lease expires; a
// node that restarts logs out its last run's agents at once; a node that
// stops cleanly hangs up and logs out its own.
func TestStationLeases(t *testing.T) {
	t.Parallel()
	l := newLive(t, 2*time.Second)
	dead, alive := l.node(nil), l.node(nil)
	alive.run(t)
	c := l.campaign()
	id, user := l.agent(c)
	ph := l.phone(dead, user, agenttest.Options{})
	l.login(dead, id, c, ph)
	l.waitEvent(c, "the reaper", func(ev Event) bool {
		return ev.Kind == "reap" && ev.To == LoggedOut && ev.Reason == ReasonNodeLost && ev.Node == dead.id
	})

	// Restart: a new station with the node id of one that holds an agent
	// logs it out; the old station's Run (here still alive) hangs its leg up.
	call := l.login(alive, id, c, ph)
	again, err := NewStation(StationOptions{Pool: l.pool(), Node: alive.id, Dialer: alive.ep, Phones: alive.reg, Logger: l.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Init(l.ctx); err != nil {
		t.Fatal(err)
	}
	if ev := l.lastEvent(c); ev.Kind != "evict" || ev.To != LoggedOut || ev.Reason != "node_restarted" {
		t.Fatalf("after the restart: %+v", ev)
	}
	waitEnded(t, call, "the old leg to be hung up")

	// A clean stop hangs up and logs out.
	call = l.login(alive, id, c, ph)
	if err := alive.st.Close(l.ctx); err != nil {
		t.Fatal(err)
	}
	if ev := l.lastEvent(c); ev.Kind != "evict" || ev.To != LoggedOut || ev.Reason != "node_stopped" {
		t.Fatalf("after close: %+v", ev)
	}
	waitEnded(t, call, "close to hang up the leg")
	if _, err := alive.st.Login(l.ctx, id, c); !errors.Is(err, ErrStopping) {
		t.Fatalf("login on a closed station: %v", err)
	}
}

// The test phone registers through a node with SHA-256 or MD5 against the
// pool's credentials (an agent with no algorithms of its own is offered
// the registrar's, SHA-256 first); a wrong password is 401 until the user
// is locked out (403).
func TestPhonesRegisterWithThePoolsCredentials(t *testing.T) {
	t.Parallel()
	l := newLive(t, 30*time.Second)
	n := l.node(nil)
	c := l.campaign()
	id, user := l.agent(c)
	p := l.pool()
	if _, _, err := p.Put(l.ctx, Definition{ID: id, SIPUser: user, Campaigns: []string{c}}); err != nil { // no algorithms: the registrar's
		t.Fatal(err)
	}
	for _, alg := range []string{"SHA-256", "MD5"} {
		ph := l.phone(n, user, agenttest.Options{Algorithm: alg})
		if bs, err := n.reg.Lookup(l.ctx, id); err != nil || len(bs) != 1 || bs[0].Contact != ph.ContactURI() {
			t.Fatalf("%s: bindings %+v %v", alg, bs, err)
		}
		ph.Close()
	}
	bad, err := agenttest.Start(agenttest.Options{User: user, Password: "wrong-password", Registrar: n.ep.Addr(),
		Listen: netip.AddrPortFrom(l.src, 0).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	for i := 1; i <= 6; i++ {
		err := bad.Register(l.ctx)
		var se *agenttest.StatusError
		want := 401
		if i >= 5 {
			want = 403 // the fifth failure locks the user out
		}
		if !errors.As(err, &se) || se.Code != want {
			t.Fatalf("attempt %d: %v, want %d", i, err, want)
		}
	}
}

// BenchmarkStationLogin measures a login with the nailed-up call (REGISTER
// done beforehand, a sipgo phone answering by itself, over loopback) and
// the logout that hangs it up; login-ms-p50/p99 are the login alone.
func BenchmarkStationLogin(b *testing.B) {
	ctx := context.Background()
	rdb := agentRedis(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := New(Options{Client: rdb, Logger: log})
	node := "bench-" + rnd()
	reg, err := registrar.New(ctx, registrar.Options{Redis: rdb, Credentials: p.RegistrarCredentials(), Node: node, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ep, err := dialer.NewEndpoint(dialer.EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: media.PortRange{Min: 37500, Max: 37999},
		OnRegister: reg.Handle, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Close()
	st, err := NewStation(StationOptions{Pool: p, Node: node, Dialer: ep, Phones: reg, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	c, id := "c-"+rnd(), "a-"+rnd()
	user := "u-" + id
	defer func() {
		keys, _ := rdb.Keys(ctx, "marcador:{"+c+"}:*").Result()
		rdb.Del(ctx, append(keys, defKey(id), "marcador:{registrar}:binding:"+id)...)
		rdb.SRem(ctx, campaignsKey, c)
		rdb.SRem(ctx, idsKey, id)
		rdb.HDel(ctx, whereKey, id)
		rdb.HDel(ctx, gensKey, id)
		rdb.HDel(ctx, sipUsersKey, user)
	}()
	if _, _, err := p.Put(ctx, Definition{ID: id, SIPUser: user, Password: testPassword, Campaigns: []string{c}}); err != nil {
		b.Fatal(err)
	}
	ph, err := agenttest.Start(agenttest.Options{User: user, Password: testPassword, Registrar: ep.Addr(),
		RTPPorts: media.PortRange{Min: 38000, Max: 38499}})
	if err != nil {
		b.Fatal(err)
	}
	defer ph.Close()
	if err := ph.Register(ctx); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := st.Login(ctx, id, c); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		call, err := ph.NextCall(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Logout(ctx, id); err != nil {
			b.Fatal(err)
		}
		<-call.Ended()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "login-ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "login-ms-p99")
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st.Close(cctx)
}

// An agent whose leg drops in a call: the station pauses it and tells
// OnCallLost which call was the agent's, so the debtor is not left in
// dead air.
func TestStationTellsWhichCallWasLost(t *testing.T) {
	t.Parallel()
	l := newLive(t, 30*time.Second)
	lost := make(chan CallLost, 1)
	n := l.node(func(o *StationOptions) { o.OnCallLost = func(c CallLost) { lost <- c } })
	c := l.campaign()
	id, user := l.agent(c)
	ph := l.phone(n, user, agenttest.Options{})
	call := l.login(n, id, c, ph)
	r, ok, err := n.st.Pool().Reserve(l.ctx, c, n.id, "call-1")
	if !ok || err != nil {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	if _, err := n.st.Pool().Connect(l.ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := call.Hangup(l.ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-lost:
		if got.Agent != id || got.Call != "call-1" || got.Campaign != c || got.State != Talking || got.Why != "remote hangup" {
			t.Fatalf("lost %+v", got)
		}
	case <-l.ctx.Done():
		t.Fatal("OnCallLost was not called")
	}
	l.waitState(id, Paused, ReasonPhoneDisconnected)
}
