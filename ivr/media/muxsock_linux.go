//go:build linux

package media

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// muxWake is how long a reader's blocking recvmmsg waits before it looks
// whether its socket is closing; Close also wakes it at once (shutdown).
const muxWake = 100 // ms

// muxSock is a shared RTP socket that is not in Go's netpoller. A socket in
// the netpoller is registered for EPOLLOUT too, and every datagram sent on
// it calls the epoll callback once the kernel frees the datagram (loopback
// does so at once): a thousand calls' sends woke the netpoller tens of
// thousands of times a second for nothing. Here the reader blocks in
// recvmmsg itself (woken directly by an arrival, or every muxWake) and
// senders call sendmmsg on the bare descriptor. It is a syscall.RawConn, so
// udpBatch drives it as it would a net.UDPConn's.
type muxSock struct {
	fd     int
	local  netip.AddrPort
	closed atomic.Bool
	// Senders hold mu shared while they use fd; close takes it alone, so
	// no send ever reaches a descriptor number the process has reused.
	mu sync.RWMutex
}

// bindMuxSock binds an even port in r on ip, starting at a random place as
// ListenRTP does, with buffers for a burst of every call's packets.
func bindMuxSock(ip netip.Addr, r PortRange) (*muxSock, error) {
	if r.Min < 1024 || r.Max > 65535 {
		return nil, r.Validate()
	}
	lo, n := r.Min+r.Min%2, r.Even()
	if n <= 0 {
		return nil, fmt.Errorf("rtp port range %d-%d holds no even port", r.Min, r.Max)
	}
	start := rand.IntN(n)
	for i := range n {
		port := lo + 2*((start+i)%n)
		s, err := bindMuxPort(netip.AddrPortFrom(ip, uint16(port)))
		if err == nil {
			return s, nil
		}
		if err != unix.EADDRINUSE {
			return nil, fmt.Errorf("rtp: bind %s:%d: %w", ip, port, err)
		}
	}
	return nil, fmt.Errorf("rtp: no free even port in %d-%d on %s", r.Min, r.Max, ip)
}

func bindMuxPort(a netip.AddrPort) (*muxSock, error) {
	family := unix.AF_INET6
	if a.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	} else {
		// An unspecified IPv6 address takes IPv4 peers too, as Go's does.
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		sa = &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
	}
	// Bursts: every call's packet of a 20 ms tick can arrive while the
	// reader waits for a core. The kernel caps these at rmem_max/wmem_max.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	tv := unix.NsecToTimeval(muxWake * 1e6)
	err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &muxSock{fd: fd, local: a}, nil
}

// shutdown wakes a reader blocked in recvmmsg; the descriptor stays open
// (for UDP the call reports ENOTCONN but still wakes the reader).
func (s *muxSock) shutdown() {
	if s.closed.CompareAndSwap(false, true) {
		unix.Shutdown(s.fd, unix.SHUT_RD)
	}
}

// release closes the descriptor once no sender uses it; call it after the
// reader has returned.
func (s *muxSock) release() error {
	s.shutdown()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// Control runs f on the descriptor (syscall.RawConn).
func (s *muxSock) Control(f func(fd uintptr)) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return net.ErrClosed
	}
	f(uintptr(s.fd))
	return nil
}

// Read calls f until it is done (syscall.RawConn): f's blocking recvmmsg
// returns EAGAIN every muxWake, when Read looks whether the socket closed.
func (s *muxSock) Read(f func(fd uintptr) bool) error {
	for !s.closed.Load() {
		if f(uintptr(s.fd)) {
			return nil
		}
	}
	return net.ErrClosed
}

// Write calls f until it is done (syscall.RawConn). The descriptor blocks,
// so f's sendmmsg waits for room in a full send buffer itself.
func (s *muxSock) Write(f func(fd uintptr) bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 || s.closed.Load() {
		return net.ErrClosed
	}
	for !f(uintptr(s.fd)) {
	}
	return nil
}

// writeTo sends one datagram to to (a relayed packet or a frame sent
// outside a batch) without allocating.
func (s *muxSock) writeTo(b []byte, to netip.AddrPort) error {
	if len(b) == 0 {
		return nil
	}
	var rs unix.RawSockaddrInet6
	nl := putSockaddr(&rs, to, s.local.Addr().Is6())
	if nl == 0 {
		return fmt.Errorf("rtp: %s unreachable from %s", to, s.local)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 || s.closed.Load() {
		return net.ErrClosed
	}
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&rs)), uintptr(nl))
	if e != 0 {
		return e
	}
	return nil
}

var _ syscall.RawConn = (*muxSock)(nil)
