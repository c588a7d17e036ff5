package registrar_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/dialer/registrar/registrartest"
	"github.com/marcador/marcador/queue/redistest"
)

// clock is the registrar's injected time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logs keeps what the registrar logged, one JSON object a line.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines are the logged records whose msg is msg.
func (l *logs) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// env is one test's world: its own users, agents and source address (a
// loopback address of its own, so failure counts of tests running at the
// same time never meet), the shared dev Redis, an injected clock.
type env struct {
	t     *testing.T
	rdb   redis.UniversalClient
	clock *clock
	creds *registrartest.Credentials
	logs  *logs
	log   *slog.Logger
	src   netip.Addr
	id    string
	// beforeSend, when set, sees each response a node is about to send.
	beforeSend func(req *sip.Request, res *sip.Response)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	e := &env{t: t, rdb: redistest.Client(t), clock: &clock{t: time.Now()}, creds: registrartest.NewCredentials(),
		logs: &logs{}, id: hex.EncodeToString(b)}
	e.log = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, _ := rand.Int(rand.Reader, big.NewInt(100*250*250))
	v := int(n.Int64())
	e.src = netip.AddrFrom4([4]byte{127, byte(100 + v/62500), byte(1 + v/250%250), byte(1 + v%250)})
	t.Cleanup(func() {
		ctx := context.Background()
		e.rdb.Del(ctx, "marcador:registrar:fail:{source:"+e.src.String()+"}")
		if t.Failed() {
			t.Logf("registrar log:\n%s", e.logs.String())
		}
	})
	return e
}

// user adds a SIP user (named after the test) with password; its agent id
// is returned too. Its keys are deleted when the test ends.
// newPrivateEnv is newEnv on a private Redis of its own, for tests that
// stop it, count its keys, or sweep on an advanced clock (a sweep would
// remove other tests' bindings from the shared one).
func newPrivateEnv(t *testing.T) (*env, *redistest.Server) {
	t.Helper()
	e := newEnv(t)
	srv := redistest.StartServer(t)
	e.rdb = srv.Client()
	return e, srv
}

// wantIndexed checks that the agent's binding hash and the expiry index
// (of a private env: no other test's entries) both hold n entries.
func wantIndexed(t *testing.T, e *env, agent string, n int64) {
	t.Helper()
	ctx := context.Background()
	if got, _ := e.rdb.HLen(ctx, "marcador:{registrar}:binding:"+agent).Result(); got != n {
		t.Fatalf("binding hash holds %d, want %d", got, n)
	}
	if got, _ := e.rdb.ZCard(ctx, "marcador:{registrar}:expiry").Result(); got != n {
		t.Fatalf("expiry index holds %d, want %d", got, n)
	}
}

func (e *env) user(name, password string, offer ...registrar.Algorithm) (user, agent string) {
	user, agent = name+"-"+e.id, "agent-"+name+"-"+e.id
	e.creds.Add(user, password, registrar.DefaultRealm, agent, offer...)
	e.t.Cleanup(func() {
		ctx := context.Background()
		e.rdb.Del(ctx, "marcador:{registrar}:binding:"+agent, "marcador:registrar:fail:{user:"+user+"}")
		prefix := strconv.Itoa(len(agent)) + ":" + agent
		ms, _ := e.rdb.ZRange(ctx, "marcador:{registrar}:expiry", 0, -1).Result()
		for _, m := range ms {
			if strings.HasPrefix(m, prefix) {
				e.rdb.ZRem(ctx, "marcador:{registrar}:expiry", m)
			}
		}
	})
	return user, agent
}

// node is a registrar behind a sipgo server on loopback.
type node struct {
	reg  *registrar.Registrar
	addr string
}

func (e *env) node(name string, mod func(*registrar.Options)) *node {
	e.t.Helper()
	opt := registrar.Options{Redis: e.rdb, Credentials: e.creds, Node: name, Now: e.clock.Now,
		Logger: e.log}
	if mod != nil {
		mod(&opt)
	}
	reg, err := registrar.New(context.Background(), opt)
	if err != nil {
		e.t.Fatal(err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("marcador-test"))
	if err != nil {
		e.t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		e.t.Fatal(err)
	}
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		if e.beforeSend == nil {
			reg.Handle(req, tx)
			return
		}
		res := reg.Respond(context.Background(), req)
		e.beforeSend(req, res)
		tx.Respond(res)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeUDP(pc) }()
	e.t.Cleanup(func() { pc.Close(); ua.Close(); <-done })
	return &node{reg: reg, addr: pc.LocalAddr().String()}
}

// phone is a sipgo user agent that REGISTERs from the env's source address.
type phone struct {
	t              *testing.T
	cli            *sipgo.Client
	local          string
	host           string // the registrar's host and port
	port           int
	user, password string
	callID, tag    string
	cseq           uint32
	// contact is the Contact header value; default <sip:user@local>.
	contact string
	// chal and nc are the challenge last answered and the count used.
	chal *digest.Challenge
	nc   int
	// lastAuth is the last Authorization value sent.
	lastAuth string
}

func (e *env) phone(n *node, user, password string) *phone {
	e.t.Helper()
	pc, err := net.ListenPacket("udp", netip.AddrPortFrom(e.src, 0).String())
	if err != nil {
		e.t.Fatal(err)
	}
	la := pc.LocalAddr().(*net.UDPAddr)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("testphone/1.0"), sipgo.WithUserAgentHostname(la.IP.String()))
	if err != nil {
		e.t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeUDP(pc) }()
	e.t.Cleanup(func() { pc.Close(); ua.Close(); <-done })
	// ServeUDP gives no sign when sipgo has taken the socket: polled.
	polltest.Eventually(e.t, 10*time.Second, func() bool {
		c, err := ua.TransportLayer().GetConnection("udp", la.String())
		return err == nil && c != nil
	}, "sipgo to take the phone's socket")
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname(la.IP.String()), sipgo.WithClientPort(la.Port),
		sipgo.WithClientConnectionAddr(la.String()))
	if err != nil {
		e.t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(n.addr)
	p := &phone{t: e.t, cli: cli, local: la.String(), host: host, user: user, password: password,
		callID: "reg-" + sip.GenerateTagN(12), tag: sip.GenerateTagN(10)}
	p.port, _ = strconv.Atoi(port)
	p.contact = fmt.Sprintf("<sip:%s@%s>", user, la.String())
	return p
}

// at points the phone at another registrar node (same phone, same Call-ID).
func (p *phone) at(n *node) *phone {
	host, port, _ := net.SplitHostPort(n.addr)
	p.host = host
	p.port, _ = strconv.Atoi(port)
	return p
}

// req builds the next REGISTER: expires is the Expires header ("" none),
// contacts replace the phone's Contact when given ("-" sends none).
func (p *phone) req(expires string, contacts ...string) *sip.Request {
	p.cseq++
	r := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.host, Port: p.port})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: p.host}}
	from.Params.Add("tag", p.tag)
	r.AppendHeader(from)
	r.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: p.host}})
	cid := sip.CallIDHeader(p.callID)
	r.AppendHeader(&cid)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: p.cseq, MethodName: sip.REGISTER})
	if len(contacts) == 0 {
		contacts = []string{p.contact}
	}
	for _, c := range contacts {
		if c != "-" {
			r.AppendHeader(sip.NewHeader("Contact", c))
		}
	}
	if expires != "" {
		r.AppendHeader(sip.NewHeader("Expires", expires))
	}
	r.AppendHeader(sip.NewHeader("User-Agent", "testphone/1.0"))
	return r
}

func (p *phone) do(r *sip.Request) *sip.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.cli.Do(ctx, r)
	if err != nil {
		p.t.Fatalf("REGISTER: %v", err)
	}
	return res
}

// challenges are the digest challenges of a 401, in order.
func challenges(t *testing.T, res *sip.Response) []*digest.Challenge {
	t.Helper()
	if res.StatusCode != 401 {
		t.Fatalf("got %d %s, want 401", res.StatusCode, res.Reason)
	}
	var out []*digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatalf("challenge %q: %v", h.Value(), err)
		}
		out = append(out, c)
	}
	return out
}

func pick(t *testing.T, cs []*digest.Challenge, alg registrar.Algorithm) *digest.Challenge {
	t.Helper()
	for _, c := range cs {
		if strings.EqualFold(c.Algorithm, string(alg)) {
			return c
		}
	}
	t.Fatalf("no %s challenge among %d", alg, len(cs))
	return nil
}

// authorize answers chal with nonce count nc on request r.
func (p *phone) authorize(r *sip.Request, chal *digest.Challenge, nc int, password string) {
	p.t.Helper()
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: r.Recipient.Addr(), Username: p.user,
		Password: password, Count: nc})
	if err != nil {
		p.t.Fatal(err)
	}
	p.chal, p.nc, p.lastAuth = chal, nc, cred.String()
	r.AppendHeader(sip.NewHeader("Authorization", p.lastAuth))
}

// authorized sends a REGISTER and returns the next one, answering its
// challenge with alg (nonce count 1, the phone's password): ready to send,
// or to tamper with first.
func (p *phone) authorized(alg registrar.Algorithm, expires string, contacts ...string) *sip.Request {
	p.t.Helper()
	chal := pick(p.t, challenges(p.t, p.do(p.req(expires, contacts...))), alg)
	r := p.req(expires, contacts...)
	p.authorize(r, chal, 1, p.password)
	return r
}

// register sends a REGISTER, answers its challenge with alg and returns the
// final response.
func (p *phone) register(alg registrar.Algorithm, expires string, contacts ...string) *sip.Response {
	p.t.Helper()
	return p.do(p.authorized(alg, expires, contacts...))
}

// again sends a REGISTER with the nonce last answered and the next count,
// as a phone refreshing its registration does.
func (p *phone) again(expires string, contacts ...string) *sip.Response {
	p.t.Helper()
	r := p.req(expires, contacts...)
	p.authorize(r, p.chal, p.nc+1, p.password)
	return p.do(r)
}

func wantStatus(t *testing.T, res *sip.Response, code int) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("got %d %s, want %d\n%s", res.StatusCode, res.Reason, code, res)
	}
}

// contactExpires are the Contact values of a 200 with their expires.
func contactExpires(t *testing.T, res *sip.Response) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, h := range res.GetHeaders("Contact") {
		var c sip.ContactHeader
		if _, err := sip.ParseAddressValue(h.Value(), &c.Address, &c.Params); err != nil {
			t.Fatalf("Contact %q: %v", h.Value(), err)
		}
		v, _ := c.Params.Get("expires")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("Contact %q: expires %q", h.Value(), v)
		}
		out[c.Address.String()] = n
	}
	return out
}

func lookup(t *testing.T, n *node, agent string) []registrar.Binding {
	t.Helper()
	bs, err := n.reg.Lookup(context.Background(), agent)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}
