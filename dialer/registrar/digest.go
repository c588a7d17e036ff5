package registrar

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/icholy/digest"
)

// Algorithm is a digest algorithm as a challenge names it (RFC 8760 §2,
// RFC 7616 §3.3).
type Algorithm string

// The algorithms the registrar verifies. RFC 8760 adds SHA-256 (and
// SHA-512/256) to SIP; MD5 stays because many phones know nothing else.
const (
	MD5    Algorithm = "MD5"
	SHA256 Algorithm = "SHA-256"
)

// ParseAlgorithm reads an algorithm parameter, case-insensitively; an absent
// one is MD5 (RFC 2617 §3.2.1). The -sess variants are refused: they need
// state per client nonce and no phone that matters sends them unasked.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(s) {
	case "", "MD5":
		return MD5, nil
	case "SHA-256":
		return SHA256, nil
	}
	return "", fmt.Errorf("digest algorithm %q: want MD5 or SHA-256", s)
}

func (a Algorithm) new() hash.Hash {
	if a == SHA256 {
		return sha256.New()
	}
	return md5.New()
}

// hexLen is the length of a hex digest of a.
func (a Algorithm) hexLen() int {
	if a == SHA256 {
		return 2 * sha256.Size
	}
	return 2 * md5.Size
}

// HA1 is H(user ":" realm ":" password) in lower-case hex (RFC 7616 §3.4.2):
// what an agent store keeps instead of the password, one per algorithm. It
// depends on the realm, so changing the registrar's realm needs every
// password set again.
func HA1(alg Algorithm, user, realm, password string) string {
	h := alg.new()
	h.Write([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(h.Sum(nil))
}

// credentials are one parsed and checked Authorization header value.
type credentials struct {
	digest.Credentials
	alg Algorithm
}

// Limits on what a phone may send in an Authorization header: far above
// any real value, low enough that a hostile header costs nothing.
const (
	maxAuthorization = 4096
	maxField         = 512
)

// errMalformed wraps every reason an Authorization header is refused before
// any credential is looked at.
var errMalformed = errors.New("malformed digest credentials")

// parseAuthorization reads a Digest Authorization header value (RFC 3261
// §22.4, RFC 7616 §3.4) with icholy/digest and checks what the registrar
// needs: every field present, printable and bounded; qop=auth with a
// cnonce and a non-zero nonce count (the registrar offers nothing else, and
// without them a response could be replayed); a response as long as the
// algorithm's digest.
func parseAuthorization(v string) (*credentials, error) {
	if len(v) > maxAuthorization {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", errMalformed, len(v), maxAuthorization)
	}
	c, err := digest.ParseCredentials(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	for _, f := range []struct{ name, v string }{
		{"username", c.Username}, {"realm", c.Realm}, {"nonce", c.Nonce}, {"uri", c.URI},
		{"response", c.Response}, {"cnonce", c.Cnonce}, {"qop", c.QOP},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("%w: no %s", errMalformed, f.name)
		}
		if len(f.v) > maxField {
			return nil, fmt.Errorf("%w: %s is %d bytes (limit %d)", errMalformed, f.name, len(f.v), maxField)
		}
		if !printable(f.v) {
			return nil, fmt.Errorf("%w: %s holds a control character or invalid UTF-8", errMalformed, f.name)
		}
	}
	// Not offered, so not needed, but written back by String: bounded and
	// printable like the rest.
	if len(c.Algorithm) > maxField || len(c.Opaque) > maxField || !printable(c.Algorithm) || !printable(c.Opaque) {
		return nil, fmt.Errorf("%w: algorithm or opaque too long or not printable", errMalformed)
	}
	alg, err := ParseAlgorithm(c.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if !strings.EqualFold(c.QOP, "auth") {
		return nil, fmt.Errorf("%w: qop %q, want auth", errMalformed, c.QOP)
	}
	if c.Nc < 1 {
		return nil, fmt.Errorf("%w: nonce count %d, want 1 or more", errMalformed, c.Nc)
	}
	if len(c.Response) != alg.hexLen() {
		return nil, fmt.Errorf("%w: response is %d characters, %s gives %d", errMalformed, len(c.Response), alg, alg.hexLen())
	}
	if _, err := hex.DecodeString(c.Response); err != nil {
		return nil, fmt.Errorf("%w: response is not hex", errMalformed)
	}
	c.QOP = "auth"
	c.Algorithm = string(alg)
	return &credentials{Credentials: *c, alg: alg}, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// expected is the response a phone knowing the password computes for
// method (RFC 7616 §3.4.1 with qop=auth), from the stored HA1.
func (c *credentials) expected(method, ha1 string) (string, error) {
	chal := &digest.Challenge{Realm: c.Realm, Nonce: c.Nonce, Algorithm: string(c.alg), QOP: []string{"auth"}}
	d, err := digest.Digest(chal, digest.Options{Method: method, URI: c.URI, A1: ha1, Cnonce: c.Cnonce, Count: c.Nc})
	if err != nil {
		return "", err
	}
	return d.Response, nil
}

// verify says whether the response matches, in constant time.
func (c *credentials) verify(method, ha1 string) bool {
	want, err := c.expected(method, ha1)
	if err != nil {
		return false
	}
	got := strings.ToLower(c.Response)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// challenge is one WWW-Authenticate value (RFC 7616 §3.3).
func challenge(realm, nonce string, alg Algorithm, stale bool) string {
	return (&digest.Challenge{Realm: realm, Nonce: nonce, Algorithm: string(alg), QOP: []string{"auth"}, Stale: stale}).String()
}
