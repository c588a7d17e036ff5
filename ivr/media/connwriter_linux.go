//go:build linux

package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// connWriter sends a session's packets on its own socket (a socket per
// call) as the shared sockets do theirs: a raw sendto with MSG_DONTWAIT
// (see udpBatch on why), not net.UDPConn's, which tells the scheduler it
// may block; a send the socket cannot take now waits in the netpoller.
// Nothing is allocated per packet.
type connWriter struct {
	mu  sync.Mutex // the sender and a bridge's relay may both send
	rc  syscall.RawConn
	v6  bool
	fn  func(fd uintptr) bool
	b   []byte
	rs  unix.RawSockaddrInet6
	nl  uint32
	err unix.Errno
}

func newConnWriter(c *net.UDPConn) *connWriter {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil // not a socket we can reach: net.UDPConn's send
	}
	w := &connWriter{rc: rc}
	var family error = unix.EAFNOSUPPORT
	rc.Control(func(fd uintptr) {
		// The socket's own family: Go binds a wildcard IPv4 address on a
		// dual-stack IPv6 socket.
		switch sa, err := unix.Getsockname(int(fd)); sa.(type) {
		case *unix.SockaddrInet4:
			family = err
		case *unix.SockaddrInet6:
			w.v6, family = true, err
		}
	})
	if family != nil {
		return nil
	}
	w.fn = w.send
	return w
}

func (w *connWriter) write(b []byte, to netip.AddrPort) error {
	if len(b) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.nl = putSockaddr(&w.rs, to, w.v6); w.nl == 0 {
		return fmt.Errorf("rtp: %s unreachable from an IPv4 socket", to)
	}
	w.b, w.err = b, 0
	err := w.rc.Write(w.fn)
	w.b = nil
	if err != nil {
		return err // closed
	}
	if w.err != 0 {
		return w.err
	}
	return nil
}

func (w *connWriter) send(fd uintptr) bool {
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&w.b[0])), uintptr(len(w.b)), unix.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&w.rs)), uintptr(w.nl))
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait in the netpoller for room
		}
		w.err = e
		return true
	}
}
