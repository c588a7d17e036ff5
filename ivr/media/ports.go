package media

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
)

// PortRange is the UDP range RTP sessions bind in; ports are even (RFC 3550
// §11: RTP on an even port, RTCP on the next odd one).
type PortRange struct{ Min, Max int }

// Validate checks the range.
func (r PortRange) Validate() error {
	if r.Min < 1024 || r.Max > 65535 || r.Max-r.Min < 2 {
		return fmt.Errorf("rtp port range %d-%d: want 1024 <= min < max <= 65535", r.Min, r.Max)
	}
	return nil
}

// ListenRTP binds an even port in r on ip, starting at a random place so
// concurrent calls rarely collide, and trying every even port once.
func ListenRTP(ip netip.Addr, r PortRange) (*net.UDPConn, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	lo := r.Min + r.Min%2
	n := (r.Max - lo) / 2
	if n <= 0 {
		return nil, fmt.Errorf("rtp port range %d-%d holds no even port", r.Min, r.Max)
	}
	start := rand.IntN(n)
	for i := range n {
		port := lo + 2*((start+i)%n)
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("rtp: no free even port in %d-%d on %s", r.Min, r.Max, ip)
}
