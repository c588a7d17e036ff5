//go:build !linux

package media

import (
	"net"
	"net/netip"
	"syscall"
	"time"
)

// udpBatch without sendmmsg/recvmmsg: one syscall per datagram, the same
// interface as on Linux (udpbatch_linux.go), for building and testing elsewhere.
type udpBatch struct {
	c    *net.UDPConn
	pkts [][]byte
	to   []netip.AddrPort
	fail []bool
	bufs [][]byte
	n    int
}

func newUDPBatch(s *muxSock, size, bufSize int) (*udpBatch, error) {
	b := &udpBatch{c: s.UDPConn, pkts: make([][]byte, size), to: make([]netip.AddrPort, size), fail: make([]bool, size)}
	if bufSize > 0 {
		b.bufs = [][]byte{make([]byte, bufSize)}
	}
	return b, nil
}

func (b *udpBatch) add(p []byte, to netip.AddrPort) bool {
	if b.n == len(b.pkts) || len(p) == 0 {
		return false
	}
	b.pkts[b.n], b.to[b.n], b.fail[b.n] = p, to, false
	b.n++
	return true
}

func (b *udpBatch) flush() {
	for i := range b.n {
		_, err := b.c.WriteToUDPAddrPort(b.pkts[i], b.to[i])
		b.fail[i] = err != nil
	}
}

func (b *udpBatch) failed(i int) bool { return b.fail[i] }
func (b *udpBatch) reset()            { b.n = 0 }

func (b *udpBatch) read() (int, error) {
	n, src, err := b.c.ReadFromUDPAddrPort(b.bufs[0])
	if err != nil {
		return 0, err
	}
	b.pkts[0], b.to[0] = b.bufs[0][:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	return 1, nil
}

func (b *udpBatch) msg(i int) ([]byte, netip.AddrPort) { return b.pkts[i], b.to[i] }

// arrived: no kernel timestamps here.
func (b *udpBatch) arrived(int) time.Time { return time.Time{} }

func stampArrivals(syscall.RawConn) error { return nil }

func kernelStamp([]byte) time.Time { return time.Time{} }
