package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// FrameDuration is the packetisation interval (ptime 20).
const (
	FrameDuration = 20 * time.Millisecond
	FrameSamples  = SampleRate / 50 // 160
)

// SessionOptions configure one call's RTP stream.
type SessionOptions struct {
	Conn   *net.UDPConn   // bound by ListenRTP; the session owns and closes it
	Remote netip.AddrPort // from the peer's SDP; replaced by the source actually seen (symmetric RTP)
	// Probe is how long the session sends to Remote, the address the peer's
	// SDP names, before any packet has come back. Zero sends nothing until
	// the peer's first packet shows where it is (latch first, then send):
	// an SDP is only a claim, and sending where it says would let anyone who
	// can send an INVITE aim our stream at a third party. Outbound calls
	// probe for a few seconds, because some carriers send nothing until
	// they hear us. Once a packet arrives, the stream goes to its source.
	Probe time.Duration
	Codec Codec
	// DTMFType is the negotiated telephone-event payload type (default 101).
	DTMFType uint8
	// OnAudio receives each decoded inbound frame, on the receive goroutine. Optional.
	OnAudio func(pcm []int16)
	// OnSend receives the interval since the previous packet sent, for
	// send-jitter measurement. Optional.
	OnSend func(interval time.Duration)
	// Pacer, if set, sends this session's frames on its shared ticks;
	// otherwise the session paces itself on its own goroutine.
	Pacer  *Pacer
	Logger *slog.Logger
}

// Stats counts a session's traffic.
type Stats struct {
	Sent, Received, Malformed, Digits uint64
	Remote                            netip.AddrPort
}

// Session is a bidirectional G.711 RTP stream with RFC 4733 DTMF. The sender
// always runs once started and the peer's address is known (silence when
// nothing plays) so the far end and NATs see a live stream, and paces on absolute 20 ms deadlines from its start
// on the monotonic clock, so a long call does not drift.
type Session struct {
	opt  SessionOptions
	conn *net.UDPConn
	log  *slog.Logger

	mu       sync.Mutex
	codec    Codec
	dtmfType uint8
	remote   netip.AddrPort
	latched  bool
	probeEnd time.Time // sending to an unlatched remote stops here
	hold     bool
	play     *playback
	dtmfOut  []rune

	digits  chan rune
	lastRx  atomic.Int64 // unix nanos of the last packet received
	sent    atomic.Uint64
	recv    atomic.Uint64
	bad     atomic.Uint64
	ndigits atomic.Uint64

	// out continues the outgoing stream (with ssrc) across a bridge: the
	// sender and a relay that takes the stream over (bridge.go) send it in
	// turn. relay, while set, sends this session's stream and the sender
	// stays quiet; tap, while set, takes the packets received.
	out   outStream
	relay *relayDir
	tap   *relayDir

	ssrc  uint32
	shard *pacerShard // set when a Pacer sends for this session
	stop  context.CancelFunc
	ctx   context.Context
	wg    sync.WaitGroup
	start sync.Once
	close sync.Once
}

// playback walks the prompts' samples in place (no copy: prompts are shared
// by every call that plays them).
type playback struct {
	parts [][]int16
	part  int // index into parts
	pos   int // sample index into parts[part]
	done  chan struct{}
}

// next fills frame with the next samples (silence past the end) and reports
// whether anything is left after it.
func (p *playback) next(frame []int16) bool {
	k := 0
	for k < len(frame) && p.part < len(p.parts) {
		c := copy(frame[k:], p.parts[p.part][p.pos:])
		k += c
		if p.pos += c; p.pos >= len(p.parts[p.part]) {
			p.part, p.pos = p.part+1, 0
		}
	}
	clear(frame[k:])
	return p.part < len(p.parts)
}

// ErrClosed is returned by operations on a closed session.
var ErrClosed = errors.New("rtp session closed")

// NewSession prepares a session; Start begins sending and receiving.
func NewSession(opt SessionOptions) *Session {
	if opt.DTMFType == 0 {
		opt.DTMFType = DefaultDTMFPayloadType
	}
	if opt.Codec.Name == "" {
		opt.Codec = PCMU
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{opt: opt, conn: opt.Conn, log: opt.Logger, remote: opt.Remote, digits: make(chan rune, 64),
		codec: opt.Codec, dtmfType: opt.DTMFType,
		ssrc: rand.Uint32(), ctx: ctx, stop: cancel}
	s.out.seq, s.out.nextTS = uint16(rand.Uint32()), rand.Uint32()
	s.lastRx.Store(time.Now().UnixNano())
	return s
}

// LocalAddr is where the session receives.
func (s *Session) LocalAddr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Start launches the sender and receiver.
func (s *Session) Start() {
	s.start.Do(func() {
		s.mu.Lock()
		s.probeEnd = time.Now().Add(s.opt.Probe)
		s.mu.Unlock()
		if s.opt.Pacer != nil {
			s.shard = s.opt.Pacer.add(s)
		} else {
			s.wg.Add(1)
			go s.sendLoop()
		}
		s.wg.Add(1)
		go s.recvLoop()
	})
}

// Close stops the session and releases its port. Safe to call twice.
func (s *Session) Close() error {
	var err error
	s.close.Do(func() {
		s.stop()
		s.start.Do(func() {}) // a session closed before Start never starts
		if s.shard != nil {
			s.shard.remove(s)
		}
		err = s.conn.Close()
		s.wg.Wait()
		s.mu.Lock()
		if s.play != nil {
			close(s.play.done)
			s.play = nil
		}
		s.mu.Unlock()
	})
	return err
}

// Done is closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// SetRemote points the stream at a new address (an answer or a re-INVITE
// named it); the next packet from the peer latches again, and until then
// the address gets at most Probe of our stream.
func (s *Session) SetRemote(a netip.AddrPort) {
	s.mu.Lock()
	s.remote, s.latched = a, false
	s.probeEnd = time.Now().Add(s.opt.Probe)
	s.mu.Unlock()
}

// SetCodec changes the codec and telephone-event type used from the next
// packet on (the answer chose differently from early media, say).
func (s *Session) SetCodec(c Codec, dtmfType uint8) {
	if dtmfType == 0 {
		dtmfType = DefaultDTMFPayloadType
	}
	s.mu.Lock()
	s.codec, s.dtmfType = c, dtmfType
	s.mu.Unlock()
}

// SetHold stops (true) or resumes (false) sending audio, as a re-INVITE to
// sendonly/inactive asks.
func (s *Session) SetHold(h bool) {
	s.mu.Lock()
	s.hold = h
	s.mu.Unlock()
}

// LastReceived is when the last RTP packet arrived (session start if none yet).
func (s *Session) LastReceived() time.Time { return time.Unix(0, s.lastRx.Load()) }

// Digits delivers DTMF digits received (RFC 4733 or injected from SIP INFO).
func (s *Session) Digits() <-chan rune { return s.digits }

// InjectDigit adds a digit that arrived out of band (SIP INFO dtmf-relay).
func (s *Session) InjectDigit(d rune) {
	s.ndigits.Add(1)
	select {
	case s.digits <- d:
	default:
		s.log.Warn("rtp: digit buffer full, digit dropped", "digit", string(d))
	}
}

// Stats returns the counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	r := s.remote
	s.mu.Unlock()
	return Stats{Sent: s.sent.Load(), Received: s.recv.Load(), Malformed: s.bad.Load(), Digits: s.ndigits.Load(), Remote: r}
}

// SendDigits queues digits to send as RFC 4733 events.
func (s *Session) SendDigits(digits string) error {
	for _, d := range digits {
		if _, err := EventOf(d); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.dtmfOut = append(s.dtmfOut, []rune(digits)...)
	s.mu.Unlock()
	return nil
}

// PlayResult says how playback ended.
type PlayResult struct {
	Interrupted bool // a digit stopped it (barge-in)
	Digit       rune // that digit
}

// Play sends the prompts in order and waits until they end. With bargeIn, a
// received digit stops playback at once and is returned (consumed).
func (s *Session) Play(ctx context.Context, bargeIn bool, prompts ...*Prompt) (PlayResult, error) {
	pb := &playback{done: make(chan struct{})}
	for _, p := range prompts {
		if len(p.Samples) > 0 {
			pb.parts = append(pb.parts, p.Samples)
		}
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return PlayResult{}, ErrClosed
	}
	if s.play != nil {
		close(s.play.done)
	}
	s.play = pb
	s.mu.Unlock()
	stopPlay := func() {
		s.mu.Lock()
		if s.play == pb {
			s.play = nil
			close(pb.done)
		}
		s.mu.Unlock()
	}
	var digits <-chan rune
	if bargeIn {
		digits = s.digits
	}
	select {
	case <-pb.done:
		if s.ctx.Err() != nil {
			return PlayResult{}, ErrClosed
		}
		return PlayResult{}, nil
	case d := <-digits:
		stopPlay()
		return PlayResult{Interrupted: true, Digit: d}, nil
	case <-ctx.Done():
		stopPlay()
		return PlayResult{}, ctx.Err()
	case <-s.ctx.Done():
		return PlayResult{}, ErrClosed
	}
}

// CollectDigits reads up to max digits: it stops early on terminator (not
// included), after firstTimeout with no digit, or interDigit between digits.
func (s *Session) CollectDigits(ctx context.Context, max int, terminator rune, firstTimeout, interDigit time.Duration) (string, error) {
	var got []rune
	timer := time.NewTimer(firstTimeout)
	defer timer.Stop()
	for len(got) < max {
		select {
		case d := <-s.digits:
			if d == terminator && terminator != 0 {
				return string(got), nil
			}
			got = append(got, d)
			timer.Reset(interDigit)
		case <-timer.C:
			return string(got), nil
		case <-ctx.Done():
			return string(got), ctx.Err()
		case <-s.ctx.Done():
			return string(got), ErrClosed
		}
	}
	return string(got), nil
}

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
	pcm      []int16
	silence  map[uint8][]byte
	baseTS   uint32
	adj      uint32 // added to timestamps after a bridge ran ahead of our clock
	pkt      rtp.Packet
	dt       dtmfState
	n        uint32 // frames so far
	last     time.Time
}

func (s *Session) newSender() *sender {
	return &sender{
		out: make([]byte, 12+FrameSamples), pay: make([]byte, FrameSamples), pcm: make([]int16, FrameSamples),
		silence: map[uint8][]byte{
			PCMU.PayloadType: PCMU.Encode(nil, make([]int16, FrameSamples)),
			PCMA.PayloadType: PCMA.Encode(nil, make([]int16, FrameSamples)),
		},
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
		if !s.sendFrame(sd) {
			return
		}
	}
}

// sendFrame sends the next 20 ms: a DTMF event packet, prompt audio, or
// silence. false means the session is closed.
func (s *Session) sendFrame(sd *sender) bool {
	if s.ctx.Err() != nil {
		return false
	}
	pkt, pay, pcm, dt := &sd.pkt, sd.pay, sd.pcm, &sd.dt
	n := sd.n
	sd.n++
	now := time.Now()

	s.mu.Lock()
	if n == 0 {
		sd.baseTS = s.out.nextTS // random at first, or where a relay left the stream
	}
	mediaTS := sd.baseTS + n*FrameSamples + sd.adj
	resumed := s.out.resumed
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
	pkt.PayloadType = codec.PayloadType
	if !dt.active && dt.gap > 0 {
		dt.gap-- // the pause between digits runs whatever else is sent
	} else if !dt.active && len(s.dtmfOut) > 0 {
		ev, _ := EventOf(s.dtmfOut[0])
		s.dtmfOut = s.dtmfOut[1:]
		*dt = dtmfState{active: true, event: ev, ts: mediaTS}
	}
	switch {
	case dt.active:
		// One event: packets with growing duration, then the end packet
		// three times, all stamped with the event's start (RFC 4733 §2.5).
		pkt.PayloadType, pkt.Timestamp, pkt.Marker = dtmfType, dt.ts, dt.packets == 0
		end := dt.packets >= dtmfToneFrames-1
		dur := uint16(min(dt.packets+1, dtmfToneFrames) * FrameSamples)
		TelephoneEvent{Event: dt.event, End: end, Volume: 10, Duration: dur}.MarshalTo(pay)
		pkt.Payload = pay[:TelephoneEventLen]
		dt.packets++
		if end {
			if dt.endSends++; dt.endSends == dtmfEndRepeats {
				*dt = dtmfState{gap: dtmfGapFrames}
			}
		}
	case s.play != nil && !hold:
		more := s.play.next(pcm)
		pkt.Payload = codec.Encode(pay[:0], pcm)
		if !more {
			close(s.play.done)
			s.play = nil
		}
	default:
		pkt.Payload = sd.silence[codec.PayloadType]
	}
	if hold && pkt.PayloadType != dtmfType || !remote.IsValid() {
		s.mu.Unlock()
		return true // nothing sent, so the sequence number does not advance
	}
	pkt.SequenceNumber = s.out.seq
	s.out.seq++
	s.out.nextTS = mediaTS + FrameSamples
	s.mu.Unlock()

	k, err := pkt.MarshalTo(sd.out)
	if err == nil {
		if err := s.transmit(sd.out[:k], remote); err == nil {
			now := time.Now()
			if s.opt.OnSend != nil && !sd.last.IsZero() {
				s.opt.OnSend(now.Sub(sd.last))
			}
			sd.last = now
		} else if s.ctx.Err() != nil {
			return false
		}
	}
	return true
}

// targetLocked is where the stream may go now (s.mu held): the latched
// source, or the signalled address during the probe; invalid otherwise.
func (s *Session) targetLocked(now time.Time) netip.AddrPort {
	if !s.latched && !now.Before(s.probeEnd) {
		return netip.AddrPort{} // nothing came back: send nowhere until something does
	}
	return s.remote
}

// transmit sends one RTP packet of this session's stream: the sender's
// frames and a bridge's relayed packets leave through here (the one place
// a shared, batched socket will replace).
func (s *Session) transmit(b []byte, to netip.AddrPort) error {
	if _, err := s.conn.WriteToUDPAddrPort(b, to); err != nil {
		return err
	}
	s.sent.Add(1)
	return nil
}

func (s *Session) recvLoop() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	pcm := make([]int16, 0, 480)
	var pkt rtp.Packet
	var dtmf DTMFReceiver
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		// Stamped as the read returns: a bridge's OnRelay measures from here.
		pcm = s.receiveAt(src, buf[:n], &pkt, &dtmf, pcm, time.Now())
	}
}

// receiveAt handles one datagram from src, read at now: RTP is checked,
// latched (symmetric RTP), and turned into digits or audio; anything else
// is counted as bad.
func (s *Session) receiveAt(src netip.AddrPort, b []byte, pkt *rtp.Packet, dtmf *DTMFReceiver, pcm []int16, now time.Time) []int16 {
	if err := pkt.Unmarshal(b); err != nil || pkt.Version != 2 {
		s.bad.Add(1)
		return pcm
	}
	s.mu.Lock()
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
	if tap != nil {
		// Bridged: the packet goes to the other leg, not to our listeners.
		tap.forward(pkt, b, dtmfType, now)
		return pcm
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

// String describes the session for logs.
func (s *Session) String() string {
	st := s.Stats()
	s.mu.Lock()
	c := s.codec
	s.mu.Unlock()
	return fmt.Sprintf("rtp %s<->%s %s sent=%d recv=%d", s.LocalAddr(), st.Remote, c.Name, st.Sent, st.Received)
}
