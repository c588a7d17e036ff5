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
)

// FrameDuration is the packetisation interval (ptime 20).
const (
	FrameDuration = 20 * time.Millisecond
	FrameSamples  = SampleRate / 50 // 160
)

// SessionOptions configure one call's RTP stream.
type SessionOptions struct {
	Conn *net.UDPConn // bound by ListenRTP; the session owns and closes it
	// Mux, instead of Conn, carries the session on a shared socket (the
	// port SDP must then advertise is LocalAddr's).
	Mux    *Mux
	Remote netip.AddrPort // from the peer's SDP; replaced by the source actually seen (symmetric RTP)
	// RemoteSSRC is the SSRC the peer's SDP announced (a=ssrc), 0 if none:
	// on a shared socket it tells apart calls that come from one address.
	RemoteSSRC uint32
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
	cw   *connWriter // sends on conn; nil on a shared socket
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

	// out continues the outgoing stream (with ssrc) across a bridge: the
	// sender and a relay that takes the stream over (bridge.go) send it in
	// turn. relay, while set, sends this session's stream and the sender
	// stays quiet; tap, while set, takes the packets received.
	out   outStream
	relay *relayDir
	tap   *relayDir

	ssrc    uint32
	shard   *pacerShard // set when a Pacer sends for this session
	mc      *muxConn    // the shared socket (SessionOptions.Mux), if any
	digits  chan rune
	ndigits atomic.Uint64

	// What the sending side writes on every packet, on cache lines of its
	// own: the pacer and the socket's reader run on different CPUs, and a
	// line both write would move between them twice a packet.
	_ [64]byte
	// With a Pacer: its sender for this session (psd), guarded by sendMu
	// so that the first frame can leave at once instead of at the next tick
	// (sendFirst); firstDue until the sender has sent a packet.
	sendMu   sync.Mutex
	psd      *sender
	firstDue atomic.Bool
	closed   atomic.Bool // Close has begun: what the hot paths check instead of ctx
	sent     atomic.Uint64
	firstTx  atomic.Int64 // unix nanos of the first frame of ours that left, 0 before

	// What the receiving side writes on every packet. On a shared socket:
	// what its index knows (guarded by its mu and s.mu, muxIndex). rx is
	// the receive state, used by the socket's reader under rxMu, which
	// Close takes so that no packet is delivered once Close returns.
	_        [64]byte
	peerSSRC uint32
	tracked  bool
	rxMu     sync.Mutex
	rxClosed bool
	recv     atomic.Uint64
	bad      atomic.Uint64
	lastRx   atomic.Int64 // unix nanos of the last packet received
	firstRx  atomic.Int64 // unix nanos of the first packet received, 0 before
	rx       struct {
		dtmf DTMFReceiver
		pcm  []int16
		// The last packet received before a bridge (either socket kind), so
		// a bridge made just after it can relay it at once (relayDir.replay).
		last   [lastPacketMax]byte
		lastN  int
		lastAt time.Time
	}
	_ [64]byte

	stop  context.CancelFunc
	ctx   context.Context
	wg    sync.WaitGroup
	start sync.Once
	close sync.Once
}

// playback walks the prompts' shared encodings in place (no copy: prompts
// are shared by every call that plays them; prompt_encoded.go).
type playback struct {
	parts []*Prompt
	part  int // index into parts
	pos   int // sample index into parts[part]
	done  chan struct{}
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
		codec: opt.Codec, dtmfType: opt.DTMFType, peerSSRC: opt.RemoteSSRC,
		ssrc: rand.Uint32N(1<<32-1) + 1, ctx: ctx, stop: cancel} // never 0: SDP's "none"
	if opt.Mux != nil {
		s.mc, s.conn = opt.Mux.pick(), nil
	} else if s.conn != nil {
		s.cw = newConnWriter(s.conn)
	}
	s.out.seq, s.out.nextTS = uint16(rand.Uint32()), rand.Uint32()
	s.lastRx.Store(time.Now().UnixNano())
	return s
}

// LocalAddr is where the session receives.
func (s *Session) LocalAddr() netip.AddrPort {
	if s.mc != nil {
		return s.mc.local
	}
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// SSRC is the session's outgoing stream's SSRC (for SDP's a=ssrc); it
// stays the same across bridges.
func (s *Session) SSRC() uint32 { return s.ssrc }

// Start launches the sender and receiver.
func (s *Session) Start() {
	s.start.Do(func() {
		s.mu.Lock()
		s.probeEnd = time.Now().Add(s.opt.Probe)
		s.mu.Unlock()
		if s.opt.Pacer != nil {
			s.firstDue.Store(true)
			s.shard = s.opt.Pacer.add(s)
		} else {
			s.wg.Add(1)
			go s.sendLoop()
		}
		if s.mc != nil {
			s.mc.route.track(s)
		} else {
			s.wg.Add(1)
			go s.recvLoop()
		}
		s.sendFirst() // when the peer's address may be sent to already (a probe)
	})
}

// Close stops the session and releases its port. Safe to call twice.
func (s *Session) Close() error {
	var err error
	s.close.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.start.Do(func() {}) // a session closed before Start never starts
		if s.shard != nil {
			s.shard.remove(s)
		}
		if s.mc != nil {
			s.mc.route.untrack(s)
			s.rxMu.Lock() // waits for a packet being delivered
			s.rxClosed = true
			s.rxMu.Unlock()
		} else {
			err = s.conn.Close()
		}
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
func (s *Session) SetRemote(a netip.AddrPort) { s.setPeer(a, 0, false) }

// SetPeer is SetRemote with the SSRC the same SDP announced (a=ssrc; 0
// for none), which tells calls from one address apart on a shared socket.
func (s *Session) SetPeer(a netip.AddrPort, ssrc uint32) { s.setPeer(a, ssrc, true) }

func (s *Session) setPeer(a netip.AddrPort, ssrc uint32, setSSRC bool) {
	if s.mc != nil {
		s.mc.route.mu.Lock() // the index moves the session with its address
		defer s.mc.route.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tracked {
		s.mc.route.removeLocked(s)
	}
	s.remote, s.latched = a, false
	if setSSRC {
		s.peerSSRC = ssrc
	}
	s.probeEnd = time.Now().Add(s.opt.Probe)
	if s.tracked {
		s.mc.route.addPendingLocked(s)
	}
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

// FirstReceived is when the peer's first RTP packet arrived, and
// FirstSent when our first frame left; zero before (the steps of an
// answered call's way to its first packet relayed).
func (s *Session) FirstReceived() time.Time { return unixNanoTime(s.firstRx.Load()) }

// FirstSent: see FirstReceived.
func (s *Session) FirstSent() time.Time { return unixNanoTime(s.firstTx.Load()) }

func unixNanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
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
			pb.parts = append(pb.parts, p)
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

// String describes the session for logs.
func (s *Session) String() string {
	st := s.Stats()
	s.mu.Lock()
	c := s.codec
	s.mu.Unlock()
	return fmt.Sprintf("rtp %s<->%s %s sent=%d recv=%d", s.LocalAddr(), st.Remote, c.Name, st.Sent, st.Received)
}
