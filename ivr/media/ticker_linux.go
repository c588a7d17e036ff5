//go:build linux

package media

import (
	"encoding/binary"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdTicker wakes a pacer shard every FrameDuration on a timerfd in the
// netpoller. A Go timer wakes an idle process late by up to a millisecond:
// the runtime sleeps in epoll_wait, whose timeout is whole milliseconds
// (runtime/netpoll_epoll.go rounds a shorter wait up to 1 ms and a longer
// one down). A timerfd's expiry is an input event, so epoll_wait returns
// at it, to the microsecond; half a 1,000-call run's ticks were 0.25 to
// 1 ms late on Go timers, which is most of the send-interval tail.
type fdTicker struct {
	f      *os.File
	rc     syscall.RawConn
	readFn func(fd uintptr) bool // read, made once: a method value per wait would allocate
	skipFn func(fd uintptr) bool // drain
	n      uint64                // expirations read by the last wait
	buf    [8]byte
}

// newFDTicker ticks every FrameDuration from offset after now on, on the
// monotonic clock.
func newFDTicker(offset time.Duration) (ticker, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	first := unix.NsecToTimespec(int64(offset + FrameDuration))
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(FrameDuration)), Value: first}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "rtp-ticker")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	t := &fdTicker{f: f, rc: rc}
	t.readFn, t.skipFn = t.read, t.drain
	return t, nil
}

func (t *fdTicker) wait() int {
	t.n = 0
	err := t.rc.Read(t.readFn)
	if err != nil || t.n == 0 {
		return 0
	}
	return int(t.n)
}

// read is raw: the descriptor does not block (see udpBatch on why that
// matters).
func (t *fdTicker) read(fd uintptr) bool {
	n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
	if e == unix.EAGAIN {
		return false // park until the timer expires
	}
	if e == 0 && n == 8 {
		t.n = binary.NativeEndian.Uint64(t.buf[:])
	}
	return true
}

// skip reads the expirations that have passed, without waiting.
func (t *fdTicker) skip() { t.rc.Read(t.skipFn) }

func (t *fdTicker) drain(fd uintptr) bool {
	unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
	return true
}

// close stops the ticker; a wait in progress returns 0.
func (t *fdTicker) close() { t.f.Close() }
