package media

import (
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

// dtmfState tracks the RFC 4733 event being sent.
type dtmfState struct {
	active   bool
	event    uint8
	ts       uint32 // the event's RTP timestamp
	packets  int    // packets sent so far
	gap      int    // frames still to wait after the event
	endSends int
}

const (
	dtmfToneFrames = 5 // 100 ms of tone
	dtmfEndRepeats = 3 // RFC 4733 §2.5.1.4
	dtmfGapFrames  = 3 // 60 ms between digits
)

// sender is the outgoing stream's state, touched only by whoever sends the
// session's frames (its own loop, or a Pacer shard).
type sender struct {
	out, pay []byte
	baseTS   uint32
	adj      uint32 // added to timestamps after a bridge ran ahead of our clock
	pkt      rtp.Packet
	dt       dtmfState
	n        uint32 // frames so far
	last     time.Time
	started  bool // a packet has been sent (or queued)
}

func (s *Session) newSender() *sender {
	return &sender{
		out: make([]byte, 12+FrameSamples), pay: make([]byte, FrameSamples),
		pkt: rtp.Packet{Header: rtp.Header{Version: 2, SSRC: s.ssrc}},
	}
}

// sendLoop paces the session on its own: frame n goes at start + n·20ms,
// whatever the previous sends cost, so timestamps and wall time never drift
// apart.
func (s *Session) sendLoop() {
	defer s.wg.Done()
	sd := s.newSender()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := int64(0); ; n++ {
		if d := time.Until(start.Add(time.Duration(n) * FrameDuration)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-s.ctx.Done():
				return
			}
		}
		if !s.sendFrame(sd, nil, time.Now()) {
			return
		}
	}
}

// sendFrame sends the next 20 ms, due at now: a DTMF event packet, prompt
// audio, or silence. false means the session is closed. On a shared socket
// with q, the packet is queued for q's batched send instead of sent now.
func (s *Session) sendFrame(sd *sender, q *txQueue, now time.Time) bool {
	if s.closed.Load() {
		return false
	}
	pkt, dt := &sd.pkt, &sd.dt
	n := sd.n
	sd.n++

	s.mu.Lock()
	mediaTS, resumed := s.frameTSLocked(sd, n, now)
	if s.relay != nil {
		// A bridge sends this stream now: time goes on, nothing is sent,
		// and a digit being sent is abandoned (its end would come too late).
		*dt = dtmfState{}
		s.mu.Unlock()
		return true
	}
	// The first packet of the stream, and the first after a bridge, start a talkspurt.
	pkt.Marker = sd.last.IsZero() || resumed
	pkt.Timestamp = mediaTS
	remote, hold, codec, dtmfType := s.targetLocked(now), s.hold, s.codec, s.dtmfType
	if !remote.IsValid() {
		// Nobody to send to yet (an answered call before its peer's first
		// packet, a probe that got no reply): the prompt and the digits
		// wait for someone to hear them, only the clock goes on.
		s.mu.Unlock()
		return true
	}
	pkt.PayloadType = codec.PayloadType
	s.nextDigitLocked(dt, mediaTS)
	switch {
	case dt.active:
		sd.dtmfPacket(dtmfType)
	case s.play != nil && !hold:
		var more bool
		if pkt.Payload, more = s.play.nextFrame(codec, sd.pay); !more {
			close(s.play.done)
			s.play = nil
		}
	default:
		pkt.Payload = silenceFrame(codec)
	}
	if hold && pkt.PayloadType != dtmfType {
		s.mu.Unlock()
		return true // nothing sent, so the sequence number does not advance
	}
	pkt.SequenceNumber = s.out.seq
	s.out.seq++
	s.out.nextTS = mediaTS + FrameSamples
	s.mu.Unlock()
	if !sd.started {
		sd.started = true
		s.firstDue.Store(false)
	}
	return s.sendPacket(sd, remote, q)
}

// frameTSLocked is frame n's media timestamp (s.mu held), and whether a
// bridge has just given the stream back; it moves the stream's clock.
func (s *Session) frameTSLocked(sd *sender, n uint32, now time.Time) (mediaTS uint32, resumed bool) {
	if n == 0 {
		sd.baseTS = s.out.nextTS // random at first, or where a relay left the stream
	}
	mediaTS = sd.baseTS + n*FrameSamples + sd.adj
	resumed = s.out.resumed
	if resumed {
		// A bridge gave the stream back: go on after its last timestamp
		// even if its source's clock ran ahead of ours.
		s.out.resumed = false
		if d := int32(s.out.nextTS - mediaTS); d > 0 {
			sd.adj += uint32(d)
			mediaTS += uint32(d)
		}
		sd.last = time.Time{} // the bridge's packets were not paced: no interval to report
	}
	s.out.clockTS, s.out.clockAt = mediaTS, now
	return mediaTS, resumed
}

// nextDigitLocked (s.mu held) counts down the pause after a digit, then
// starts the next queued one at mediaTS.
func (s *Session) nextDigitLocked(dt *dtmfState, mediaTS uint32) {
	if !dt.active && dt.gap > 0 {
		dt.gap-- // the pause between digits runs whatever else is sent
	} else if !dt.active && len(s.dtmfOut) > 0 {
		ev, _ := EventOf(s.dtmfOut[0])
		s.dtmfOut = s.dtmfOut[1:]
		*dt = dtmfState{active: true, event: ev, ts: mediaTS}
	}
}

// dtmfPacket makes the packet the event being sent: packets with growing
// duration, then the end packet three times, all stamped with the event's
// start (RFC 4733 §2.5).
func (sd *sender) dtmfPacket(dtmfType uint8) {
	pkt, dt := &sd.pkt, &sd.dt
	pkt.PayloadType, pkt.Timestamp, pkt.Marker = dtmfType, dt.ts, dt.packets == 0
	end := dt.packets >= dtmfToneFrames-1
	dur := uint16(min(dt.packets+1, dtmfToneFrames) * FrameSamples)
	TelephoneEvent{Event: dt.event, End: end, Volume: 10, Duration: dur}.MarshalTo(sd.pay)
	pkt.Payload = sd.pay[:TelephoneEventLen]
	dt.packets++
	if end {
		if dt.endSends++; dt.endSends == dtmfEndRepeats {
			*dt = dtmfState{gap: dtmfGapFrames}
		}
	}
}

// sendPacket marshals and sends the packet sd holds, reporting the interval
// since the last one; false when the session closed under it.
func (s *Session) sendPacket(sd *sender, remote netip.AddrPort, q *txQueue) bool {
	k, err := sd.pkt.MarshalTo(sd.out)
	if err != nil {
		return true
	}
	if q != nil && s.mc != nil {
		// sd.out stays as it is until this session's next frame, after the flush.
		return q.add(s.mc, sd.out[:k], remote, txEnt{s: s, sd: sd}) || !s.closed.Load()
	}
	if err := s.transmit(sd.out[:k], remote); err != nil {
		return !s.closed.Load()
	}
	sd.stamp(s, time.Now())
	return true
}

// stamp records that the sender's packet left at now, reporting the
// interval since the one before.
func (sd *sender) stamp(s *Session, now time.Time) {
	if s.opt.OnSend != nil && !sd.last.IsZero() {
		s.opt.OnSend(now.Sub(sd.last))
	}
	if s.firstTx.Load() == 0 {
		s.firstTx.CompareAndSwap(0, now.UnixNano())
	}
	sd.last = now
}

// targetLocked is where the stream may go now (s.mu held): the latched
// source, or the signalled address during the probe; invalid otherwise.
func (s *Session) targetLocked(now time.Time) netip.AddrPort {
	if !s.latched && !now.Before(s.probeEnd) {
		return netip.AddrPort{} // nothing came back: send nowhere until something does
	}
	return s.remote
}

// transmit sends one RTP packet of this session's stream now, outside a
// batch: the sender's frames without a queue, and a bridge's relayed
// packets on a socket of the session's own.
func (s *Session) transmit(b []byte, to netip.AddrPort) error {
	var err error
	switch {
	case s.mc != nil:
		err = s.mc.sock.writeTo(b, to)
	case s.cw != nil:
		err = s.cw.write(b, to)
	default:
		_, err = s.conn.WriteToUDPAddrPort(b, to)
	}
	if err != nil {
		return err
	}
	s.sent.Add(1)
	return nil
}
