//go:build !linux

package media

import (
	"net"
	"net/netip"
)

// muxSock is a shared RTP socket: here a net.UDPConn (muxsock_linux.go
// keeps it out of the netpoller).
type muxSock struct {
	*net.UDPConn
	local netip.AddrPort
}

func bindMuxSock(ip netip.Addr, r PortRange) (*muxSock, error) {
	c, err := ListenRTP(ip, r)
	if err != nil {
		return nil, err
	}
	c.SetReadBuffer(4 << 20)
	c.SetWriteBuffer(1 << 20)
	return &muxSock{UDPConn: c, local: c.LocalAddr().(*net.UDPAddr).AddrPort()}, nil
}

func (s *muxSock) shutdown()      { s.UDPConn.Close() }
func (s *muxSock) release() error { return nil }

func (s *muxSock) writeTo(b []byte, to netip.AddrPort) error {
	_, err := s.WriteToUDPAddrPort(b, to)
	return err
}
