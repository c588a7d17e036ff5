package media

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
)

// PortRange is the UDP range RTP sessions bind in, both ends included; ports
// are even (RFC 3550 §11: RTP on an even port, RTCP on the next odd one).
type PortRange struct{ Min, Max int }

// Validate checks the range.
func (r PortRange) Validate() error {
	if r.Min < 1024 || r.Max > 65535 || r.Max-r.Min < 2 {
		return fmt.Errorf("rtp port range %d-%d: want 1024 <= min < max <= 65535", r.Min, r.Max)
	}
	return nil
}

// Even is how many even ports the range holds: how many calls it can carry.
func (r PortRange) Even() int {
	lo, hi := r.Min+r.Min%2, r.Max-r.Max%2
	if hi < lo {
		return 0
	}
	return (hi-lo)/2 + 1
}

// Below is the range without its top n even ports: what is left when those
// are kept for someone else (outbound calls).
func (r PortRange) Below(n int) PortRange {
	return PortRange{Min: r.Min, Max: r.Max - r.Max%2 - 2*n}
}

// ListenRTP binds an even port in r on ip (bindEven).
func ListenRTP(ip netip.Addr, r PortRange) (*net.UDPConn, error) {
	return bindEven(ip, r, func(a netip.AddrPort) (*net.UDPConn, error) {
		return net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
	})
}

// bindEven binds with bind an even port in r on ip, starting at a random
// place so concurrent calls rarely collide, and trying every even port
// once: a per-call socket (ListenRTP) and a shared one (bindMuxSock).
func bindEven[T any](ip netip.Addr, r PortRange, bind func(netip.AddrPort) (T, error)) (T, error) {
	var zero T
	if r.Min < 1024 || r.Max > 65535 {
		return zero, r.Validate()
	}
	lo := r.Min + r.Min%2
	n := r.Even()
	if n <= 0 {
		return zero, fmt.Errorf("rtp port range %d-%d holds no even port", r.Min, r.Max)
	}
	start := rand.IntN(n)
	var last error
	for i := range n {
		port := lo + 2*((start+i)%n)
		c, err := bind(netip.AddrPortFrom(ip, uint16(port)))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return zero, fmt.Errorf("rtp: no free even port in %d-%d on %s (last: %w)", r.Min, r.Max, ip, last)
}
