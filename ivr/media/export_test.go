package media

import (
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/pion/rtp"
)

// receive is receiveAt stamped now, as the receive loop stamps a packet it
// has just read (tests drive the receive path without the loop).
func (s *Session) receive(src netip.AddrPort, b []byte, pkt *rtp.Packet, dtmf *DTMFReceiver, pcm []int16) []int16 {
	return s.receiveAt(src, b, pkt, dtmf, pcm, time.Now(), nil)
}

// WithFullDisk makes the recorder's file fail as a full disk does (ENOSPC)
// once n bytes have been written (tests only: no small filesystem here, and
// root ignores a read-only directory's mode).
func WithFullDisk(o *RecorderOptions, n int64) {
	o.create = func(name string) (recFile, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return nil, err
		}
		return &fullDisk{File: f, left: n}, nil
	}
}

type fullDisk struct {
	*os.File
	left int64
}

func (f *fullDisk) Write(b []byte) (int, error) {
	if int64(len(b)) <= f.left {
		f.left -= int64(len(b))
		return f.File.Write(b)
	}
	n, _ := f.File.Write(b[:f.left])
	f.left = 0
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}
