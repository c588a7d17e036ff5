package registrar

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
const (
	rfcUser     = "Mufasa"
	rfcRealm    = "http-auth@example.org"
	rfcPassword = "Circle of Life"
	rfcNonce    = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
	rfcCnonce   = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	rfcOpaque   = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
)

func rfcHeader(alg, response string) string {
	return `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=` + alg +
		`, nonce="` + rfcNonce + `", nc=00000001, cnonce="` + rfcCnonce + `", qop=auth, response="` + response +
		`", opaque="` + rfcOpaque + `"`
}

func TestVerifyRFC7616Vectors(t *testing.T) {
	for _, c := range []struct {
		alg      Algorithm
		response string
	}{
		{MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		cred, err := parseAuthorization(rfcHeader(string(c.alg), c.response))
		if err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
		ha1 := HA1(c.alg, rfcUser, rfcRealm, rfcPassword)
		if !cred.verify("GET", ha1) {
			t.Fatalf("%s: the RFC's response does not verify", c.alg)
		}
		if cred.verify("POST", ha1) || cred.verify("GET", HA1(c.alg, rfcUser, rfcRealm, "circle of life")) {
			t.Fatalf("%s: verifies with another method or password", c.alg)
		}
		// Upper-case hex is the same response.
		cred.Response = strings.ToUpper(cred.Response)
		if !cred.verify("GET", ha1) {
			t.Fatalf("%s: upper-case response refused", c.alg)
		}
	}
}

func TestParseAuthorizationRefuses(t *testing.T) {
	ok := rfcHeader("MD5", "8ca523f5e9506fed4657c9700eebdbec")
	for _, c := range []struct{ name, v string }{
		{"basic", "Basic dXNlcjpwYXNz"},
		{"no response", strings.Replace(ok, `response="8ca523f5e9506fed4657c9700eebdbec"`, `x="y"`, 1)},
		{"no qop", strings.Replace(ok, "qop=auth", `x=y`, 1)},
		{"auth-int", strings.Replace(ok, "qop=auth", `qop=auth-int`, 1)},
		{"nc zero", strings.Replace(ok, "nc=00000001", "nc=00000000", 1)},
		{"bad nc", strings.Replace(ok, "nc=00000001", "nc=zz", 1)},
		{"short response", strings.Replace(ok, "8ca523f5e9506fed4657c9700eebdbec", "8ca523f5", 1)},
		{"md5 length for sha-256", strings.Replace(ok, "algorithm=MD5", "algorithm=SHA-256", 1)},
		{"not hex", strings.Replace(ok, "8ca523f5e9506fed4657c9700eebdbec", "8ca523f5e9506fed4657c9700eebdbeX", 1)},
		{"md5-sess", strings.Replace(ok, "algorithm=MD5", "algorithm=MD5-sess", 1)},
		{"control character", strings.Replace(ok, "Mufasa", "Muf\x01asa", 1)},
		{"huge", ok + `, x="` + strings.Repeat("a", maxAuthorization) + `"`},
		{"long field", strings.Replace(ok, "Mufasa", strings.Repeat("M", maxField+1), 1)},
	} {
		if _, err := parseAuthorization(c.v); !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v, want malformed", c.name, err)
		}
	}
	if c, err := parseAuthorization(strings.Replace(ok, "algorithm=MD5, ", "", 1)); err != nil || c.alg != MD5 {
		t.Fatalf("no algorithm: %v %v, want MD5", c, err)
	}
}

// FuzzParseAuthorization: no input panics or is accepted with a field the
// registrar cannot use, and what is accepted reads back the same once
// written out again.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(rfcHeader("MD5", "8ca523f5e9506fed4657c9700eebdbec"))
	f.Add(rfcHeader("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"))
	// As baresip 1.0 writes it.
	f.Add(`Digest username="agent7", realm="marcador", nonce="AAABmKk2b8g", uri="sip:127.0.0.1:5060", response="0123456789abcdef0123456789abcdef", cnonce="00ab31e6b7c4d5f1", qop=auth, nc=00000001`)
	f.Add(`Digest username="a\"b\\c", realm="marcador", nonce="n", uri="sip:x", response="0123456789abcdef0123456789abcdef", cnonce="c", qop=auth, nc=ffffffff`)
	f.Add(`Digest username=agent, realm=marcador`)
	f.Add(`Digest ,,,`)
	f.Add(`Digest username="`)
	f.Add(`digest  username = "x" , nc=1`)
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseAuthorization(v)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("%q: error %v does not say malformed", v, err)
			}
			return
		}
		if c.Username == "" || c.Nonce == "" || c.URI == "" || c.Cnonce == "" || c.QOP != "auth" || c.Nc < 1 ||
			len(c.Response) != c.alg.hexLen() {
			t.Fatalf("%q accepted as %+v", v, c)
		}
		again, err := parseAuthorization(c.Credentials.String())
		if err != nil {
			t.Fatalf("%q: written back as %q, refused: %v", v, c.Credentials.String(), err)
		}
		if again.Credentials != c.Credentials {
			t.Fatalf("%q: read back %+v, want %+v", v, again.Credentials, c.Credentials)
		}
		c.verify("REGISTER", HA1(c.alg, c.Username, c.Realm, "x"))
	})
}

func TestNonces(t *testing.T) {
	n := newNonces([]byte("0123456789abcdef"), "marcador", time.Minute)
	now := time.Unix(1_800_000_000, 0)
	v := n.mint(now)
	if issued, err := n.check(v, now.Add(59*time.Second)); err != nil || !issued.Equal(now) {
		t.Fatalf("fresh nonce: %v %v", issued, err)
	}
	if _, err := n.check(v, now.Add(time.Minute)); !errors.Is(err, errNonceExpired) {
		t.Fatalf("at its TTL: %v", err)
	}
	if _, err := n.check(v, now.Add(-2*time.Minute)); !errors.Is(err, errNonceInvalid) {
		t.Fatalf("from the future: %v", err)
	}
	other := newNonces([]byte("fedcba9876543210"), "marcador", time.Minute)
	if _, err := other.check(v, now); !errors.Is(err, errNonceInvalid) {
		t.Fatalf("other secret: %v", err)
	}
	// Adopting another secret keeps the old one's nonces good.
	other.keys.Store(&nonceKeys{cur: []byte("fedcba9876543210"), prev: []byte("0123456789abcdef")})
	if _, err := other.check(v, now); err != nil {
		t.Fatalf("previous secret: %v", err)
	}
	if _, err := newNonces([]byte("0123456789abcdef"), "elsewhere", time.Minute).check(v, now); !errors.Is(err, errNonceInvalid) {
		t.Fatalf("other realm: %v", err)
	}
	b := []byte(v)
	b[3] ^= 1
	for _, bad := range []string{string(b), v[:len(v)-1], "", "!!!", v + "A"} {
		if _, err := n.check(bad, now); !errors.Is(err, errNonceInvalid) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if n.mint(now) == v {
		t.Fatal("two nonces minted at the same instant are equal")
	}
}

func TestContactKey(t *testing.T) {
	parse := func(s string) sip.Uri {
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	same := [][2]string{
		{"sip:a@Host.Example", "sip:a@host.example:5060"},
		{"sip:a@1.2.3.4:5070;transport=UDP", "sip:a@1.2.3.4:5070;transport=udp;ob"},
		{"sips:a@h", "sips:a@h:5061"},
	}
	for _, c := range same {
		if contactKey(parse(c[0])) != contactKey(parse(c[1])) {
			t.Errorf("%s and %s are different bindings", c[0], c[1])
		}
	}
	differ := [][2]string{
		{"sip:a@h", "sip:A@h"},
		{"sip:a@h", "sip:a@h:5070"},
		{"sip:a@h", "sip:a@h;transport=tcp"},
		{"sip:a@h", "sips:a@h"},
	}
	for _, c := range differ {
		if contactKey(parse(c[0])) == contactKey(parse(c[1])) {
			t.Errorf("%s and %s are one binding", c[0], c[1])
		}
	}
}

func TestParseExpires(t *testing.T) {
	def := 10 * time.Minute
	for v, want := range map[string]time.Duration{
		"0": 0, "60": time.Minute, " 3600 ": time.Hour, "": def, "-1": def, "1e3": def, "junk": def,
		"99999999999999999999": 4294967295 * time.Second,
	} {
		if got := parseExpires(v, def); got != want {
			t.Errorf("%q: %s, want %s", v, got, want)
		}
	}
}

func TestExpiryMember(t *testing.T) {
	for _, agent := range []string{"a", "agent 7", "x:y", "", "12:ab"} {
		m := expiryMember(agent, "sip:u@h:5060")
		a, ck, ok := splitExpiryMember(m)
		if !ok || a != agent || ck != "sip:u@h:5060" {
			t.Fatalf("%q → %q → %q %q %v", agent, m, a, ck, ok)
		}
	}
	for _, bad := range []string{"", "x", "5:ab", "-1:ab"} {
		if _, _, ok := splitExpiryMember(bad); ok {
			t.Fatalf("%q split", bad)
		}
	}
}

// The challenge carries what RFC 7616 §3.3 asks for and reads back.
func TestChallenge(t *testing.T) {
	v := challenge("marcador", "abc", SHA256, true)
	c, err := digest.ParseChallenge(v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Realm != "marcador" || c.Nonce != "abc" || c.Algorithm != "SHA-256" || !c.Stale || !c.SupportsQOP("auth") {
		t.Fatalf("%q → %+v", v, c)
	}
}
