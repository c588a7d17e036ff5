package registrar_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/marcador/marcador/dialer/registrar"
)

// The right password with SHA-256 through sipgo's own digest client (it
// answers the first challenge, SHA-256, as RFC 8760 orders them): 200 with
// the Contact and its expires, a binding any node finds with where the
// REGISTER came from, one log line, and no secret in the log.
func TestRegisterSHA256WithSipgoDigest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.node("node-a", nil), e.node("node-b", nil)
	user, agent := e.user("sha", "correct horse")
	p := e.phone(a, user, "correct horse")

	r := p.req("120")
	res := p.do(r)
	cs := challenges(t, res)
	if len(cs) != 2 || cs[0].Algorithm != "SHA-256" || cs[1].Algorithm != "MD5" {
		t.Fatalf("challenges %+v, want SHA-256 then MD5", cs)
	}
	for _, c := range cs {
		if c.Realm != "marcador" || !c.SupportsQOP("auth") || c.Stale || c.Nonce != cs[0].Nonce {
			t.Fatalf("challenge %+v", c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.cli.DoDigestAuth(ctx, r, res, sipgo.DigestAuth{Username: user, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, 200)
	if auth := r.GetHeader("Authorization").Value(); !strings.Contains(auth, "algorithm=SHA-256") {
		t.Fatalf("sipgo answered %q", auth)
	}
	p.chal, p.nc, p.cseq = cs[0], 1, r.CSeq().SeqNo
	got := contactExpires(t, res)
	contact := "sip:" + user + "@" + p.local
	if len(got) != 1 || got[contact] != 120 {
		t.Fatalf("200 Contacts %v, want %s;expires=120", got, contact)
	}
	if res.GetHeader("Date") == nil {
		t.Fatal("200 without Date")
	}
	// Node b finds what node a took.
	bs := lookup(t, b, agent)
	if len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
	bd := bs[0]
	if bd.AgentID != agent || bd.User != user || bd.Contact != contact || bd.Received != p.local || bd.NAT ||
		bd.Node != "node-a" || bd.UserAgent != "testphone/1.0" || bd.Transport != "UDP" ||
		!bd.Expires.Equal(e.clock.Now().Add(120*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("binding %+v", bd)
	}
	if n := len(e.logs.lines("sip registrar: registered")); n != 1 {
		t.Fatalf("%d registered lines, want 1", n)
	}
	// A refresh is not a change: no second line.
	wantStatus(t, p.again("120"), 200)
	if n := len(e.logs.lines("sip registrar: registered")); n != 1 {
		t.Fatalf("%d registered lines after a refresh, want 1", n)
	}
	noSecrets(t, e, "correct horse", user)
}

// noSecrets: neither the password, nor its HA1s, nor an Authorization
// header (its response) is in the log.
func noSecrets(t *testing.T, e *env, password, user string) {
	t.Helper()
	log := e.logs.String()
	for _, s := range []string{password, registrar.HA1(registrar.MD5, user, "marcador", password),
		registrar.HA1(registrar.SHA256, user, "marcador", password), "response=", "Digest username"} {
		if strings.Contains(log, s) {
			t.Fatalf("the log holds %q:\n%s", s, log)
		}
	}
}

// MD5, the algorithm most phones still use, answered from the second
// challenge.
func TestRegisterMD5(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("md5", "s3cret")
	p := e.phone(n, user, "s3cret")
	wantStatus(t, p.register(registrar.MD5, "60"), 200)
	if !strings.Contains(p.lastAuth, "algorithm=MD5") {
		t.Fatalf("sent %q", p.lastAuth)
	}
	if bs := lookup(t, n, agent); len(bs) != 1 || bs[0].Received != p.local {
		t.Fatalf("bindings %+v", bs)
	}
	noSecrets(t, e, "s3cret", user)
}

// A wrong password gets a fresh challenge (not stale) and no binding; so
// does an unknown user, indistinguishably.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("wrong", "right")
	for _, alg := range []registrar.Algorithm{registrar.SHA256, registrar.MD5} {
		p := e.phone(n, user, "wrong")
		res := p.register(alg, "60")
		cs := challenges(t, res)
		if len(cs) != 2 || cs[0].Stale {
			t.Fatalf("%s: challenges %+v, want fresh ones", alg, cs)
		}
	}
	ghost := e.phone(n, "nobody-"+e.id, "x")
	if cs := challenges(t, ghost.register(registrar.MD5, "60")); len(cs) != 2 || cs[0].Stale {
		t.Fatalf("unknown user: %+v", cs)
	}
	if bs := lookup(t, n, agent); len(bs) != 0 {
		t.Fatalf("bindings %+v", bs)
	}
	noSecrets(t, e, "right", user)
}

// An expired nonce with a right response gets 401 stale=true; the phone
// answers the new challenge without asking anyone and is registered. A
// nonce another node issued is good on this one (shared secret).
func TestStaleNonce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.node("a", func(o *registrar.Options) { o.NonceTTL = time.Minute })
	b := e.node("b", func(o *registrar.Options) { o.NonceTTL = time.Minute })
	user, agent := e.user("stale", "pw")
	p := e.phone(a, user, "pw")
	wantStatus(t, p.register(registrar.SHA256, "300"), 200)
	// Same nonce, next count, other node: fine.
	wantStatus(t, p.at(b).again("300"), 200)

	e.clock.Advance(61 * time.Second)
	res := p.again("300")
	cs := challenges(t, res)
	if len(cs) != 2 || !cs[0].Stale || !cs[1].Stale {
		t.Fatalf("challenges %+v, want stale=true", cs)
	}
	r := p.req("300")
	p.authorize(r, pick(t, cs, registrar.SHA256), 1, p.password)
	wantStatus(t, p.do(r), 200)
	if bs := lookup(t, a, agent); len(bs) != 1 || !bs[0].Expires.Equal(e.clock.Now().Add(300*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("bindings %+v", bs)
	}
	// A wrong password with an expired nonce is a wrong password.
	e.clock.Advance(61 * time.Second)
	r = p.req("300")
	p.authorize(r, p.chal, p.nc+1, "not pw")
	if cs := challenges(t, p.do(r)); cs[0].Stale {
		t.Fatal("wrong password with an old nonce got stale=true")
	}
}

// A captured REGISTER sent again (same nonce, same count) changes nothing:
// 401 stale=true. The same nonce with a higher count, as a phone
// refreshing sends it, is fine.
func TestReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("replay", "pw")
	p := e.phone(n, user, "pw")
	wantStatus(t, p.register(registrar.MD5, "300"), 200)
	captured := p.lastAuth
	// The phone unregisters (nonce count 2).
	wantStatus(t, p.again("0"), 200)
	if bs := lookup(t, n, agent); len(bs) != 0 {
		t.Fatalf("bindings after un-REGISTER %+v", bs)
	}
	// Someone who saw the first REGISTER sends it again, CSeq bumped.
	for _, auth := range []string{captured, p.lastAuth} {
		r := p.req("300")
		r.AppendHeader(sip.NewHeader("Authorization", auth))
		cs := challenges(t, p.do(r))
		if !cs[0].Stale {
			t.Fatalf("replay got %+v, want stale=true", cs)
		}
		if bs := lookup(t, n, agent); len(bs) != 0 {
			t.Fatalf("a replay registered %+v", bs)
		}
	}
	if n := len(e.logs.lines("sip registrar: nonce count reused (a replay, or a phone that repeats counts): challenged again")); n != 2 {
		t.Fatalf("%d replay lines, want 2", n)
	}
	wantStatus(t, p.again("300"), 200)
	if bs := lookup(t, n, agent); len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
}

// Credentials for two users in one request are refused: a second header
// must not try a locked-out user's password past the lockout, or count its
// failures against someone else.
func TestTwoUsersInOneRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", nil)
	user, agent := e.user("first", "pw")
	other, otherAgent := e.user("second", "pw2")
	p := e.phone(n, user, "pw")
	r := p.authorized(registrar.MD5, "60")
	cred, err := digest.Digest(p.chal, digest.Options{Method: "REGISTER", URI: r.Recipient.Addr(), Username: other, Password: "pw2", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.AppendHeader(sip.NewHeader("Authorization", cred.String()))
	wantStatus(t, p.do(r), 400)
	if len(lookup(t, n, agent))+len(lookup(t, n, otherAgent)) != 0 {
		t.Fatal("a binding was made")
	}
}
