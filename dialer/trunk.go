package dialer

import (
	"context"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"

	"github.com/marcador/marcador/ivr/media"
)

// TrunkConfig is one carrier trunk as configured.
type TrunkConfig struct {
	Name        string   `yaml:"name"`
	URI         string   `yaml:"uri"`       // sip:gw.carrier.example:5060
	Transport   string   `yaml:"transport"` // udp, tcp, tls
	Username    string   `yaml:"username"`  // digest credentials, if the carrier challenges
	Password    string   `yaml:"password"`
	CallerID    string   `yaml:"caller_id"` // E.164 for From and P-Asserted-Identity
	Codecs      []string `yaml:"codecs"`    // preference: PCMU, PCMA
	CPS         float64  `yaml:"cps"`       // new calls per second
	MaxChannels int      `yaml:"max_channels"`
	// InboundFrom lists where the carrier's calls to us come from: IP
	// addresses, CIDRs, or host names (resolved at start). INVITEs from
	// anywhere else get 403.
	InboundFrom []string `yaml:"inbound_from"`
}

// Trunk is a configured trunk with its limits. The limits are shared by every
// campaign that dials through it on this node.
type Trunk struct {
	Name      string
	URI       sip.Uri
	Transport string
	Username  string
	Password  string
	CallerID  string
	Codecs    []media.Codec
	cps       *rate.Limiter
	channels  chan struct{}
}

// NewTrunk validates c and builds the trunk; errors name the trunk and key.
func NewTrunk(c TrunkConfig) (*Trunk, error) {
	if c.Name == "" {
		return nil, fmt.Errorf("trunks: a trunk has no name")
	}
	where := "trunks." + c.Name
	var u sip.Uri
	if err := sip.ParseUri(c.URI, &u); err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s.uri %q: want sip:host[:port]", where, c.URI)
	}
	tr := strings.ToLower(c.Transport)
	if tr == "" {
		tr = "udp"
	}
	switch tr {
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("%s.transport %q: want udp, tcp or tls", where, c.Transport)
	}
	codecs := c.Codecs
	if len(codecs) == 0 {
		codecs = []string{"PCMU", "PCMA"}
	}
	if c.CallerID != "" {
		if err := CheckCallerID(c.CallerID); err != nil {
			return nil, fmt.Errorf("%s.caller_id: %w", where, err)
		}
	}
	for i, s := range c.InboundFrom {
		if _, _, err := parseSource(s); err != nil {
			return nil, fmt.Errorf("%s.inbound_from[%d]: %w", where, i, err)
		}
	}
	t := &Trunk{Name: c.Name, URI: u, Transport: tr, Username: c.Username, Password: c.Password, CallerID: c.CallerID}
	for _, n := range codecs {
		mc, ok := media.CodecByName(n)
		if !ok {
			return nil, fmt.Errorf("%s.codecs: %q is not PCMU or PCMA", where, n)
		}
		t.Codecs = append(t.Codecs, mc)
	}
	if c.CPS < 0 || c.MaxChannels < 0 {
		return nil, fmt.Errorf("%s: cps and max_channels must not be negative", where)
	}
	cps, ch := c.CPS, c.MaxChannels
	if cps == 0 {
		cps = 10
	}
	if ch == 0 {
		ch = 30
	}
	burst := max(1, int(cps/10)) // smooth: at most a tenth of a second's calls at once
	t.cps = rate.NewLimiter(rate.Limit(cps), burst)
	t.channels = make(chan struct{}, ch)
	return t, nil
}

// acquire waits for a free channel and a CPS slot; release the channel when
// the call ends.
func (t *Trunk) acquire(ctx context.Context) (release func(), err error) {
	select {
	case t.channels <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("trunk %s: all %d channels busy: %w", t.Name, cap(t.channels), ctx.Err())
	}
	if err := t.cps.Wait(ctx); err != nil {
		<-t.channels
		return nil, fmt.Errorf("trunk %s: cps limit: %w", t.Name, err)
	}
	return func() { <-t.channels }, nil
}

// InUse is the number of channels held now.
func (t *Trunk) InUse() int { return len(t.channels) }

// MaxChannels is the trunk's channel limit.
func (t *Trunk) MaxChannels() int { return cap(t.channels) }

// CPS is the trunk's limit of new calls per second.
func (t *Trunk) CPS() float64 { return float64(t.cps.Limit()) }

// Target is the Request-URI for a number or a SIP URI: "sip:..." is used as
// is; anything else is a number dialled at the trunk's host.
func (t *Trunk) Target(to string) (sip.Uri, error) {
	var u sip.Uri
	if strings.HasPrefix(to, "sip:") || strings.HasPrefix(to, "sips:") {
		if err := sip.ParseUri(to, &u); err != nil {
			return u, fmt.Errorf("destination %q: %w", to, err)
		}
		return u, nil
	}
	num := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '+' || r == '*' || r == '#' {
			return r
		}
		return -1
	}, to)
	if len(strings.TrimPrefix(num, "+")) < 3 {
		return u, fmt.Errorf("destination %q: not a number or SIP URI", to)
	}
	u = sip.Uri{Scheme: "sip", User: num, Host: t.URI.Host, Port: t.URI.Port}
	if t.Transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", t.Transport)
	}
	return u, nil
}
