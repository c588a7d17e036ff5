package registrar_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/marcador/marcador/dialer/registrar"
)

// Five wrong passwords for one user within a minute, sent to two nodes:
// the fifth gets 403, and so does the right password from anywhere until
// the lockout ends (injected clock); one log line for the lockout, not one
// per attempt.
func TestLockoutPerUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	lock := func(o *registrar.Options) {
		o.Lockout = registrar.Lockout{PerUser: 5, PerSource: 100, Window: time.Minute, Duration: 5 * time.Minute}
	}
	a, b := e.node("a", lock), e.node("b", lock)
	user, agent := e.user("locked", "pw")
	thief := e.phone(a, user, "guess")
	for i := 1; i <= 5; i++ {
		n := a
		if i%2 == 0 {
			n = b
		}
		res := thief.at(n).register(registrar.MD5, "60")
		if i < 5 {
			wantStatus(t, res, 401)
		} else {
			wantStatus(t, res, 403)
		}
		e.clock.Advance(5 * time.Second)
	}
	// Locked: no challenge at all, right password or not, any source.
	agentPhone := e.phoneFrom(b, otherSource(e), user, "pw")
	wantStatus(t, agentPhone.do(agentPhone.req("60")), 403)
	wantStatus(t, thief.at(a).do(thief.req("60")), 403)
	lines := e.logs.lines("sip registrar: locked out")
	if len(lines) != 1 || lines[0]["by"] != "user" || lines[0]["user"] != user {
		t.Fatalf("lockout lines %v", lines)
	}
	// Another user from the thief's address is not locked.
	other, _ := e.user("bystander", "pw")
	by := e.phone(a, other, "pw")
	wantStatus(t, by.register(registrar.MD5, "60"), 200)

	e.clock.Advance(5 * time.Minute)
	wantStatus(t, agentPhone.register(registrar.SHA256, "60"), 200)
	if bs := lookup(t, a, agent); len(bs) != 1 {
		t.Fatalf("bindings %+v", bs)
	}
	if n := len(e.logs.lines("sip registrar: locked out")); n != 1 {
		t.Fatalf("%d lockout lines", n)
	}
	noSecrets(t, e, "pw", user)
}

// Failures from one address across users lock the address out; a success
// clears a user's count but not the address's; failures further apart
// than the window never add up.
func TestLockoutPerSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", func(o *registrar.Options) {
		o.Lockout = registrar.Lockout{PerUser: 3, PerSource: 5, Window: time.Minute, Duration: 2 * time.Minute}
	})
	var users []string
	for _, name := range []string{"u1", "u2", "u3", "u4", "u5"} {
		u, _ := e.user(name, "pw")
		users = append(users, u)
	}
	p := e.phone(n, users[0], "bad")
	try := func(password string, want int) {
		t.Helper()
		p.password = password
		wantStatus(t, p.register(registrar.MD5, "60"), want)
	}
	// u1: two failures, a success (its count restarts), two failures: its
	// third and fourth failure overall, yet not locked. The source has 4.
	try("bad", 401)
	try("bad", 401)
	try("pw", 200)
	try("bad", 401)
	try("bad", 401)
	// A fifth failure from the address, another user: the address is locked.
	q := e.phone(n, users[1], "bad")
	wantStatus(t, q.register(registrar.MD5, "60"), 403)
	good := e.phone(n, users[4], "pw")
	wantStatus(t, good.do(good.req("60")), 403)
	lines := e.logs.lines("sip registrar: locked out")
	if len(lines) != 1 || lines[0]["by"] != "source" || lines[0]["src"] != e.src.String() {
		t.Fatalf("lockout lines %v", lines)
	}
	// Elsewhere the same user is fine.
	far := e.phoneFrom(n, otherSource(e), users[4], "pw")
	wantStatus(t, far.register(registrar.MD5, "60"), 200)

	// The lockout ends; four failures, a minute, four more: never five in
	// one window.
	e.clock.Advance(2 * time.Minute)
	wantStatus(t, good.register(registrar.MD5, "60"), 200)
	for round := 0; round < 2; round++ {
		for _, u := range users[1:5] {
			wantStatus(t, e.phone(n, u, "bad").register(registrar.MD5, "60"), 401)
		}
		e.clock.Advance(61 * time.Second)
	}
	wantStatus(t, good.register(registrar.MD5, "60"), 200)
	if n := len(e.logs.lines("sip registrar: locked out")); n != 1 {
		t.Fatalf("%d lockout lines", n)
	}
}

// An exempt source (a SIP proxy every REGISTER comes through) is never
// locked; its users still are.
func TestLockoutExemptSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := e.node("n", func(o *registrar.Options) {
		o.Lockout = registrar.Lockout{PerUser: 2, PerSource: 2, Exempt: []netip.Prefix{netip.PrefixFrom(e.src, 32)}}
	})
	a, _ := e.user("ex-a", "pw")
	b, _ := e.user("ex-b", "pw")
	c, _ := e.user("ex-c", "pw")
	wantStatus(t, e.phone(n, a, "bad").register(registrar.MD5, "60"), 401)
	wantStatus(t, e.phone(n, b, "bad").register(registrar.MD5, "60"), 401)
	wantStatus(t, e.phone(n, c, "pw").register(registrar.MD5, "60"), 200)
	pa := e.phone(n, a, "bad")
	wantStatus(t, pa.register(registrar.MD5, "60"), 403) // a's second failure
}
