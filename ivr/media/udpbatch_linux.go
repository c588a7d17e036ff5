//go:build linux

package media

import (
	"errors"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is a reusable set of datagrams for one sendmmsg or recvmmsg on a
// shared socket: the headers, address slots and I/O vectors are allocated
// once and pointed at each other once, so a batch sent or received
// allocates nothing (x/net's ipv4.PacketConn batches allocate per message).
// The syscalls go through the socket's RawConn (muxSock: they block in the
// kernel, not in the netpoller).
//
// They are made raw (unix.RawSyscall6), with MSG_DONTWAIT, because they
// cannot block: a syscall made through unix.Syscall6 tells the Go
// scheduler it might, and when the process had gone idle (between pacer
// ticks) that wakes the runtime's monitor thread, which then polls every
// 20 µs for a millisecond. With a tick every 1.25 ms it woke about 4,000
// times a second, a context switch each: 12% of a core at 1,000 calls on
// this VM, and both ends of a bench pay it. A send the socket cannot take
// now falls back to the call that may block and wait for room.
type udpBatch struct {
	rc    *muxSock
	fd    uintptr // rc's socket (its Read hands recvFn another descriptor)
	v6    bool    // an AF_INET6 socket: IPv4 peers are v4-mapped
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // room for either family
	bufs  [][]byte                // receive buffers; nil in a send batch
	ctrl  []byte                  // receive: each message's control data (its kernel timestamp)
	fail  []bool                  // send: message i was not sent
	n     int                     // messages queued (send) or received (recv)

	// State of the syscall loop, read by the callbacks below; they are
	// method values made once so that passing them allocates nothing.
	off            int
	errno          syscall.Errno
	sendFn, recvFn func(fd uintptr) bool
}

// newUDPBatch prepares a batch of size messages on rc; bufSize > 0 gives
// each message a receive buffer of that size.
func newUDPBatch(rc *muxSock, size, bufSize int) (*udpBatch, error) {
	var sa unix.Sockaddr
	var err error
	if cerr := rc.Control(func(fd uintptr) { sa, err = unix.Getsockname(int(fd)) }); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	_, v6 := sa.(*unix.SockaddrInet6)
	b := &udpBatch{rc: rc, fd: uintptr(rc.fd), v6: v6, hdrs: make([]unix.Mmsghdr, size), iovs: make([]unix.Iovec, size),
		names: make([]unix.RawSockaddrInet6, size), fail: make([]bool, size)}
	if bufSize > 0 {
		b.bufs = make([][]byte, size)
		b.ctrl = make([]byte, size*ctrlLen)
		if err := stampArrivals(rc); err != nil {
			return nil, err
		}
	}
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
		if bufSize > 0 {
			b.bufs[i] = make([]byte, bufSize)
			b.iovs[i].Base = &b.bufs[i][0]
			h.Control = &b.ctrl[i*ctrlLen]
		}
	}
	b.sendFn, b.recvFn = b.sendSome, b.recvSome
	return b, nil
}

// add queues p for to; false when the batch is full or to cannot be
// reached from this socket (an IPv6 peer on an IPv4 socket). p must stay
// untouched until flush.
func (b *udpBatch) add(p []byte, to netip.AddrPort) bool {
	if b.n == len(b.hdrs) || len(p) == 0 {
		return false
	}
	i := b.n
	nl := putSockaddr(&b.names[i], to, b.v6)
	if nl == 0 {
		return false
	}
	b.hdrs[i].Hdr.Namelen = nl
	b.iovs[i].Base = &p[0]
	b.iovs[i].SetLen(len(p))
	b.fail[i] = false
	b.n++
	return true
}

// putSockaddr writes a into rs for a socket of the family v6 says; 0 when a
// cannot be reached from it (an IPv6 peer on an IPv4 socket).
func putSockaddr(rs *unix.RawSockaddrInet6, a netip.AddrPort, v6 bool) uint32 {
	ip, port := a.Addr(), a.Port()
	if !v6 {
		if ip = ip.Unmap(); !ip.Is4() {
			return 0
		}
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rs))
		s4.Family = unix.AF_INET
		pb := (*[2]byte)(unsafe.Pointer(&s4.Port))
		pb[0], pb[1] = byte(port>>8), byte(port)
		s4.Addr = ip.As4()
		return unix.SizeofSockaddrInet4
	}
	rs.Family = unix.AF_INET6
	pb := (*[2]byte)(unsafe.Pointer(&rs.Port))
	pb[0], pb[1] = byte(port>>8), byte(port)
	rs.Flowinfo, rs.Scope_id = 0, 0
	rs.Addr = ip.As16() // an IPv4 address comes out v4-mapped
	return unix.SizeofSockaddrInet6
}

// flush sends the queued messages with as few sendmmsg calls as the kernel
// allows (a message it refuses is marked failed and skipped); failed(i)
// says how each went until reset.
func (b *udpBatch) flush() {
	b.off = 0
	if b.n == 0 {
		return
	}
	if err := b.rc.Write(b.sendFn); err != nil { // the socket closed
		for i := b.off; i < b.n; i++ {
			b.fail[i] = true
		}
	}
}

func (b *udpBatch) sendSome(fd uintptr) bool {
	for b.off < b.n {
		r, e := sendNoWait(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[b.off])), uintptr(b.n-b.off), 0, 0)
		switch e {
		case 0:
			b.off += int(r)
		case unix.EAGAIN:
			return false // wait until the socket can take more
		case unix.EINTR:
		default:
			b.fail[b.off] = true // this message's error (an ICMP refusal, say); go on with the rest
			b.off++
		}
	}
	return true
}

// sendNoWait makes a send (sendto or sendmmsg, whose fourth argument is
// the flags) raw with MSG_DONTWAIT; one the socket cannot take now is made
// again through the call that may block, and waits for room.
func sendNoWait(trap, a1, a2, a3, a5, a6 uintptr) (uintptr, unix.Errno) {
	r, _, e := unix.RawSyscall6(trap, a1, a2, a3, unix.MSG_DONTWAIT, a5, a6)
	if e == unix.EAGAIN {
		r, _, e = unix.Syscall6(trap, a1, a2, a3, 0, a5, a6)
	}
	return r, e
}

func (b *udpBatch) failed(i int) bool { return b.fail[i] }

// reset empties a send batch for reuse.
func (b *udpBatch) reset() { b.n = 0 }

// read waits for at least one datagram and takes as many as are queued, up
// to the batch's size; msg(i) reads them until the next read.
func (b *udpBatch) read() (int, error) {
	for i := range b.hdrs {
		b.iovs[i].SetLen(len(b.bufs[i]))
		b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.hdrs[i].Hdr.SetControllen(ctrlLen)
		b.hdrs[i].Hdr.Flags = 0
		b.hdrs[i].Len = 0
	}
	b.n, b.errno = 0, 0
	if err := b.rc.Read(b.recvFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, errBatchRead
	}
	return b.n, nil
}

// errBatchRead is a receive error that is not the socket closing (an ICMP
// error queued by an earlier send, say): the reader goes on.
var errBatchRead = errors.New("rtp: recvmmsg failed")

func (b *udpBatch) recvSome(uintptr) bool {
	for {
		// Never waits in the kernel: no datagram queued means park in the
		// netpoller (muxSock.Read) until one arrives.
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, b.fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			b.n = int(r)
			return true
		case unix.EAGAIN:
			return false // nothing queued: wait for input
		case unix.EINTR:
		default:
			b.errno = e
			return true
		}
	}
}

// msg is received datagram i and its source; a truncated datagram (larger
// than the buffer) comes back empty.
func (b *udpBatch) msg(i int) ([]byte, netip.AddrPort) {
	h := &b.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, netip.AddrPort{}
	}
	p := b.bufs[i][:h.Len]
	rs := &b.names[i]
	switch rs.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rs))
		pb := (*[2]byte)(unsafe.Pointer(&s4.Port))
		return p, netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(pb[0])<<8|uint16(pb[1]))
	case unix.AF_INET6:
		pb := (*[2]byte)(unsafe.Pointer(&rs.Port))
		return p, netip.AddrPortFrom(netip.AddrFrom16(rs.Addr).Unmap(), uint16(pb[0])<<8|uint16(pb[1]))
	}
	return p, netip.AddrPort{}
}

// arrived is when the kernel took received datagram i off the wire
// (SO_TIMESTAMPNS); zero if it did not say.
func (b *udpBatch) arrived(i int) time.Time {
	h := &b.hdrs[i].Hdr
	return kernelStamp(b.ctrl[i*ctrlLen : i*ctrlLen+int(h.Controllen)])
}

// stampArrivals asks the kernel to stamp each datagram the socket receives
// with its arrival time (SO_TIMESTAMPNS): a relayed packet's latency then
// counts from there, including any wait in the socket's queue for a reader.
func stampArrivals(rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// kernelStamp reads the SCM_TIMESTAMPNS control message in oob; zero when
// there is none. It does not allocate.
func kernelStamp(oob []byte) time.Time {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return time.Time{}
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && l >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
			return time.Unix(ts.Sec, ts.Nsec)
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return time.Time{}
}
