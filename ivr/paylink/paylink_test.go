package paylink

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s := Signer{Key: []byte("0123456789abcdef0123"), TTL: 48 * time.Hour, Now: func() time.Time { return now }}
	tok, err := s.Token("MX-000123", "demo-overdue")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verify(tok)
	if err != nil || c.Account != "MX-000123" || c.Campaign != "demo-overdue" || !c.Expires.Equal(now.Add(48*time.Hour)) {
		t.Fatalf("%+v %v", c, err)
	}
	if u := URL("https://pagos.example.com/p/{token}?c={campaign}", tok, c); !strings.HasPrefix(u, "https://pagos.example.com/p/"+tok) {
		t.Fatal(u)
	}
	// Another account's payload with this signature.
	other, _ := s.Token("MX-000124", "demo-overdue")
	forged := strings.Split(other, ".")[0] + "." + strings.Split(tok, ".")[1]
	if _, err := s.Verify(forged); !errors.Is(err, ErrTampered) {
		t.Fatalf("forged: %v", err)
	}
	b := []byte(tok)
	b[len(b)-2] ^= 1
	if _, err := s.Verify(string(b)); err == nil {
		t.Fatal("flipped bit accepted")
	}
	if _, err := (Signer{Key: []byte("another-key-0123456789")}).Verify(tok); !errors.Is(err, ErrTampered) {
		t.Fatalf("other key: %v", err)
	}
	later := s
	later.Now = func() time.Time { return now.Add(48 * time.Hour) }
	if _, err := later.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	for _, bad := range []string{"", "abc", "a.b.c", "!!.??"} {
		if _, err := s.Verify(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := (Signer{Key: []byte("short")}).Token("a", "b"); err == nil {
		t.Fatal("short key accepted")
	}
}

// FuzzVerify: a token verifies only for the account, campaign and expiry it
// was signed for, under its key, until it expires; a change to any one of
// its bytes, or another key, fails it.
func FuzzVerify(f *testing.F) {
	f.Add("MX-000123", "demo-overdue", int64(72*3600), uint(5), byte(1))
	f.Add("", "", int64(1), uint(0), byte(0x80))
	f.Add("ñandú 1/../x?a=1#f", "c+d.e", int64(3600), uint(40), byte('A'))
	f.Add("A", "C", int64(86400), uint(1000), byte(0))
	key := []byte("0123456789abcdef0123")
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, account, campaign string, ttl int64, at uint, flip byte) {
		ttl = 1 + (ttl%(10*365*86400)+10*365*86400)%(10*365*86400) // 1 s to 10 years
		s := Signer{Key: key, TTL: time.Duration(ttl) * time.Second, Now: func() time.Time { return now }}
		tok, err := s.Token(account, campaign)
		if strings.ContainsRune(account+campaign, '\n') {
			if err == nil {
				t.Fatalf("signed an id with a newline: %q %q", account, campaign)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		exp := now.Add(time.Duration(ttl) * time.Second)
		c, err := s.Verify(tok)
		if err != nil || c.Account != account || c.Campaign != campaign || !c.Expires.Equal(exp) {
			t.Fatalf("Verify(Token(%q, %q)) = %+v, %v; want them back, expiring %s", account, campaign, c, err, exp)
		}
		// Until its expiry, and not at it.
		at1 := s
		at1.Now = func() time.Time { return exp.Add(-time.Second) }
		if _, err := at1.Verify(tok); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		at1.Now = func() time.Time { return exp }
		if _, err := at1.Verify(tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("at expiry: %v", err)
		}
		if _, err := (Signer{Key: []byte("another-key-0123456789"), Now: s.Now}).Verify(tok); !errors.Is(err, ErrTampered) {
			t.Fatalf("under another key: %v", err)
		}
		b := []byte(tok)
		i := int(at % uint(len(b)))
		b[i] ^= max(flip, 1)
		if c, err := s.Verify(string(b)); err == nil {
			t.Fatalf("%q with byte %d changed (%q) verifies: %+v", tok, i, b, c)
		}
	})
}

// FuzzVerifyToken: whatever string comes in a link, Verify does not panic,
// and no string but the one the signer made verifies.
func FuzzVerifyToken(f *testing.F) {
	s := Signer{Key: []byte("0123456789abcdef0123"), Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	tok, _ := s.Token("A", "C")
	for _, seed := range []string{tok, "x.y", "", ".", tok + "=", strings.ToUpper(tok)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if c, err := s.Verify(in); err == nil && (in != tok || c.Account != "A" || c.Campaign != "C") {
			t.Fatalf("%q verifies as %+v; only %q was signed", in, c, tok)
		}
	})
}

// An account or campaign id is data, not URL syntax: wherever the template
// puts it, it cannot add a path segment, a query parameter or a fragment.
func TestURLEscapesValues(t *testing.T) {
	s := Signer{Key: []byte("0123456789abcdef0123"), Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	cases := []struct {
		tpl, account, campaign, want string
	}{
		{"https://pay.example/p/{account}", "A 1/../admin?x=1#f", "c", "https://pay.example/p/A%201%2F..%2Fadmin%3Fx%3D1%23f"},
		{"https://pay.example/p?a={account}&c={campaign}", "A&amount=0", "c+d", "https://pay.example/p?a=A%26amount%3D0&c=c%2Bd"},
		{"https://pay.example/p/{campaign}/{account}", "ñandú", "camp-1.x_y~", "https://pay.example/p/camp-1.x_y~/%C3%B1and%C3%BA"},
	}
	for _, c := range cases {
		got := s.Link(c.tpl, c.account, c.campaign)
		if got != c.want {
			t.Errorf("%s with account %q campaign %q:\n got %s\nwant %s", c.tpl, c.account, c.campaign, got, c.want)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "pay.example" || u.Fragment != "" {
			t.Errorf("%s: parsed %+v %v", got, u, err)
		}
	}
	// The token is URL-safe already and is put in as it is.
	tok, _ := s.Token("A1", "c")
	if got := s.Link("https://pay.example/p/{token}", "A1", "c"); got != "https://pay.example/p/"+tok {
		t.Fatalf("token changed: %s", got)
	}
}
