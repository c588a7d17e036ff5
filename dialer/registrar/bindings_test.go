package registrar_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer/registrar"
)

// Expires: 0 removes the binding; so does an expires=0 Contact parameter
// and Contact: * with Expires: 0. Each removal is one log line.
func TestUnregister(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("unreg", "pw")
	p := e.phone(n, user, "pw")

	wantStatus(t, p.register(registrar.MD5, "60"), 200)
	res := p.again("0")
	wantStatus(t, res, 200)
	if got := contactExpires(t, res); len(got) != 0 {
		t.Fatalf("200 to an un-REGISTER lists %v", got)
	}
	if bs := lookup(t, n, agent); len(bs) != 0 {
		t.Fatalf("bindings %+v", bs)
	}

	wantStatus(t, p.again("60"), 200)
	wantStatus(t, p.again("60", p.contact+";expires=0"), 200)
	if bs := lookup(t, n, agent); len(bs) != 0 {
		t.Fatalf("bindings after expires=0 %+v", bs)
	}

	wantStatus(t, p.again("60"), 200)
	wantStatus(t, p.again("60", "*"), 400) // * needs Expires: 0
	wantStatus(t, p.again("0", "*", p.contact), 400)
	if bs := lookup(t, n, agent); len(bs) != 1 {
		t.Fatalf("a refused wildcard changed bindings: %+v", bs)
	}
	wantStatus(t, p.again("0", "*"), 200)
	if bs := lookup(t, n, agent); len(bs) != 0 {
		t.Fatalf("bindings after * %+v", bs)
	}
	lines := e.logs.lines("sip registrar: unregistered")
	if len(lines) != 3 {
		t.Fatalf("%d unregistered lines, want 3", len(lines))
	}
	for _, l := range lines {
		if l["reason"] != "request" || l["agent"] != agent {
			t.Fatalf("line %v", l)
		}
	}
	if n := len(e.logs.lines("sip registrar: registered")); n != 3 {
		t.Fatalf("%d registered lines, want 3", n)
	}
}

// A binding lapses at its expiry: Lookup stops returning it at once, and a
// sweep (any node's, all running) removes it from Redis and logs it once.
// Its own Redis: a sweep on an advanced clock would remove other tests'
// bindings.
func TestBindingExpiry(t *testing.T) {
	t.Parallel()
	e, _ := newPrivateEnv(t)
	a, b := e.node("a", nil), e.node("b", nil)
	user, agent := e.user("expiry", "pw")
	p := e.phone(a, user, "pw")
	wantStatus(t, p.register(registrar.SHA256, "60"), 200)

	ctx := context.Background()
	e.clock.Advance(59 * time.Second)
	if bs := lookup(t, b, agent); len(bs) != 1 {
		t.Fatalf("bindings before expiry %+v", bs)
	}
	if n, err := a.reg.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d, %v", n, err)
	}
	e.clock.Advance(time.Second)
	if bs := lookup(t, b, agent); len(bs) != 0 {
		t.Fatalf("bindings at expiry %+v", bs)
	}
	// Both nodes sweep at once: one removes it.
	got := make(chan int, 2)
	for _, n := range []*node{a, b} {
		go func() {
			k, err := n.reg.Sweep(ctx)
			if err != nil {
				t.Error(err)
			}
			got <- k
		}()
	}
	if total := <-got + <-got; total != 1 {
		t.Fatalf("sweeps removed %d, want 1", total)
	}
	lines := e.logs.lines("sip registrar: expired")
	if len(lines) != 1 || lines[0]["agent"] != agent {
		t.Fatalf("expired lines %v", lines)
	}
	wantIndexed(t, e, agent, 0) // the hash does not outlive its last binding

	// Run sweeps by itself.
	wantStatus(t, p.again("60"), 200)
	e.clock.Advance(61 * time.Second)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	fast, err := registrar.New(ctx, registrar.Options{Redis: e.rdb, Credentials: e.creds, Now: e.clock.Now,
		Logger: e.log, SweepEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- fast.Run(runCtx) }()
	if !polltest.Until(10*time.Second, func() bool { return len(e.logs.lines("sip registrar: expired")) >= 2 }) {
		t.Fatal("Run did not sweep within 10s")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Behind a NAT the phone's Contact names its private address; the binding
// keeps the address the REGISTER really came from, which is where calls to
// it must go.
func TestNATReceivedAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("nat", "pw")
	p := e.phone(n, user, "pw")
	p.contact = "<sip:" + user + "@192.0.2.10:5060;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-000000000001>\""
	res := p.register(registrar.MD5, "60")
	wantStatus(t, res, 200)
	bs := lookup(t, n, agent)
	if len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
	b := bs[0]
	if b.Contact != "sip:"+user+"@192.0.2.10:5060;transport=udp" || b.Received != p.local || !b.NAT {
		t.Fatalf("binding %+v, want received %s behind NAT", b, p.local)
	}
	if !strings.Contains(b.ContactParams, "+sip.instance") {
		t.Fatalf("contact params %q", b.ContactParams)
	}
	// The 200 names the Contact as the phone sent it, instance and all.
	h := res.GetHeader("Contact").Value()
	if !strings.Contains(h, "192.0.2.10:5060") || !strings.Contains(h, "+sip.instance") || !strings.Contains(h, "expires=60") {
		t.Fatalf("200 Contact %q", h)
	}
	lines := e.logs.lines("sip registrar: registered")
	if len(lines) != 1 || lines[0]["received"] != p.local || lines[0]["nat"] != true {
		t.Fatalf("registered lines %v", lines)
	}
}

// Too short gets 423 with Min-Expires; too long is cut to the maximum; no
// expires at all is the default; a Contact's expires parameter beats the
// Expires header.
func TestExpiresBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, _ := e.user("bounds", "pw")
	p := e.phone(n, user, "pw")
	contact := "sip:" + user + "@" + p.local

	res := p.register(registrar.MD5, "10")
	wantStatus(t, res, 423)
	if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
		t.Fatalf("423 Min-Expires %v", h)
	}
	for _, c := range []struct {
		expires string
		contact string
		want    int
	}{
		{"99999", "", 3600},
		{"", "", 600},
		{"600", p.contact + ";expires=120", 120},
		{"junk", "", 600},
	} {
		var res *sip.Response
		if c.contact != "" {
			res = p.again(c.expires, c.contact)
		} else {
			res = p.again(c.expires)
		}
		wantStatus(t, res, 200)
		if got := contactExpires(t, res); got[contact] != c.want {
			t.Fatalf("Expires %q contact %q: 200 lists %v, want %d", c.expires, c.contact, got, c.want)
		}
	}
}

// RFC 3261 §10.3 step 7: a REGISTER of the same Call-ID whose CSeq is not
// above the binding's fails and changes nothing.
func TestCSeqOutOfOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("cseq", "pw")
	p := e.phone(n, user, "pw")
	wantStatus(t, p.register(registrar.MD5, "300"), 200)
	p.cseq = 0
	wantStatus(t, p.again("0"), 400)
	if bs := lookup(t, n, agent); len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
}

// An agent has one phone: a new contact replaces the old binding (logged as
// unregistered, replaced). Two contacts in one REGISTER are refused.
func TestNewPhoneReplacesOld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("two", "pw")
	old := e.phone(n, user, "pw")
	wantStatus(t, old.register(registrar.MD5, "300"), 200)
	e.clock.Advance(time.Second)
	fresh := e.phone(n, user, "pw")
	res := fresh.register(registrar.MD5, "300")
	wantStatus(t, res, 200)
	if got := contactExpires(t, res); len(got) != 1 || got["sip:"+user+"@"+fresh.local] != 300 {
		t.Fatalf("200 lists %v", got)
	}
	if bs := lookup(t, n, agent); len(bs) != 1 || bs[0].Received != fresh.local {
		t.Fatalf("bindings %+v", bs)
	}
	lines := e.logs.lines("sip registrar: unregistered")
	if len(lines) != 1 || lines[0]["reason"] != "replaced by a newer contact" || !strings.Contains(lines[0]["contact"].(string), old.local) {
		t.Fatalf("unregistered lines %v", lines)
	}
	wantStatus(t, fresh.again("300", fresh.contact, "<sip:"+user+"@192.0.2.1>"), 403)

	// With room for two, both stay, newest first.
	e2 := e.node("n2", func(o *registrar.Options) { o.MaxContacts = 2 })
	e.clock.Advance(time.Second)
	wantStatus(t, old.at(e2).register(registrar.MD5, "300"), 200)
	bs := lookup(t, n, agent)
	if len(bs) != 2 || bs[0].Received != old.local {
		t.Fatalf("bindings %+v", bs)
	}
}

// An agent registers its own address of record only.
func TestToOtherUserRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("me", "pw")
	other, otherAgent := e.user("other", "pw2")
	p := e.phone(n, user, "pw")
	r := p.authorized(registrar.MD5, "60")
	r.ReplaceHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: other, Host: p.host}})
	wantStatus(t, p.do(r), 403)
	if len(lookup(t, n, agent))+len(lookup(t, n, otherAgent)) != 0 {
		t.Fatal("a binding was made")
	}
}

// A header that is not valid digest credentials gets 400; one offering an
// algorithm the registrar does not offer gets a new challenge.
func TestMalformedAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", func(o *registrar.Options) { o.Algorithms = []registrar.Algorithm{registrar.MD5} })
	user, _ := e.user("malformed", "pw")
	p := e.phone(n, user, "pw")
	cs := challenges(t, p.do(p.req("60")))
	if len(cs) != 1 || cs[0].Algorithm != "MD5" {
		t.Fatalf("challenges %+v, want MD5 alone", cs)
	}
	for _, v := range []string{
		"Basic dXNlcjpwYXNz",
		`Digest username="` + user + `", realm="marcador"`,
		`Digest username="` + user + `", realm="marcador", nonce="n", uri="sip:x", response="abc", qop=auth, nc=00000001, cnonce="c"`,
	} {
		r := p.req("60")
		r.AppendHeader(sip.NewHeader("Authorization", v))
		wantStatus(t, p.do(r), 400)
	}
	// SHA-256 answered although only MD5 was offered: challenged again.
	r := p.req("60")
	chal := *cs[0]
	chal.Algorithm = "SHA-256"
	p.authorize(r, &chal, 1, "pw")
	if cs := challenges(t, p.do(r)); cs[0].Stale {
		t.Fatal("stale")
	}
}

// An agent whose phone only does MD5 (the agent store says so) is offered
// MD5 alone.
func TestPerAgentAlgorithms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, _ := e.user("oldphone", "pw", registrar.MD5)
	p := e.phone(n, user, "pw")
	cs := challenges(t, p.do(p.req("60")))
	if len(cs) != 1 || cs[0].Algorithm != "MD5" {
		t.Fatalf("challenges %+v", cs)
	}
	r := p.req("60")
	p.authorize(r, cs[0], 1, "pw")
	wantStatus(t, p.do(r), 200)
	// An unknown user gets the defaults: nothing tells users apart.
	ghost := e.phone(n, "ghost-"+e.id, "pw")
	if cs := challenges(t, ghost.do(ghost.req("60"))); len(cs) != 2 {
		t.Fatalf("unknown user: %+v", cs)
	}
}

// phoneFrom is a phone sending from another loopback address.
func (e *env) phoneFrom(n *node, src netip.Addr, user, password string) *phone {
	saved := e.src
	e.src = src
	defer func() { e.src = saved }()
	return e.phone(n, user, password)
}

func otherSource(e *env) netip.Addr {
	b := e.src.As4()
	b[3] ^= 0x80
	a := netip.AddrFrom4(b)
	e.t.Cleanup(func() { e.rdb.Del(context.Background(), "marcador:registrar:fail:{source:"+a.String()+"}") })
	if c, err := net.ListenPacket("udp", netip.AddrPortFrom(a, 0).String()); err != nil {
		e.t.Fatal(err)
	} else {
		c.Close()
	}
	return a
}

// Redis gone: the phone gets 503 with Retry-After (it tries again later),
// never a challenge it cannot pass or a 200 for a binding not stored.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	e, srv := newPrivateEnv(t)
	fast := func(o *registrar.Options) { o.Timeout, o.SweepEvery = 2*time.Second, 20*time.Millisecond }
	n := e.node("n", fast)
	user, _ := e.user("down", "pw")
	p := e.phone(n, user, "pw")
	r := p.authorized(registrar.MD5, "60") // challenged while Redis is up
	srv.Stop()
	res := p.do(r)
	wantStatus(t, res, 503)
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "5" {
		t.Fatalf("503 Retry-After %v", h)
	}
	if l := e.logs.lines("sip registrar: REGISTER failed (503)"); len(l) != 1 {
		t.Fatalf("503 lines %v", l)
	}
	// Back, empty (as a Redis without persistence comes back): the phone
	// registers again. A node started now makes a new nonce secret; the
	// running node's Run adopts the one in Redis (or writes its own back
	// first), and soon a nonce from either node is good on the other.
	srv.Start()
	wantStatus(t, p.register(registrar.MD5, "60"), 200)
	m := e.node("m", fast)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	for _, x := range []*node{n, m} {
		go x.reg.Run(ctx)
	}
	if !polltest.Until(10*time.Second, func() bool {
		chal := pick(t, challenges(t, p.at(n).do(p.req("60"))), registrar.MD5)
		r := p.at(m).req("60")
		p.authorize(r, chal, 1, "pw")
		res = p.do(r)
		return res.StatusCode == 200
	}) {
		t.Fatalf("nodes' nonces still disagree after 10s: %d", res.StatusCode)
	}
	if l := e.logs.lines("sip registrar: adopted the nonce secret in Redis"); len(l) != 1 {
		t.Fatalf("adopted lines %v", l)
	}
}

// A REGISTER without Contact asks for the bindings (RFC 3261 §10.2.3): 200
// lists them and changes nothing. A Path (RFC 3327) a proxy added is kept
// with the binding and echoed.
func TestQueryAndPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("query", "pw")
	p := e.phone(n, user, "pw")
	wantStatus(t, p.register(registrar.MD5, "300"), 200)
	e.clock.Advance(100 * time.Second)
	res := p.again("", "-")
	wantStatus(t, res, 200)
	if got := contactExpires(t, res); len(got) != 1 || got["sip:"+user+"@"+p.local] != 200 {
		t.Fatalf("query lists %v, want 200 s left", got)
	}
	if l := e.logs.lines("sip registrar: registered"); len(l) != 1 {
		t.Fatalf("registered lines %v", l)
	}

	r := p.req("300")
	r.AppendHeader(sip.NewHeader("Path", "<sip:lb.example;lr;received=sip:198.51.100.7:40000>"))
	p.authorize(r, p.chal, p.nc+1, "pw")
	res = p.do(r)
	wantStatus(t, res, 200)
	if h := res.GetHeader("Path"); h == nil || !strings.Contains(h.Value(), "lb.example") {
		t.Fatalf("200 Path %v", h)
	}
	if bs := lookup(t, n, agent); len(bs) != 1 || len(bs[0].Path) != 1 || !strings.Contains(bs[0].Path[0], "198.51.100.7") {
		t.Fatalf("bindings %+v", bs)
	}
}

// Twenty phones of one agent register at once through two nodes: one
// binding is left, the index agrees with it, and every change was logged
// once.
func TestConcurrentRegistrations(t *testing.T) {
	t.Parallel()
	e, _ := newPrivateEnv(t)
	nodes := []*node{e.node("a", nil), e.node("b", nil)}
	user, agent := e.user("crowd", "pw")
	phones := make([]*phone, 20)
	for i := range phones {
		phones[i] = e.phone(nodes[i%2], user, "pw")
	}
	// Off the test goroutine: no t.Fatal there.
	register := func(p *phone) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := p.cli.Do(ctx, p.req("300"))
		if err != nil {
			return err
		}
		chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
		if err != nil {
			return err
		}
		r := p.req("300")
		cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: r.Recipient.Addr(), Username: p.user, Password: "pw"})
		if err != nil {
			return err
		}
		r.AppendHeader(sip.NewHeader("Authorization", cred.String()))
		if res, err = p.cli.Do(ctx, r); err != nil {
			return err
		}
		if res.StatusCode != 200 {
			return errors.New(res.Short())
		}
		return nil
	}
	errs := make(chan error, len(phones))
	for _, p := range phones {
		go func() { errs <- register(p) }()
	}
	for range phones {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if bs := lookup(t, nodes[0], agent); len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
	wantIndexed(t, e, agent, 1)
	if a, u := len(e.logs.lines("sip registrar: registered")), len(e.logs.lines("sip registrar: unregistered")); a != 20 || u != 19 {
		t.Fatalf("%d registered, %d unregistered lines; want 20, 19", a, u)
	}
}
