package media

import (
	"bytes"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/marcador/marcador/analytics/polltest"
)

// The first packets of a call leave when they can, not at the pacer's next
// tick. Each test runs on a pacer whose ticks have stopped (Close): a
// packet that arrives was not sent by a tick, and nothing here waits on
// the clock (out reads with a generous deadline).

// stoppedPacer is a pacer that will never tick.
func stoppedPacer() *Pacer {
	p := NewPacer(1)
	p.Close()
	return p
}

func testPhone(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newPacedSession is a session on p, on its own socket or on m's.
func newPacedSession(t *testing.T, p *Pacer, m *Mux, o SessionOptions) *Session {
	t.Helper()
	o.Pacer, o.Mux, o.Logger = p, m, slog.New(slog.DiscardHandler)
	if m == nil {
		c, err := ListenRTP(loopback, testPorts)
		if err != nil {
			t.Fatal(err)
		}
		o.Conn = c
	}
	s := NewSession(o)
	t.Cleanup(func() { s.Close() })
	return s
}

func eachSocketKind(t *testing.T, f func(t *testing.T, m *Mux)) {
	t.Run("own socket", func(t *testing.T) { f(t, nil) })
	t.Run("shared socket", func(t *testing.T) { f(t, newMux(t, 1)) })
}

// An outbound call's session (it may send to the answer's address at once:
// the probe) sends its first frame as it starts: the carrier that waits to
// hear us first hears us without waiting for a tick.
func TestPacedSessionSendsItsFirstFrameAtStart(t *testing.T) {
	eachSocketKind(t, func(t *testing.T, m *Mux) {
		phone := testPhone(t)
		s := newPacedSession(t, stoppedPacer(), m, SessionOptions{Remote: phoneAddr(phone), Probe: time.Minute})
		s.Start()
		if n := s.Stats().Sent; n != 1 {
			t.Fatalf("sent %d packets as it started, want 1", n)
		}
		p := out(t, phone)
		if p.SSRC != s.SSRC() || !p.Marker || p.PayloadType != PCMU.PayloadType || len(p.Payload) != FrameSamples {
			t.Fatalf("first packet %v (payload %d bytes), want the session's stream's first frame", p.Header, len(p.Payload))
		}
	})
}

// A session that latches first (an answered call: no probe) answers the
// peer's first packet with its own first frame at once.
func TestPacedSessionAnswersItsPeersFirstPacketAtOnce(t *testing.T) {
	eachSocketKind(t, func(t *testing.T, m *Mux) {
		phone := testPhone(t)
		s := newPacedSession(t, stoppedPacer(), m, SessionOptions{Remote: phoneAddr(phone)})
		s.Start()
		if n := s.Stats().Sent; n != 0 {
			t.Fatalf("sent %d packets before the peer's first, want none (latch first)", n)
		}
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: PCMU.PayloadType, SequenceNumber: 7, Timestamp: 160, SSRC: 0x5EED},
			Payload: make([]byte, FrameSamples)}).Marshal()
		if _, err := phone.WriteToUDPAddrPort(b, s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		p := out(t, phone)
		if p.SSRC != s.SSRC() || !p.Marker {
			t.Fatalf("reply %v, want the session's first frame", p.Header)
		}
	})
}

// A bridge made just after the debtor's packet arrived relays that packet
// as it is made: the agent hears the debtor's audio without waiting for
// the debtor's next packet (answer-to-bridge), in the agent's stream.
func TestBridgeRelaysThePacketHeardJustBefore(t *testing.T) {
	eachSocketKind(t, func(t *testing.T, m *Mux) {
		debtorPhone, agentPhone := testPhone(t), testPhone(t)
		p := stoppedPacer()
		debtor := newPacedSession(t, p, m, SessionOptions{Remote: phoneAddr(debtorPhone)})
		agent := newPacedSession(t, p, m, SessionOptions{Remote: phoneAddr(agentPhone)})
		debtor.Start()
		agent.Start()
		send := func(from *net.UDPConn, to *Session, ssrc uint32, payload []byte) {
			b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: PCMU.PayloadType, SequenceNumber: 1, Timestamp: 160, SSRC: ssrc},
				Payload: payload}).Marshal()
			if _, err := from.WriteToUDPAddrPort(b, to.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		hello := PCMU.Encode(nil, Tone(1000, 8000, FrameSamples))
		send(agentPhone, agent, 0xA, make([]byte, FrameSamples))
		out(t, agentPhone) // the agent's leg latched and answered
		send(debtorPhone, debtor, 0xD, hello)
		out(t, debtorPhone) // the debtor's leg latched and answered: the packet was heard
		br, err := NewBridge(debtor, agent, BridgeOptions{NoConnectTone: true, replayWithin: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer br.Stop()
		select {
		case <-br.Connected(): // as NewBridge returned: nothing else could have connected it
		default:
			t.Fatal("the bridge was not connected by the packet heard before it")
		}
		got := out(t, agentPhone)
		if got.SSRC != agent.SSRC() || !bytes.Equal(got.Payload, hello) {
			t.Fatalf("agent got %v with %d bytes, want the debtor's tone in the agent's stream", got.Header, len(got.Payload))
		}
	})
}

// A packet older than the replay window is not relayed when the bridge is
// made: the agent would hear it out of its time.
func TestBridgeDoesNotRelayAStalePacket(t *testing.T) {
	debtorPhone, agentPhone := testPhone(t), testPhone(t)
	p := stoppedPacer()
	debtor := newPacedSession(t, p, nil, SessionOptions{Remote: phoneAddr(debtorPhone)})
	agent := newPacedSession(t, p, nil, SessionOptions{Remote: phoneAddr(agentPhone), Probe: time.Minute})
	debtor.Start()
	agent.Start()
	out(t, agentPhone)
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: PCMU.PayloadType, SequenceNumber: 1, SSRC: 0xD},
		Payload: make([]byte, FrameSamples)}).Marshal()
	if _, err := debtorPhone.WriteToUDPAddrPort(b, debtor.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	out(t, debtorPhone)
	br, err := NewBridge(debtor, agent, BridgeOptions{NoConnectTone: true, replayWithin: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Stop()
	if st := br.Stats().DebtorToAgent; st.Packets != 0 {
		t.Fatalf("relayed %d packets heard before the window, want none", st.Packets)
	}
}

// A shared socket's reader stamps each datagram with the kernel's arrival
// time (a relayed packet's latency then counts its wait for the reader).
func TestMuxStampsArrivalTimes(t *testing.T) {
	_, mc, b := readerlessMux(t)
	peer := rawPeer(t)
	sent := time.Now()
	if _, err := peer.WriteToUDPAddrPort([]byte{0x80, 0, 0, 1}, mc.local); err != nil {
		t.Fatal(err)
	}
	n, err := b.read()
	read := time.Now()
	if err != nil || n != 1 {
		t.Fatalf("read %d: %v", n, err)
	}
	if at := b.arrived(0); at.IsZero() || at.Before(sent.Add(-time.Millisecond)) || at.After(read) {
		t.Fatalf("arrival stamped %v, sent %v, read %v", at, sent, read)
	}
}

// A prompt started before the peer's first packet (an answered call whose
// caller's media is late, or a phone that sends nothing until it has
// audio) waits for someone to hear it: the ticks with nowhere to send do
// not play it into the void, and the caller hears its first frame first.
func TestPromptWaitsForThePeersFirstPacket(t *testing.T) {
	eachSocketKind(t, func(t *testing.T, m *Mux) {
		phone := testPhone(t)
		s := newPacedSession(t, stoppedPacer(), m, SessionOptions{Remote: phoneAddr(phone)})
		s.Start()
		welcome := &Prompt{Samples: append(Tone(1000, 8000, FrameSamples), Tone(500, 8000, 50*FrameSamples)...)}
		go s.Play(t.Context(), false, welcome)
		polltest.Eventually(t, 10*time.Second, s.playing, "the prompt to start")
		s.sendMu.Lock()
		sd := s.psd
		s.sendMu.Unlock()
		for range 25 { // half a second of ticks before the caller is heard
			s.paceFrame(sd, nil, time.Now())
		}
		if n := s.Stats().Sent; n != 0 {
			t.Fatalf("sent %d packets before the peer's first", n)
		}
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: PCMU.PayloadType, SequenceNumber: 7, Timestamp: 160, SSRC: 0x5EED},
			Payload: make([]byte, FrameSamples)}).Marshal()
		if _, err := phone.WriteToUDPAddrPort(b, s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		first := PCMU.Encode(nil, Tone(1000, 8000, FrameSamples))
		if p := out(t, phone); !bytes.Equal(p.Payload, first) {
			t.Fatal("the caller's first frame is not the prompt's first: the start was played to nobody")
		}
	})
}
