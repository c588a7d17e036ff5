//go:build linux

package media

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// muxSock is a shared RTP socket that is not in Go's netpoller itself. A
// socket there is registered for EPOLLOUT too, and every datagram sent on
// it runs the epoll callback once the kernel frees the datagram (loopback
// does so at once): a thousand calls' sends woke the netpoller tens of
// thousands of times a second for nothing. Here an epoll instance of the
// socket's own watches it for input only, and that instance is what sits
// in the netpoller: the reader parks there until a datagram arrives, no
// goroutine ever blocks in a syscall (a blocked one holds its P, and the
// pacers' timers on it, until sysmon takes it back), and senders call
// sendmmsg on the bare descriptor. It is a syscall.RawConn, so udpBatch
// drives it as it would a net.UDPConn's.
type muxSock struct {
	fd     int
	ep     *os.File        // the epoll instance watching fd for input, in the netpoller
	epRC   syscall.RawConn // ep's
	local  netip.AddrPort
	closed atomic.Bool
	// Senders hold mu shared while they use fd; close takes it alone, so
	// no send ever reaches a descriptor number the process has reused.
	mu sync.RWMutex
}

// bindMuxSock binds an even port in r on ip (bindEven), with buffers for
// a burst of every call's packets.
func bindMuxSock(ip netip.Addr, r PortRange) (*muxSock, error) {
	return bindEven(ip, r, bindMuxPort)
}

func bindMuxPort(a netip.AddrPort) (*muxSock, error) {
	family := unix.AF_INET6
	if a.Addr().Is4() {
		family = unix.AF_INET
	}
	// A blocking descriptor: a full send buffer makes sendmmsg wait (rare,
	// brief); receives never wait (MSG_DONTWAIT), the reader parks on ep.
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
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	ep, err := inputPoller(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(fd)
		return nil, err
	}
	return &muxSock{fd: fd, ep: ep, epRC: rc, local: a}, nil
}

// inputPoller is a non-blocking epoll instance watching fd for input only,
// as a file the netpoller polls (an epoll instance is readable while one
// of its watched descriptors is ready).
func inputPoller(fd int) (*os.File, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("rtp: epoll: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("rtp: epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	return os.NewFile(uintptr(epfd), "rtp-input"), nil
}

// shutdown wakes a reader parked for input (its Read returns
// net.ErrClosed); the socket stays open for release.
func (s *muxSock) shutdown() {
	if s.closed.CompareAndSwap(false, true) {
		s.ep.Close()
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

// Read calls f until it is done, parking in the netpoller until input
// arrives whenever f says it found none (syscall.RawConn). f is given the
// epoll instance's descriptor, not the socket's: udpBatch's receive reads
// the socket it was made for (udpBatch.fd), with MSG_DONTWAIT.
func (s *muxSock) Read(f func(fd uintptr) bool) error {
	if s.closed.Load() || s.epRC.Read(f) != nil {
		return net.ErrClosed
	}
	return nil
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
	_, e := sendNoWait(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		uintptr(unsafe.Pointer(&rs)), uintptr(nl))
	if e != 0 {
		return e
	}
	return nil
}

var _ syscall.RawConn = (*muxSock)(nil)
