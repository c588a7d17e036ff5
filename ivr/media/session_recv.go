package media

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

// lastPacketMax is the largest packet kept for a bridge's replay: 20 ms of
// G.711 is 172 bytes, 40 ms 332.
const lastPacketMax = 512

// ctrlLen is room for a received datagram's control data: one
// SCM_TIMESTAMPNS message (its arrival time).
const ctrlLen = 64

func (s *Session) recvLoop() {
	defer s.wg.Done()
	buf, oob := make([]byte, 1500), make([]byte, ctrlLen)
	pcm := make([]int16, 0, 480)
	var pkt rtp.Packet
	var dtmf DTMFReceiver
	if rc, err := s.conn.SyscallConn(); err == nil {
		stampArrivals(rc) // without it, packets are stamped as read
	}
	for {
		n, oobn, _, src, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		// Stamped by the kernel as it arrived (as on a shared socket), so a
		// bridge's OnRelay counts the wait for this goroutine too.
		at := kernelStamp(oob[:oobn])
		if at.IsZero() {
			at = time.Now()
		}
		// rxMu as on a shared socket: a bridge being made reads rx.last.
		s.rxMu.Lock()
		pcm = s.receiveAt(src, buf[:n], &pkt, &dtmf, pcm, at, nil)
		s.rxMu.Unlock()
	}
}

// receiveAt handles one datagram from src, read at now: RTP is checked,
// latched (symmetric RTP), and turned into digits or audio; anything else
// is counted as bad. A packet a bridge relays goes out through q when
// given (the shared socket's reader batches them). s.rxMu is held.
func (s *Session) receiveAt(src netip.AddrPort, b []byte, pkt *rtp.Packet, dtmf *DTMFReceiver, pcm []int16, now time.Time, q *txQueue) []int16 {
	if err := pkt.Unmarshal(b); err != nil || pkt.Version != 2 {
		s.bad.Add(1)
		return pcm
	}
	s.mu.Lock()
	if !s.latched && s.mc != nil {
		// On a shared socket the index latches (mux_route.go): this packet
		// was routed before a SetRemote that undid the latch.
		s.mu.Unlock()
		s.bad.Add(1)
		return pcm
	}
	if !s.latched {
		// Symmetric RTP: answer where the peer's media actually comes
		// from (NAT, SBCs), not only where its SDP said.
		if s.remote != src {
			s.log.Debug("rtp: latched to source", "sdp", s.remote, "seen", src)
		}
		s.remote, s.latched = src, true
	} else if src != s.remote {
		s.mu.Unlock()
		s.bad.Add(1) // a stranger's packets are not our call's audio
		return pcm
	}
	dtmfType, tap := s.dtmfType, s.tap
	s.mu.Unlock()
	s.recv.Add(1)
	s.lastRx.Store(now.UnixNano())
	if s.firstRx.Load() == 0 {
		s.firstRx.Store(now.UnixNano()) // one reader at a time (rxMu)
	}
	if s.firstDue.Load() {
		s.sendFirst() // the peer waited for us to latch: it hears us now, not at the next tick
	}
	if tap != nil {
		// Bridged: the packet goes to the other leg, not to our listeners.
		tap.forward(pkt, b, dtmfType, now, q, time.Time{})
		return pcm
	}
	// Kept for a bridge made before the next one comes (relayDir.replay).
	if len(b) <= len(s.rx.last) {
		s.rx.lastN, s.rx.lastAt = copy(s.rx.last[:], b), now
	} else {
		s.rx.lastN = 0
	}
	switch pt := pkt.PayloadType; {
	case pt == dtmfType:
		d, ok, err := dtmf.Push(pkt.Timestamp, pkt.Payload)
		if err != nil {
			s.bad.Add(1)
		} else if ok {
			s.InjectDigit(d)
		}
	case pt == PCMU.PayloadType || pt == PCMA.PayloadType:
		if s.opt.OnAudio != nil {
			c := PCMU
			if pt == PCMA.PayloadType {
				c = PCMA
			}
			pcm = c.Decode(pcm[:0], pkt.Payload)
			s.opt.OnAudio(pcm)
		}
	}
	return pcm
}
