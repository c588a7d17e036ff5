// Package paylink makes and checks payment-link tokens: an account and
// campaign signed with HMAC-SHA256 and an expiry, so a link in an SMS opens
// that debtor's payment page and nobody else's, and stops working.
package paylink

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

var (
	ErrTampered  = errors.New("payment link: signature does not match")
	ErrExpired   = errors.New("payment link: expired")
	ErrMalformed = errors.New("payment link: malformed token")
)

// Signer makes and verifies tokens.
type Signer struct {
	Key []byte
	TTL time.Duration    // default 72h
	Now func() time.Time // default time.Now
}

// Claims are what a token carries.
type Claims struct {
	Account  string
	Campaign string
	Expires  time.Time
}

func (s Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// enc is strict so each token has one spelling: lax decoding ignores the
// spare low bits of the last character, and a link with them changed
// would verify too (two strings, one token).
var enc = base64.RawURLEncoding.Strict()

// Token signs account and campaign until now + TTL.
func (s Signer) Token(account, campaign string) (string, error) {
	if len(s.Key) < 16 {
		return "", errors.New("payment link: key shorter than 16 bytes")
	}
	if strings.ContainsRune(account, '\n') || strings.ContainsRune(campaign, '\n') {
		return "", fmt.Errorf("payment link: bad account %q", account)
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = 72 * time.Hour
	}
	payload := account + "\n" + campaign + "\n" + strconv.FormatInt(s.now().Add(ttl).Unix(), 10)
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.mac(payload)), nil
}

func (s Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks a token's signature and expiry.
func (s Signer) Verify(token string) (Claims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrMalformed
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(mac, s.mac(string(payload))) {
		return Claims{}, ErrTampered
	}
	f := strings.Split(string(payload), "\n")
	if len(f) != 3 {
		return Claims{}, ErrMalformed
	}
	exp, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	c := Claims{Account: f[0], Campaign: f[1], Expires: time.Unix(exp, 0)}
	if !s.now().Before(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}

// URL fills a campaign's link template: {token}, {account}, {campaign}.
// Each value is percent-encoded (everything but RFC 3986's unreserved
// characters), so an id is data wherever the template puts it, in the path
// or the query, and never adds a segment, a parameter or a fragment.
func URL(template, token string, c Claims) string {
	return strings.NewReplacer("{token}", escape(token), "{account}", escape(c.Account), "{campaign}", escape(c.Campaign)).Replace(template)
}

// escape is QueryEscape with a space as %20, which means a space in a path
// too (QueryEscape's + would be a literal plus there).
func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// Link is the payment link of account in campaign for the campaign's link
// template; "" when there is no template or no key.
func (s Signer) Link(template, account, campaign string) string {
	if template == "" || len(s.Key) == 0 {
		return ""
	}
	tok, err := s.Token(account, campaign)
	if err != nil {
		return ""
	}
	return URL(template, tok, Claims{Account: account, Campaign: campaign})
}
