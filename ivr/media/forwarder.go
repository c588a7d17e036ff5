package media

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// Forward is the bare UDP forwarder a Bridge is measured against
// (BenchmarkRelay, `marcador bench bridge`): every datagram read on in is
// written, as it is, out of out to to; nothing is parsed, checked or
// rewritten. onForward, if set, is called after each write with when the
// datagram arrived (the kernel's stamp, or when it was read), the measure
// BridgeOptions.OnRelay gives a bridge.
// stop ends it and waits for it; in and out stay open (a read deadline
// stops the read, and is cleared again).
func Forward(in, out *net.UDPConn, to netip.AddrPort, onForward func(received time.Time)) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf, oob := make([]byte, 1500), make([]byte, ctrlLen)
		if rc, err := in.SyscallConn(); err == nil {
			stampArrivals(rc) // measured from arrival, as a bridge's legs are
		}
		for {
			n, oobn, _, _, err := in.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				var ne net.Error
				if errors.Is(err, net.ErrClosed) || errors.As(err, &ne) && ne.Timeout() {
					return
				}
				continue // an ICMP error from an earlier write, say
			}
			if onForward == nil {
				out.WriteToUDPAddrPort(buf[:n], to)
				continue
			}
			at := kernelStamp(oob[:oobn])
			if at.IsZero() {
				at = time.Now()
			}
			if _, err := out.WriteToUDPAddrPort(buf[:n], to); err == nil {
				onForward(at)
			}
		}
	}()
	return func() {
		in.SetReadDeadline(time.Now())
		<-done
		in.SetReadDeadline(time.Time{})
	}
}
