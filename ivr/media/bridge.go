package media

// The RTP relay between a debtor's call leg and an agent's nailed-up leg.
//
// Each phone keeps seeing the one stream it saw before the bridge: the
// packets relayed into a leg carry that leg's own SSRC, and their sequence
// numbers and timestamps continue the leg's stream. A relay maps the
// source's numbers by a fixed offset (RFC 3550 §5.1: sequence numbers and
// timestamps are offsets from a random start, so a translator may shift
// them), chosen when the first packet of the bridge arrives so that it
// follows the last packet our own sender sent and sits where the elapsed
// time puts it. A fixed offset keeps the source's own gaps and reorderings
// visible: packet loss and jitter are forwarded as received, and the
// phones' jitter buffers deal with them as they would on a direct call
// (a relay that renumbered packets in arrival order would hide loss from
// the receiver's concealment and turn reordering into wrong audio). When
// the bridge stops, the leg's own sender goes on from the relay's last
// sequence number and timestamp (after the elapsed time), with the marker
// bit.

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Side names a leg of a bridge: the debtor (left channel of a recording)
// or the agent (right).
type Side uint8

const (
	Debtor Side = iota
	Agent
)

func (s Side) String() string {
	if s == Agent {
		return "agent"
	}
	return "debtor"
}

// outStream is where a session's outgoing stream stands, so that whoever
// sends it next (its sender or a relay) continues it. Guarded by Session.mu.
type outStream struct {
	seq     uint16    // the next sequence number
	nextTS  uint32    // the first timestamp after everything sent so far
	clockTS uint32    // the media clock: the sender's latest frame's timestamp...
	clockAt time.Time // ...and when that frame was due
	resumed bool      // a relay just gave the stream back
}

// clockLocked is the stream's media clock at now (s.mu held): the
// timestamp a frame sent now would carry, never before what was sent.
func (s *Session) clockLocked(now time.Time) uint32 {
	ts := s.out.nextTS
	if !s.out.clockAt.IsZero() {
		el := max(0, now.Sub(s.out.clockAt))
		if c := s.out.clockTS + uint32(el/(time.Second/SampleRate)); int32(c-ts) > 0 {
			ts = c
		}
	}
	return ts
}

// ErrBridged is returned when a session is already in a bridge.
var ErrBridged = errors.New("rtp session is already bridged")

// BridgeOptions configure a bridge.
type BridgeOptions struct {
	// ConnectTone is mixed into what the agent hears from the first debtor
	// packet on, so the agent knows a call is connected without the
	// debtor's first words being held back. Nil means 2 × 100 ms of
	// 440 Hz, 100 ms apart.
	// The tone follows the debtor's packets: a debtor phone that sends
	// nothing (silence suppression) delays it.
	ConnectTone []int16
	// NoConnectTone bridges without a tone.
	NoConnectTone bool
	// Recorder, if set, is fed both directions' audio as it is relayed
	// (the debtor's on the left, the agent's on the right). The bridge
	// does not close it.
	Recorder *CallRecorder
	// OnDigit is called for each RFC 4733 digit either side presses (once
	// per event, however many packets carry it), on the receive path of
	// that side's leg: it must not block. The event itself is relayed too.
	OnDigit func(from Side, digit rune)
	// OnRelay, if set, is called after each packet the bridge has sent on
	// (not for those it dropped), with the side it came from and when it
	// arrived at that leg's socket (the kernel's stamp, SO_TIMESTAMPNS, so
	// the wait for the leg's reader counts; where there is none, when it
	// was read): time.Since(received) is the latency the relay added. It runs on the receive path of the
	// leg the packet came from: it must neither block nor allocate
	// (benchmarks and latency metrics).
	OnRelay func(from Side, received time.Time)
	// OnDebtorAudio, if set, is given each audio packet the debtor sends,
	// decoded (as the leg's SessionOptions.OnAudio is before the bridge,
	// which the relay bypasses), on the debtor leg's receive path: a call's
	// answering-machine detector keeps listening while an agent talks. It
	// must neither block nor keep pcm, which is reused.
	OnDebtorAudio func(pcm []int16)
	Logger        *slog.Logger

	// replayWithin is how recent a packet heard before the bridge must be
	// to be relayed when the bridge is made (relayDir.replay): 0 is
	// FrameDuration, negative never (tests that need to know).
	replayWithin time.Duration
}

// defaultConnectTone has 5 ms ramps so the bursts do not click. Read only.
var defaultConnectTone = connectTone(440, 5000, 100*time.Millisecond, 100*time.Millisecond, 2)

func connectTone(freq float64, amp int16, on, off time.Duration, bursts int) []int16 {
	burst := Tone(freq, amp, int(on/(time.Second/SampleRate)))
	ramp := min(len(burst)/2, SampleRate/200)
	for i := range ramp {
		burst[i] = int16(int(burst[i]) * i / ramp)
		burst[len(burst)-1-i] = int16(int(burst[len(burst)-1-i]) * i / ramp)
	}
	var out []int16
	for i := range bursts {
		if i > 0 {
			out = append(out, make([]int16, int(off/(time.Second/SampleRate)))...)
		}
		out = append(out, burst...)
	}
	return out
}

// Bridge relays RTP both ways between a debtor's leg and an agent's leg,
// each a Session that stays up before and after (NewBridge).
type Bridge struct {
	legs      [2]*Session
	dirs      [2]relayDir // dirs[Debtor] carries the debtor's packets to the agent
	opt       BridgeOptions
	log       *slog.Logger
	started   time.Time
	connected chan struct{}
	done      chan struct{}
	once      sync.Once
	err       error // why it ended; set before done closes
}

// relayDir is one direction of a bridge: the packets src receives, rewritten
// into dst's outgoing stream.
type relayDir struct {
	b        *Bridge
	from     Side
	src, dst *Session

	// Guarded by dst.mu: the relay continues dst's stream.
	active   bool
	anchored bool
	srcSSRC  uint32
	maxSeq   uint16 // highest source sequence number seen (RFC 3550 A.1)
	seqOff   uint16
	tsOff    uint32
	tone     []int16 // the connect tone, still to mix in from toneAt
	toneAt   uint32
	toneSet  bool
	dtmf     DTMFReceiver
	first    time.Time
	pcm      []int16 // OnDebtorAudio's, on the source's receive path

	packets, bytes, transcoded, digits, dropped atomic.Uint64
}

// NewBridge joins debtor and agent: from now on each one's received RTP goes
// out on the other's stream (its SSRC, sequence numbers and timestamps
// continued), telephone events pass through with the other leg's payload
// type, and PCMU and PCMA are converted when the legs differ (a table
// lookup per byte; when they match the payload is not touched). Both
// sessions' own senders go quiet while bridged: a Play in progress on
// either ends (as when another Play replaces it), and a Play or SendDigits
// started while bridged waits until the bridge stops. Digits received go to
// OnDigit and the relay, not to the sessions' Digits. The legs' security
// rules hold: a relayed packet goes only where its leg would send (its
// latched source, or the signalled address during the probe), only packets
// from a leg's latched source are relayed, and LastReceived keeps counting
// for the no-RTP hang-up. The bridge ends on Stop or when either session
// closes.
func NewBridge(debtor, agent *Session, opt BridgeOptions) (*Bridge, error) {
	if debtor == nil || agent == nil || debtor == agent {
		return nil, errors.New("bridge: need two different sessions")
	}
	if opt.Logger == nil {
		opt.Logger = debtor.log
	}
	b := &Bridge{legs: [2]*Session{debtor, agent}, opt: opt, log: opt.Logger, started: time.Now(),
		connected: make(chan struct{}), done: make(chan struct{})}
	b.dirs[Debtor] = relayDir{b: b, from: Debtor, src: debtor, dst: agent}
	b.dirs[Agent] = relayDir{b: b, from: Agent, src: agent, dst: debtor}
	if !opt.NoConnectTone {
		b.dirs[Debtor].tone = opt.ConnectTone
		if b.dirs[Debtor].tone == nil {
			b.dirs[Debtor].tone = defaultConnectTone
		}
	}
	if err := debtor.attach(&b.dirs[Agent], &b.dirs[Debtor]); err != nil {
		return nil, fmt.Errorf("bridge: debtor leg %s: %w", debtor.LocalAddr(), err)
	}
	if err := agent.attach(&b.dirs[Debtor], &b.dirs[Agent]); err != nil {
		debtor.detach(&b.dirs[Agent], &b.dirs[Debtor])
		return nil, fmt.Errorf("bridge: agent leg %s: %w", agent.LocalAddr(), err)
	}
	// What each leg heard just before the bridge goes across now rather
	// than its next packet up to 20 ms later (answer-to-bridge).
	b.dirs[Debtor].replay()
	b.dirs[Agent].replay()
	go b.watch()
	return b, nil
}

// attach gives the session's stream to relay and its received packets to tap.
func (s *Session) attach(relay, tap *relayDir) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	if s.relay != nil || s.tap != nil {
		return ErrBridged
	}
	if s.play != nil {
		close(s.play.done)
		s.play = nil
	}
	s.relay, s.tap, relay.active = relay, tap, true
	return nil
}

// detach gives the session's stream back to its sender.
func (s *Session) detach(relay, tap *relayDir) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.relay == relay {
		s.relay, relay.active = nil, false
		s.out.resumed = true
	}
	if s.tap == tap {
		s.tap = nil
	}
}

func (b *Bridge) watch() {
	select {
	case <-b.legs[Debtor].Done():
		b.stop(fmt.Errorf("bridge: the debtor leg closed: %w", ErrClosed))
	case <-b.legs[Agent].Done():
		b.stop(fmt.Errorf("bridge: the agent leg closed: %w", ErrClosed))
	case <-b.done:
	}
}

// Stop ends the bridge: each session's own sender takes its stream back
// (silence, or what it is asked to play next), continuing the sequence
// numbers and timestamps the relay left. Safe to call twice and from
// OnDigit.
func (b *Bridge) Stop() { b.stop(nil) }

func (b *Bridge) stop(err error) {
	b.once.Do(func() {
		b.legs[Debtor].detach(&b.dirs[Agent], &b.dirs[Debtor])
		b.legs[Agent].detach(&b.dirs[Debtor], &b.dirs[Agent])
		b.err = err
		close(b.done)
		st := b.Stats()
		b.log.Info("rtp: bridge ended", "debtor", b.legs[Debtor].LocalAddr(), "agent", b.legs[Agent].LocalAddr(),
			"duration", time.Since(b.started).Round(time.Millisecond),
			"debtor_to_agent", st.DebtorToAgent.Packets, "agent_to_debtor", st.AgentToDebtor.Packets,
			"dropped", st.DebtorToAgent.Dropped+st.AgentToDebtor.Dropped, "reason", errString(err))
	})
}

func errString(err error) string {
	if err == nil {
		return "stopped"
	}
	return err.Error()
}

// Done is closed when the bridge has ended (Stop, or a leg closed).
func (b *Bridge) Done() <-chan struct{} { return b.done }

// Err says why the bridge ended: nil for Stop (or while it runs), an error
// wrapping ErrClosed that names the leg when a session closed.
func (b *Bridge) Err() error {
	select {
	case <-b.done:
		return b.err
	default:
		return nil
	}
}

// Connected is closed when the first debtor packet has been relayed to the
// agent (its time is Stats().DebtorToAgent.First): the end of
// answer-to-bridge.
func (b *Bridge) Connected() <-chan struct{} { return b.connected }

// RelayStats counts one direction of a bridge.
type RelayStats struct {
	Packets    uint64 // relayed
	Bytes      uint64 // payload bytes relayed
	Transcoded uint64 // relayed packets converted between PCMU and PCMA
	Digits     uint64 // telephone events (digits) that started
	// Dropped counts packets not relayed: neither G.711 nor the leg's
	// telephone-event type (comfort noise, say), empty or malformed, the
	// other leg on hold or without an address to send to yet, a send error.
	Dropped uint64
	// First is when the first relayed packet arrived (it leaves at once),
	// or when the bridge was made for one heard just before it (relayed
	// then); zero until then.
	First time.Time
}

// BridgeStats counts both directions.
type BridgeStats struct {
	Started       time.Time
	DebtorToAgent RelayStats
	AgentToDebtor RelayStats
}

// Stats returns the counters.
func (b *Bridge) Stats() BridgeStats {
	return BridgeStats{Started: b.started, DebtorToAgent: b.dirs[Debtor].stats(), AgentToDebtor: b.dirs[Agent].stats()}
}

func (d *relayDir) stats() RelayStats {
	d.dst.mu.Lock()
	first := d.first
	d.dst.mu.Unlock()
	return RelayStats{Packets: d.packets.Load(), Bytes: d.bytes.Load(), Transcoded: d.transcoded.Load(),
		Digits: d.digits.Load(), Dropped: d.dropped.Load(), First: first}
}
