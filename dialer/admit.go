package dialer

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/dialer/sparselog"
)

// DefaultInboundMaxCalls is InboundPolicy.MaxCalls when unset.
const DefaultInboundMaxCalls = 50

// InboundPolicy says who may call this endpoint and how many at once. Its
// zero value admits nobody: every INVITE gets 403 Forbidden.
//
// Admission is by the packet's source address only. Carriers deliver calls
// from fixed SBC addresses and authenticate them by address (their
// interconnects do not answer a digest challenge to an INVITE they deliver),
// so inbound digest is not offered. A forged UDP source gets no responses
// and no media (see media.SessionOptions.Probe), so it cannot hold a
// conversation.
type InboundPolicy struct {
	// Sources are the networks each trunk's calls come from (inbound_from).
	Sources []Source
	// AnySource admits every address: carrier simulators and tests only.
	AnySource bool
	// MaxCalls bounds the inbound calls in progress, ringing or answered;
	// more get 486 Busy Here. Default 50.
	MaxCalls int
	// ReserveOutbound is how many RTP ports (one a call) at the top of the
	// endpoint's range inbound calls never take, so a flood of INVITEs
	// cannot leave outbound dialing without a port. Zero is half the
	// range; negative reserves none (a carrier simulator).
	ReserveOutbound int
}

// Source is a network a trunk's calls come from.
type Source struct {
	Trunk  string
	Prefix netip.Prefix
}

// InboundStats count what the inbound admission did.
type InboundStats struct {
	Active    int64  // inbound calls in progress (ringing or answered)
	Forbidden uint64 // INVITEs from addresses no trunk lists (403)
	Busy      uint64 // INVITEs beyond MaxCalls (486)
}

// inbound is the endpoint's admission state.
type inbound struct {
	policy    InboundPolicy
	active    atomic.Int64
	forbidden atomic.Uint64
	busy      atomic.Uint64
	// One line per refusal, but at most about one a second each, so a
	// flood cannot flood the log; the lines say how many were left out.
	forbiddenLog, busyLog *sparselog.Log
}

// admit says which trunk a request from src belongs to: the longest prefix
// that holds it.
func (in *inbound) admit(src netip.Addr) (string, bool) {
	if in.policy.AnySource {
		return "any", true
	}
	best, bits := "", -1
	for _, s := range in.policy.Sources {
		if s.Prefix.Contains(src) && s.Prefix.Bits() > bits {
			best, bits = s.Trunk, s.Prefix.Bits()
		}
	}
	return best, bits >= 0
}

// take holds a place under MaxCalls; false when every place is taken.
func (in *inbound) take() bool {
	for {
		n := in.active.Load()
		if n >= int64(in.policy.MaxCalls) {
			return false
		}
		if in.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (in *inbound) free() { in.active.Add(-1) }

// sourceOf is the address the request's packet came from (not its Via,
// which the sender writes).
func sourceOf(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

var hostnameRe = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

// parseSource reads one inbound_from entry: an IP address, a CIDR, or a
// host name (returned in host, to be resolved).
func parseSource(s string) (p netip.Prefix, host string, err error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), "", nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	if len(s) <= 253 && hostnameRe.MatchString(s) && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return netip.Prefix{}, s, nil
	}
	return netip.Prefix{}, "", fmt.Errorf("%q: want an IP address, a CIDR such as 203.0.113.0/24, or a host name", s)
}

// Lookup resolves a host name to its addresses (net.Resolver.LookupNetIP
// with network "ip").
type Lookup func(ctx context.Context, host string) ([]netip.Addr, error)

// InboundSources turns the trunks' inbound_from entries into sources,
// resolving host names now (a carrier's SBC addresses are looked up once,
// at start, not per call; restart after the carrier moves them). lookup nil
// uses the system resolver. Errors name the trunk and the entry.
func InboundSources(ctx context.Context, trunks []TrunkConfig, lookup Lookup) ([]Source, error) {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	var out []Source
	for _, t := range trunks {
		for i, raw := range t.InboundFrom {
			key := fmt.Sprintf("trunks.%s.inbound_from[%d]", t.Name, i)
			p, host, err := parseSource(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			if host == "" {
				out = append(out, Source{Trunk: t.Name, Prefix: p})
				continue
			}
			addrs, err := lookup(ctx, host)
			if err != nil {
				return nil, fmt.Errorf("%s: resolve %s: %w", key, host, err)
			}
			if len(addrs) == 0 {
				return nil, fmt.Errorf("%s: %s has no address", key, host)
			}
			for _, a := range addrs {
				a = a.Unmap()
				out = append(out, Source{Trunk: t.Name, Prefix: netip.PrefixFrom(a, a.BitLen())})
			}
		}
	}
	return out, nil
}
