//go:build !linux

package media

import (
	"net"
	"net/netip"
)

// connWriter sends a session's packets on its own socket.
type connWriter struct{ c *net.UDPConn }

func newConnWriter(c *net.UDPConn) *connWriter { return &connWriter{c: c} }

func (w *connWriter) write(b []byte, to netip.AddrPort) error {
	_, err := w.c.WriteToUDPAddrPort(b, to)
	return err
}
