package app

import (
	"log/slog"
	"net"
	"net/netip"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
)

// newEndpoint starts this node's SIP endpoint on listen with the config's
// public address, RTP address and port range; in says who may call it (its
// zero value: nobody); onRegister (nil: 405) answers REGISTER.
func newEndpoint(c config.Config, listen, userAgent string, log *slog.Logger, onInvite func(*dialer.Inbound), in dialer.InboundPolicy,
	onRegister func(*sip.Request, sip.ServerTransaction)) (*dialer.Endpoint, error) {
	opt := dialer.EndpointOptions{Listen: listen, PublicAddr: c.SIP.PublicAddr, RTPPorts: c.RTPPorts(), RTPSockets: c.SIP.RTPSockets,
		UserAgent: userAgent, Logger: log, OnInvite: onInvite, Inbound: in, OnRegister: onRegister}
	if listen != c.SIP.Listen && opt.PublicAddr != "" {
		// Another port than the configured one: advertise the one we bound.
		if h, _, err := net.SplitHostPort(opt.PublicAddr); err == nil {
			opt.PublicAddr = h
		}
	}
	if c.SIP.RTPAddr != "" {
		opt.RTPAddr = netip.MustParseAddr(c.SIP.RTPAddr) // validated with the config
	}
	return dialer.NewEndpoint(opt)
}
