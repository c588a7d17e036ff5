package media

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/marcador/marcador/analytics/polltest"
)

func newMux(t testing.TB, sockets int) *Mux {
	t.Helper()
	m, err := NewMux(MuxOptions{Addr: loopback, Ports: testPorts, Sockets: sockets, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// muxPeer is a far end on loopback (ip 127.0.0.x) that sends RTP with an
// SSRC of its own and records what it gets.
type muxPeer struct {
	c    *net.UDPConn
	ssrc uint32
	seq  uint16
	mu   sync.Mutex
	got  []rtp.Packet
}

func newMuxPeer(t testing.TB, ip string, ssrc uint32) *muxPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	p := &muxPeer{c: c, ssrc: ssrc}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 1500)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(append([]byte(nil), b[:n]...)) == nil {
				p.mu.Lock()
				p.got = append(p.got, pkt)
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *muxPeer) addr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }

// send sends one PCMU packet whose every byte is fill.
func (p *muxPeer) send(t testing.TB, to netip.AddrPort, fill byte) {
	p.seq++
	pay := make([]byte, 160)
	for i := range pay {
		pay[i] = fill
	}
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: uint32(p.seq) * 160, SSRC: p.ssrc}, Payload: pay}).Marshal()
	if _, err := p.c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func (p *muxPeer) received() []rtp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rtp.Packet(nil), p.got...)
}

// heardFrom collects the first sample of every frame a session decodes.
type heardFrom struct {
	mu  sync.Mutex
	pcm []int16
}

func (h *heardFrom) onAudio(pcm []int16) { h.mu.Lock(); h.pcm = append(h.pcm, pcm[0]); h.mu.Unlock() }
func (h *heardFrom) all() []int16 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int16(nil), h.pcm...)
}

// Two peers behind one address and port (an SBC) are told apart by the
// SSRC each one's SDP announced: each session hears only its own peer, and
// answers it from the shared port with its own SSRC.
func TestMuxDemultiplexesBySSRC(t *testing.T) {
	m := newMux(t, 1)
	p := NewPacer(2)
	defer p.Close()
	sbc := newMuxPeer(t, "127.0.0.1", 0)
	var heard [2]heardFrom
	var ss [2]*Session
	for i := range ss {
		ss[i] = NewSession(SessionOptions{Mux: m, Pacer: p, Remote: sbc.addr(), RemoteSSRC: uint32(1000 + i), OnAudio: heard[i].onAudio,
			Logger: slog.New(slog.DiscardHandler)})
		ss[i].Start()
		defer ss[i].Close()
	}
	if ss[0].LocalAddr() != m.Addrs()[0] || ss[1].LocalAddr() != m.Addrs()[0] {
		t.Fatalf("sessions on %v and %v, the shared socket is %v", ss[0].LocalAddr(), ss[1].LocalAddr(), m.Addrs())
	}
	fill := [2]byte{0x10, 0x90} // distinct samples, one per peer
	for range 20 {
		for i := range 2 {
			sbc.ssrc = uint32(1000 + i)
			sbc.send(t, m.Addrs()[0], fill[i])
		}
	}
	polltest.Eventually(t, 10*time.Second, func() bool { return len(heard[0].all()) >= 20 && len(heard[1].all()) >= 20 }, "both sessions to hear 20 frames")
	for i := range 2 {
		want := DecodeUlaw(fill[i])
		for _, v := range heard[i].all() {
			if v != want {
				t.Fatalf("session %d heard %d, want only %d (its own peer's)", i, v, want)
			}
		}
	}
	// Both answer the one address, each with its own stream.
	polltest.Eventually(t, 10*time.Second, func() bool {
		seen := map[uint32]bool{}
		for _, pkt := range sbc.received() {
			seen[pkt.SSRC] = true
		}
		return seen[ss[0].SSRC()] && seen[ss[1].SSRC()]
	}, "both sessions' streams at the SBC")
}

// Without a=ssrc the port tells calls apart, as the SDP named it: two
// peers on one IP each latch their own session.
func TestMuxDemultiplexesByPort(t *testing.T) {
	m := newMux(t, 1)
	a, b := newMuxPeer(t, "127.0.0.1", 7), newMuxPeer(t, "127.0.0.1", 7) // even the same SSRC
	var ha, hb heardFrom
	sa := NewSession(SessionOptions{Mux: m, Remote: a.addr(), OnAudio: ha.onAudio})
	sb := NewSession(SessionOptions{Mux: m, Remote: b.addr(), OnAudio: hb.onAudio})
	sa.Start()
	sb.Start()
	defer sa.Close()
	defer sb.Close()
	for range 10 {
		a.send(t, m.Addrs()[0], 0x10)
		b.send(t, m.Addrs()[0], 0x90)
	}
	polltest.Eventually(t, 10*time.Second, func() bool { return len(ha.all()) >= 10 && len(hb.all()) >= 10 }, "both sessions to hear 10 frames")
	for _, v := range ha.all() {
		if v != DecodeUlaw(0x10) {
			t.Fatalf("a heard %d", v)
		}
	}
	for _, v := range hb.all() {
		if v != DecodeUlaw(0x90) {
			t.Fatalf("b heard %d", v)
		}
	}
}

// tickWitness is a probing session on the same pacer sending to a sink of
// its own: the packets it receives count the pacer's ticks, so a test can
// wait for ticks to pass instead of sleeping for them.
type tickWitness struct{ sink *muxPeer }

func newTickWitness(t *testing.T, m *Mux, p *Pacer) tickWitness {
	sink := newMuxPeer(t, "127.0.0.1", 77)
	w := NewSession(SessionOptions{Mux: m, Pacer: p, Remote: sink.addr(), Probe: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	w.Start()
	t.Cleanup(func() { w.Close() })
	return tickWitness{sink: sink}
}

// wait returns once the pacer has sent n more frames to the witness.
func (w tickWitness) wait(t *testing.T, n int) {
	t.Helper()
	from := len(w.sink.received())
	polltest.Eventually(t, 10*time.Second, func() bool { return len(w.sink.received()) >= from+n }, "the pacer's ticks")
}

// The security rules of a per-call socket hold on a shared one: an inbound
// session (no probe) sends nothing before its peer's first packet, a
// stranger from another IP latches nothing, and once latched, the peer's
// stream moving to another port (NAT rebinding) is not followed until the
// call is re-negotiated (SetRemote), after which the new source latches.
func TestMuxLatchRules(t *testing.T) {
	m := newMux(t, 1)
	p := NewPacer(1)
	defer p.Close()
	peer := newMuxPeer(t, "127.0.0.1", 42)
	stranger := newMuxPeer(t, "127.0.0.2", 43)
	s := NewSession(SessionOptions{Mux: m, Pacer: p, Remote: peer.addr(), Logger: slog.New(slog.DiscardHandler)})
	s.Start()
	defer s.Close()
	ticks := newTickWitness(t, m, p)
	shared := m.Addrs()[0]

	stranger.send(t, shared, 0x10)
	polltest.Eventually(t, 10*time.Second, func() bool { return m.Stats().Stray >= 1 }, "the stranger's packet to be dropped")
	ticks.wait(t, 5) // a wrongly latched session would send in them
	if n := len(peer.received()) + len(stranger.received()); n != 0 || s.Stats().Received != 0 {
		t.Fatalf("before the peer's first packet: %d packets sent, %d received", n, s.Stats().Received)
	}

	peer.send(t, shared, 0x10)
	polltest.Eventually(t, 10*time.Second, func() bool { return len(peer.received()) >= 3 }, "our stream at the latched peer")
	if st := s.Stats(); st.Remote != peer.addr() || st.Received != 1 {
		t.Fatalf("after latching: %+v", st)
	}

	// NAT rebinding: same host, same SSRC, new port.
	moved := newMuxPeer(t, "127.0.0.1", 42)
	moved.seq = peer.seq
	moved.send(t, shared, 0x10)
	polltest.Eventually(t, 10*time.Second, func() bool { return s.Stats().Malformed >= 1 }, "the moved stream's packet to be refused")
	if st := s.Stats(); st.Remote != peer.addr() || st.Received != 1 {
		t.Fatalf("re-latched without re-negotiation: %+v", st)
	}
	if n := len(moved.received()); n != 0 {
		t.Fatalf("%d packets went to the moved source", n)
	}

	s.SetRemote(moved.addr()) // a re-INVITE names it
	moved.send(t, shared, 0x10)
	polltest.Eventually(t, 10*time.Second, func() bool { return len(moved.received()) >= 3 }, "our stream at the re-negotiated address")
	if st := s.Stats(); st.Remote != moved.addr() || st.Received != 2 {
		t.Fatalf("after re-negotiation: %+v", st)
	}
}

// A session that probes its peer stops when nothing comes back, on a
// shared socket as on its own.
func TestMuxProbeStopsWithoutAReply(t *testing.T) {
	m := newMux(t, 1)
	sink := newMuxPeer(t, "127.0.0.1", 1)
	p := NewPacer(1)
	defer p.Close()
	s := NewSession(SessionOptions{Mux: m, Pacer: p, Remote: sink.addr(), Probe: 200 * time.Millisecond})
	s.Start()
	defer s.Close()
	ticks := newTickWitness(t, m, p)
	polltest.Eventually(t, 10*time.Second, func() bool { return len(sink.received()) > 0 }, "the probe")
	polltest.Eventually(t, 20*time.Second, func() bool {
		n := len(sink.received())
		ticks.wait(t, 5) // five frames' time without a packet
		return len(sink.received()) == n
	}, "the probe to stop")
	if n := len(sink.received()); n > 50 {
		t.Fatalf("%d packets for a 200 ms probe", n)
	}
}

// A tone played on a shared-socket session reaches a peer on another
// shared socket, both ways, through the batched send and receive paths.
func TestMuxToneBothWays(t *testing.T) {
	m := newMux(t, 2)
	p := NewPacer(4)
	defer p.Close()
	var ha, hb sync.Mutex
	var gotA, gotB []int16
	a := NewSession(SessionOptions{Mux: m, Pacer: p, Probe: time.Minute, OnAudio: func(pcm []int16) { ha.Lock(); gotA = append(gotA, pcm...); ha.Unlock() }})
	b := NewSession(SessionOptions{Mux: m, Pacer: p, Probe: time.Minute, OnAudio: func(pcm []int16) { hb.Lock(); gotB = append(gotB, pcm...); hb.Unlock() }})
	a.SetPeer(b.LocalAddr(), b.SSRC())
	b.SetPeer(a.LocalAddr(), a.SSRC())
	a.Start()
	b.Start()
	defer a.Close()
	defer b.Close()
	go a.Play(context.Background(), false, &Prompt{Samples: Tone(1000, 8000, 8000)})
	go b.Play(context.Background(), false, &Prompt{Samples: Tone(700, 8000, 8000)})
	polltest.Eventually(t, 20*time.Second, func() bool {
		ha.Lock()
		defer ha.Unlock()
		hb.Lock()
		defer hb.Unlock()
		return len(gotA) >= 4000 && len(gotB) >= 4000
	}, "half a second of audio each way")
	ha.Lock()
	fa := DominantFrequency(gotA[len(gotA)-4000:], []float64{700, 1000})
	ha.Unlock()
	hb.Lock()
	fb := DominantFrequency(gotB[len(gotB)-4000:], []float64{700, 1000})
	hb.Unlock()
	if fa != 700 || fb != 1000 {
		t.Fatalf("a hears %v Hz (want 700), b hears %v Hz (want 1000)", fa, fb)
	}
}

// Closing a session stops delivery to it: no OnAudio after Close returns.
func TestMuxNoDeliveryAfterClose(t *testing.T) {
	m := newMux(t, 1)
	peer := newMuxPeer(t, "127.0.0.1", 5)
	var closed atomic.Bool
	var late atomic.Int64
	s := NewSession(SessionOptions{Mux: m, Remote: peer.addr(), OnAudio: func([]int16) {
		if closed.Load() {
			late.Add(1)
		}
	}})
	s.Start()
	for range 50 {
		peer.send(t, m.Addrs()[0], 0x10)
	}
	polltest.Eventually(t, 10*time.Second, func() bool { return s.Stats().Received > 0 }, "a packet")
	s.Close()
	closed.Store(true)
	for range 50 {
		peer.send(t, m.Addrs()[0], 0x10)
	}
	polltest.Eventually(t, 10*time.Second, func() bool { return m.Stats().Stray >= 50 }, "the packets after Close to be dropped")
	if late.Load() != 0 || m.Stats().Sessions != 0 {
		t.Fatalf("%d frames delivered after Close; %d sessions left", late.Load(), m.Stats().Sessions)
	}
}

// A closed Mux's readers return (a blocked recvmmsg is woken), and a
// session left on it gets an error for a send instead of reaching a
// descriptor the process may have reused.
func TestMuxClosedRefusesSends(t *testing.T) {
	m, err := NewMux(MuxOptions{Addr: loopback, Ports: testPorts, Sockets: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	peer := newMuxPeer(t, "127.0.0.1", 5)
	s := NewSession(SessionOptions{Mux: m, Remote: peer.addr()})
	defer s.Close()
	if err := s.transmit([]byte{0x80, 0, 0, 1}, peer.addr()); err != nil {
		t.Fatalf("send before Close: %v", err)
	}
	if err := m.Close(); err != nil { // returns only once both readers have
		t.Fatal(err)
	}
	if err := s.transmit([]byte{0x80, 0, 0, 2}, peer.addr()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("send after Close: %v, want net.ErrClosed", err)
	}
}

// FuzzMuxDeliver feeds arbitrary datagrams from four sources to a shared
// socket's demultiplexer: a latched peer, a peer whose SDP announced its
// SSRC, a peer known only by its SDP address, a stranger on another IP.
// No panic; a packet is taken only by a session whose peer is then at its
// source; the latched session never moves; the stranger latches nothing.
func FuzzMuxDeliver(f *testing.F) {
	for _, seed := range []struct {
		from byte
		ssrc uint32
	}{{0, 1}, {1, 2}, {2, 9}, {3, 1}, {0, 7}, {1, 1}} {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: seed.ssrc}, Payload: make([]byte, 160)}).Marshal()
		f.Add(seed.from, b)
	}
	f.Add(byte(0), []byte{0x80})
	f.Add(byte(2), []byte{})
	f.Fuzz(func(t *testing.T, from byte, b []byte) {
		m, mc, _ := readerlessMux(t)
		quiet := slog.New(slog.DiscardHandler)
		srcs := []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:40002"),
			netip.MustParseAddrPort("127.0.0.1:40004"), netip.MustParseAddrPort("127.0.0.2:40000"),
		}
		latched := NewSession(SessionOptions{Mux: m, Remote: srcs[0], Logger: quiet})
		announced := NewSession(SessionOptions{Mux: m, Remote: srcs[1], RemoteSSRC: 2, Logger: quiet})
		byPort := NewSession(SessionOptions{Mux: m, Remote: srcs[2], Logger: quiet})
		all := []*Session{latched, announced, byPort}
		for _, s := range all {
			s.Start()
			defer s.Close()
		}
		first, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: make([]byte, 160)}).Marshal()
		var pkt rtp.Packet
		mc.deliver(first, srcs[0], &pkt, nil, time.Now())
		if latched.Stats().Received != 1 {
			t.Fatal("the first peer did not latch")
		}
		src := srcs[int(from)%len(srcs)]
		before := make([]Stats, len(all))
		for i, s := range all {
			before[i] = s.Stats()
		}
		mc.deliver(b, src, &pkt, nil, time.Now())
		for i, s := range all {
			st := s.Stats()
			if st.Received > before[i].Received && st.Remote != src {
				t.Fatalf("session %d took a packet from %v but answers %v", i, src, st.Remote)
			}
			if st.Remote.Addr() != before[i].Remote.Addr() && st.Remote.Addr() == srcs[3].Addr() {
				t.Fatalf("session %d latched to the stranger", i)
			}
		}
		if st := latched.Stats(); st.Remote != srcs[0] {
			t.Fatalf("the latched session moved to %v", st.Remote)
		}
	})
}
