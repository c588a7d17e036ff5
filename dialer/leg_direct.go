package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/ivr/media"
)

// Direct is a call to a SIP user agent itself, with no trunk: an agent's
// phone at the contact it registered (the nailed-up agent leg). It has no
// caller id rule, no trunk limits and no digest credentials, and the Reg F
// ring floor (a debtor's) does not apply.
type Direct struct {
	// Addr is host:port the INVITE and every later request of its dialog
	// go to, whatever host the Request-URI (DialRequest.To, the registered
	// Contact) or the phone's answer names: the address its REGISTER came
	// from, the outside of its NAT (RFC 3581 symmetric routing).
	Addr string
	// Route are Route header values the INVITE carries: the Path a proxy
	// in front of the registrar recorded (RFC 3327). Addr is then that
	// proxy.
	Route []string
	// FromUser and FromName are the From header's user and display name;
	// default "marcador" and none.
	FromUser, FromName string
	// Headers are added to the INVITE (e.g. Call-Info and Alert-Info
	// asking the phone to answer by itself).
	Headers []sip.Header
	// Codecs offered, in order; default PCMU then PCMA.
	Codecs []media.Codec
}

// checkDirect fills a direct dial's defaults and refuses one that cannot be
// sent.
func (r DialRequest) checkDirect() (DialRequest, error) {
	if r.Trunk != nil {
		return r, errors.New("a direct dial goes through no trunk")
	}
	d := *r.Direct
	if _, _, err := splitAddr(d.Addr); err != nil {
		return r, fmt.Errorf("direct address %q: %w", d.Addr, err)
	}
	if d.FromUser == "" {
		d.FromUser = "marcador"
	}
	if len(d.Codecs) == 0 {
		d.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	r.Direct = &d
	if r.RingTimeout == 0 {
		r.RingTimeout = DefaultRingTimeout
	}
	if r.RingTimeout < 0 {
		return r, fmt.Errorf("ring timeout %s: negative", r.RingTimeout)
	}
	return r, nil
}

func splitAddr(a string) (string, int, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil || h == "" {
		return "", 0, errors.New("want host:port")
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, errors.New("bad port")
	}
	return h, port, nil
}

// directTarget is the Request-URI of a direct dial: a sip URI with a host.
func directTarget(to string) (sip.Uri, error) {
	var u sip.Uri
	if err := sip.ParseUri(to, &u); err != nil {
		return u, fmt.Errorf("destination %q: %w", to, err)
	}
	if s := strings.ToLower(u.Scheme); s != "sip" && s != "sips" || u.Host == "" {
		return u, fmt.Errorf("destination %q: a direct dial needs a sip URI with a host", to)
	}
	return u, nil
}

// target, acquire, name and codecs are what a dial takes from its trunk,
// or from Direct.

func (r DialRequest) target() (sip.Uri, error) {
	if r.Direct != nil {
		return directTarget(r.To)
	}
	return r.Trunk.Target(r.To)
}

func (r DialRequest) acquire(ctx context.Context) (func(), error) {
	if r.Direct != nil {
		return func() {}, nil
	}
	return r.Trunk.acquire(ctx)
}

// via names the route of the call in its log lines.
func (r DialRequest) via() (key, value string) {
	if r.Direct != nil {
		return "direct", r.Direct.Addr
	}
	return "trunk", r.Trunk.Name
}

func (r DialRequest) codecs() []media.Codec {
	if r.Direct != nil {
		return r.Direct.Codecs
	}
	return r.Trunk.Codecs
}

// credentials answer the far end's digest challenge: a trunk's, if it has
// any; a direct dial has none.
func (r DialRequest) credentials() (user, password string) {
	if r.Direct != nil {
		return "", ""
	}
	return r.Trunk.Username, r.Trunk.Password
}

// directInvite makes our INVITE a direct one: the From, the extra headers
// and routes, and the address it goes to.
func (e *Endpoint) directInvite(req *sip.Request, d *Direct) {
	from := req.From()
	from.Address.User, from.DisplayName = d.FromUser, d.FromName
	for _, rt := range d.Route {
		req.AppendHeader(sip.NewHeader("Route", rt))
	}
	for _, h := range d.Headers {
		req.AppendHeader(h)
	}
	req.SetDestination(d.Addr)
}
