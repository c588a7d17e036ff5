package registrar_test

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer/baresiptest"
	"github.com/marcador/marcador/dialer/registrar"
	"github.com/marcador/marcador/ivr/media"
)

// Debian's baresip, a softphone with a SIP stack of its own, registers from
// 127.0.0.1: exempt it from the per-source count so runs of these tests
// never add up (each test's user is still counted).
func baresipNode(e *env) *node {
	return e.node("n", func(o *registrar.Options) {
		o.Lockout.Exempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
}

func baresipPhone(t *testing.T, ports int) *baresiptest.Phone {
	return baresiptest.Start(t, baresiptest.Options{User: "idle", RTPPorts: media.PortRange{Min: ports, Max: ports + 99}})
}

// waitBindings polls until the agent has n bindings.
func waitBindings(t *testing.T, n *node, agent string, want int, out func() string) []registrar.Binding {
	t.Helper()
	var bs []registrar.Binding
	if !polltest.Until(20*time.Second, func() bool { bs = lookup(t, n, agent); return len(bs) == want }) {
		t.Fatalf("%d bindings after 20s, want %d\n%s", len(bs), want, out())
	}
	return bs
}

// baresip registers with MD5 (the agent store offers its phone MD5 alone),
// the binding records where it registered from and what it is, and
// removing the account un-REGISTERs it.
func TestBaresipRegistersAndUnregisters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := baresipNode(e)
	user, agent := e.user("baresip", "s3cret-pw", registrar.MD5)
	ph := baresipPhone(t, 46100)
	acct := baresiptest.Account{User: user, Password: "s3cret-pw", Registrar: n.addr}
	if err := ph.Register(acct); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.WaitEvent("REGISTER_OK", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ph.Output())
	}
	bs := waitBindings(t, n, agent, 1, ph.Output)
	b := bs[0]
	if b.Received != ph.Addr || b.NAT || !strings.HasPrefix(b.Contact, "sip:"+user) || !strings.HasSuffix(b.Contact, "@"+ph.Addr) ||
		!strings.HasPrefix(b.UserAgent, "baresip") || b.Node != "n" || !b.Expires.Equal(e.clock.Now().Add(60*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("binding %+v (phone at %s)", b, ph.Addr)
	}
	if !strings.Contains(ph.Output(), "algorithm=MD5") || strings.Contains(ph.Output(), "algorithm=SHA-256") {
		t.Fatalf("challenge offered\n%s", ph.Output())
	}
	if err := ph.Unregister(acct); err != nil {
		t.Fatal(err)
	}
	waitBindings(t, n, agent, 0, ph.Output)
	// The line is logged once the binding is gone: wait for it too.
	var l []map[string]any
	polltest.Until(10*time.Second, func() bool { l = e.logs.lines("sip registrar: unregistered"); return len(l) > 0 })
	if len(l) != 1 || l[0]["reason"] != "request" {
		t.Fatalf("unregistered lines %v", l)
	}
	noSecrets(t, e, "s3cret-pw", user)
}

// Why the agent store may choose the algorithms: baresip 1.0 (libre 1.1)
// gives up on a 401 that offers SHA-256 at all, even beside MD5 ("Function
// not implemented"), so with the defaults it never registers.
func TestBaresipFailsOnSHA256Challenge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := baresipNode(e)
	user, agent := e.user("baresip-sha", "pw")
	ph := baresipPhone(t, 46200)
	if err := ph.Register(baresiptest.Account{User: user, Password: "pw", Registrar: n.addr}); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.WaitEvent("REGISTER_FAIL", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ph.Output())
	}
	if !strings.Contains(ph.Output(), "Function not implemented") {
		t.Fatalf("baresip failed otherwise:\n%s", ph.Output())
	}
	if bs := lookup(t, n, agent); len(bs) != 0 {
		t.Fatalf("bindings %+v", bs)
	}
}

// A wrong password: baresip answers each new challenge (not stale) again
// and again, as a misconfigured phone does; the fifth failure locks its
// user out (one log line), and baresip gives up on the 403.
func TestBaresipWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := baresipNode(e)
	user, agent := e.user("baresip-wrong", "right", registrar.MD5)
	ph := baresipPhone(t, 46300)
	if err := ph.Register(baresiptest.Account{User: user, Password: "Guess-4711", Registrar: n.addr}); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.WaitEvent("REGISTER_FAIL", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ph.Output())
	}
	if bs := lookup(t, n, agent); len(bs) != 0 {
		t.Fatalf("bindings %+v", bs)
	}
	out := ph.Output()
	if strings.Contains(out, "stale=true") || strings.Count(out, "SIP/2.0 401") != 5 || strings.Count(out, "SIP/2.0 403") != 1 {
		t.Fatalf("want five fresh challenges, then 403\n%s", out)
	}
	if l := e.logs.lines("sip registrar: wrong credentials"); len(l) != 5 {
		t.Fatalf("%d wrong-credentials lines, want 5", len(l))
	}
	if l := e.logs.lines("sip registrar: locked out"); len(l) != 1 || l[0]["by"] != "user" || l[0]["user"] != user {
		t.Fatalf("lockout lines %v", l)
	}
	noSecrets(t, e, "right", user)
	noSecrets(t, e, "Guess-4711", user)
}

// The nonce baresip got expires before its answer arrives (the registrar's
// clock jumps past the TTL as the challenge leaves): 401 stale=true, and
// baresip answers the new challenge by itself and registers.
func TestBaresipStaleNonce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var once sync.Once
	e.beforeSend = func(req *sip.Request, res *sip.Response) {
		if res.StatusCode == 401 {
			once.Do(func() { e.clock.Advance(registrar.DefaultNonceTTL + time.Second) })
		}
	}
	n := baresipNode(e)
	user, agent := e.user("baresip-stale", "pw", registrar.MD5)
	ph := baresipPhone(t, 46400)
	if err := ph.Register(baresiptest.Account{User: user, Password: "pw", Registrar: n.addr}); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.WaitEvent("REGISTER_OK", 1, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, ph.Output())
	}
	waitBindings(t, n, agent, 1, ph.Output)
	if !strings.Contains(ph.Output(), "stale=true") {
		t.Fatalf("no stale challenge\n%s", ph.Output())
	}
	if l := e.logs.lines("sip registrar: stale nonce"); len(l) != 1 {
		t.Fatalf("stale lines %v", l)
	}
	if _, err := ph.WaitEvent("REGISTER_FAIL", 1, 0); err == nil {
		t.Fatalf("baresip reported a failure\n%s", ph.Output())
	}
}
