//go:build linux

package media

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// A session's own socket sends with a raw sendto: the datagram arrives
// whole, from an IPv4 socket and from a dual-stack one (Go binds the
// wildcard address on IPv6), and a send allocates nothing.
func TestConnWriterSends(t *testing.T) {
	for name, listen := range map[string]func() (*net.UDPConn, error){
		"ipv4":       func() (*net.UDPConn, error) { return ListenRTP(loopback, testPorts) },
		"dual-stack": func() (*net.UDPConn, error) { return net.ListenUDP("udp", &net.UDPAddr{}) },
	} {
		t.Run(name, func(t *testing.T) {
			phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer phone.Close()
			to := phone.LocalAddr().(*net.UDPAddr).AddrPort()
			c, err := listen()
			if err != nil {
				t.Skip(err) // no IPv6 here
			}
			defer c.Close()
			w := newConnWriter(c)
			if w == nil {
				t.Fatal("no raw writer for a UDP socket")
			}
			pkt := bytes.Repeat([]byte{0x80, 0x00, 0xA5}, 57)
			if err := w.write(pkt, to); err != nil {
				t.Fatal(err)
			}
			phone.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 1500)
			n, src, err := phone.ReadFromUDPAddrPort(buf)
			if err != nil || !bytes.Equal(buf[:n], pkt) {
				t.Fatalf("received %x %v, want %x", buf[:n], err, pkt)
			}
			if got, want := src.Port(), c.LocalAddr().(*net.UDPAddr).AddrPort().Port(); got != want {
				t.Fatalf("from port %d, want %d", got, want)
			}
			if a := testing.AllocsPerRun(100, func() { w.write(pkt, to) }); a != 0 {
				t.Fatalf("%.1f allocations per send", a)
			}
		})
	}
	c, err := ListenRTP(loopback, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	w := newConnWriter(c)
	c.Close()
	if err := w.write([]byte{0x80}, netip.MustParseAddrPort("127.0.0.1:9")); err == nil {
		t.Fatal("a send on a closed socket succeeded")
	}
}
