package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// DefaultMuxSockets is how many shared RTP sockets a Mux binds when not
// told: enough readers for two cores to share the receive work, few enough
// that each pacer tick's frames fill a batch per socket.
const DefaultMuxSockets = 4

// muxRecvBuf is a receive buffer: an Ethernet MTU's datagram.
const muxRecvBuf = 1500

// DefaultMuxLinger is how long a reader waits after a batch of at least
// muxLingerAfter datagrams before it reads again (MuxOptions.Linger). At a
// thousand calls it makes each wake-up carry 10-20 datagrams instead of
// four to six, which cuts what receiving costs both ends (fewer wake-ups:
// on a virtual machine each one is an exit to the hypervisor); a packet
// that arrives meanwhile waits up to this long, nothing next to a jitter
// buffer's 20-60 ms. Light traffic (a hundred bridged legs: one or two
// datagrams a read) is read as it arrives, so a relayed packet is not
// held.
const DefaultMuxLinger = time.Millisecond

// muxLingerAfter is the batch that says traffic is heavy: a 20 ms tick of
// 1,000 calls brings about 12 datagrams a millisecond to each of 4 sockets.
const muxLingerAfter = 4

// relayFlushAfter bounds how long a packet a bridge relays waits in its
// reader's send batch for the rest of the received batch to be handled.
const relayFlushAfter = 200 * time.Microsecond

// MuxOptions configure a Mux.
type MuxOptions struct {
	Addr    netip.Addr    // the IP the sockets bind and SDP advertises
	Ports   PortRange     // the sockets take even ports in it
	Sockets int           // default DefaultMuxSockets
	Linger  time.Duration // 0: DefaultMuxLinger; negative: read again at once
	Logger  *slog.Logger
}

// Mux carries many calls' RTP on a few shared UDP sockets instead of one
// socket per call. Each socket is read by one goroutine with recvmmsg (up
// to 64 datagrams a syscall, into buffers reused for ever; the socket
// itself stays out of the netpoller, muxsock_linux.go, and the reader
// lingers between batches under load, DefaultMuxLinger) and its packets
// are handed to the session they belong to by source address and SSRC
// (mux_route.go); sessions' frames and relayed packets leave through the
// same sockets in batches (sendmmsg, txQueue). A session joins with
// SessionOptions.Mux and then advertises its socket's port in SDP.
type Mux struct {
	conns []*muxConn
	next  atomic.Uint32
	wg    sync.WaitGroup
	log   *slog.Logger
}

// muxConn is one shared socket and the index of the sessions on it.
type muxConn struct {
	sock   *muxSock
	local  netip.AddrPort
	log    *slog.Logger
	stray  atomic.Uint64 // datagrams no session on this socket took
	reads  atomic.Uint64 // recvmmsg calls that returned datagrams
	recvd  atomic.Uint64 // datagrams those returned
	route  muxIndex
	linger time.Duration
}

// NewMux binds the sockets and starts their readers; Close stops them.
func NewMux(o MuxOptions) (*Mux, error) {
	if o.Sockets <= 0 {
		o.Sockets = DefaultMuxSockets
	}
	if o.Linger == 0 {
		o.Linger = DefaultMuxLinger
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Mux{log: o.Logger}
	for range o.Sockets {
		c, err := bindMuxSock(o.Addr, o.Ports)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("rtp mux: %w", err)
		}
		b, err := newUDPBatch(c, txBatchSize, muxRecvBuf)
		if err != nil {
			c.release()
			m.Close()
			return nil, fmt.Errorf("rtp mux: %w", err)
		}
		mc := newMuxConn(c, o.Logger)
		mc.linger = o.Linger
		m.conns = append(m.conns, mc)
		m.wg.Add(1)
		go mc.readLoop(&m.wg, b)
	}
	return m, nil
}

// Close closes the sockets and waits for the readers. Sessions still on
// them stop receiving and their sends fail; close them first.
func (m *Mux) Close() error {
	for _, mc := range m.conns {
		mc.sock.shutdown()
	}
	m.wg.Wait()
	var errs []error
	for _, mc := range m.conns {
		errs = append(errs, mc.sock.release())
	}
	return errors.Join(errs...)
}

// Addrs are the shared sockets' addresses.
func (m *Mux) Addrs() []netip.AddrPort {
	a := make([]netip.AddrPort, len(m.conns))
	for i, mc := range m.conns {
		a[i] = mc.local
	}
	return a
}

// MuxStats counts a Mux's traffic.
type MuxStats struct {
	Sessions int    // sessions started on the sockets now
	Stray    uint64 // datagrams dropped: not RTP, or no session to take them
	Reads    uint64 // recvmmsg calls that returned datagrams
	Received uint64 // datagrams read; Received/Reads is the mean batch
}

// Stats returns the counters.
func (m *Mux) Stats() MuxStats {
	var st MuxStats
	for _, mc := range m.conns {
		st.Stray += mc.stray.Load()
		st.Reads += mc.reads.Load()
		st.Received += mc.recvd.Load()
		st.Sessions += mc.route.len()
	}
	return st
}

func newMuxConn(c *muxSock, log *slog.Logger) *muxConn {
	mc := &muxConn{sock: c, local: c.local, log: log}
	mc.route.init()
	return mc
}

// pick is the socket a new session uses: round robin.
func (m *Mux) pick() *muxConn { return m.conns[int(m.next.Add(1))%len(m.conns)] }

func (mc *muxConn) readLoop(wg *sync.WaitGroup, b *udpBatch) {
	defer wg.Done()
	var pkt rtp.Packet
	q := &txQueue{}
	for {
		n, err := b.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error from an earlier send, say
		}
		mc.reads.Add(1)
		mc.recvd.Add(uint64(n))
		now := time.Now()
		flushed := now
		for i := range n {
			p, src := b.msg(i)
			at := b.arrived(i) // the kernel's stamp: the wait for this reader counts too
			if at.IsZero() {
				at = now
			}
			mc.deliver(p, src, &pkt, q, at)
			// What the bridges relayed leaves in one sendmmsg per socket,
			// but never waits long for the rest of the batch (other calls'
			// audio decoded, their listeners run): a relayed packet is
			// held at most about relayFlushAfter.
			if q.queued > 0 {
				if t := time.Now(); t.Sub(flushed) >= relayFlushAfter {
					q.flush()
					flushed = t
				}
			}
		}
		q.flush()
		if n >= muxLingerAfter && n < txBatchSize && mc.linger > 0 {
			// Datagrams came together: traffic is heavy enough that the
			// next read is better made a little later, with the arrivals
			// of the linger in one batch, than at once for a few. A full
			// batch means more are queued: read them now.
			time.Sleep(mc.linger)
		}
	}
}

// deliver hands one datagram to its session. The RTP header is checked
// only as far as routing needs (version 2, an SSRC); the session checks
// the rest.
func (mc *muxConn) deliver(p []byte, src netip.AddrPort, pkt *rtp.Packet, q *txQueue, now time.Time) {
	if len(p) < 12 || p[0]>>6 != 2 || !src.IsValid() {
		mc.stray.Add(1)
		return
	}
	s := mc.route.find(src, binary.BigEndian.Uint32(p[8:12]))
	if s == nil {
		mc.stray.Add(1)
		return
	}
	s.rxMu.Lock()
	if !s.rxClosed {
		s.rx.pcm = s.receiveAt(src, p, pkt, &s.rx.dtmf, s.rx.pcm, now, q)
	}
	s.rxMu.Unlock()
}
