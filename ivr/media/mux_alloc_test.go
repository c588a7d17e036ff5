package media

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/marcador/marcador/analytics/polltest"
)

// readerlessMux is a Mux of one shared socket with no reader goroutine:
// the test reads and delivers, so testing.AllocsPerRun (which counts every
// goroutine's allocations) sees only the paths under test.
func readerlessMux(t testing.TB) (*Mux, *muxConn, *udpBatch) {
	t.Helper()
	c, err := bindMuxSock(loopback, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	mc := newMuxConn(c, slog.New(slog.DiscardHandler))
	b, err := newUDPBatch(c, txBatchSize, muxRecvBuf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.release() })
	return &Mux{conns: []*muxConn{mc}}, mc, b
}

// rawPeer is a far end with no goroutine reading it (its socket buffer
// takes what it is sent).
func rawPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

// A pacer tick's batched send of 16 sessions' frames (playing a prompt,
// stamping intervals) allocates nothing.
func TestMuxSendDoesNotAllocate(t *testing.T) {
	m, _, _ := readerlessMux(t)
	sink := rawPeer(t)
	q := &txQueue{}
	type paced struct {
		s  *Session
		sd *sender
	}
	var ps []paced
	intervals := 0
	prompt := &Prompt{Samples: Tone(440, 8000, 8000*600)}
	for range 16 {
		s := NewSession(SessionOptions{Mux: m, Remote: phoneAddr(sink), Probe: time.Hour, OnSend: func(time.Duration) { intervals++ },
			Logger: slog.New(slog.DiscardHandler)})
		defer s.Close()
		s.mu.Lock()
		s.probeEnd = time.Now().Add(time.Hour) // as Start does, without its sender
		s.mu.Unlock()
		go s.Play(t.Context(), false, prompt)
		ps = append(ps, paced{s, s.newSender()})
	}
	for _, p := range ps {
		polltest.Eventually(t, 10*time.Second, p.s.playing, "the prompt to start")
	}
	tick := func() {
		for _, p := range ps {
			p.s.sendFrame(p.sd, q, time.Now())
		}
		q.flush()
	}
	tick() // the queue's batch for the socket is made once
	if allocs := testing.AllocsPerRun(200, tick); allocs != 0 {
		t.Fatalf("%.1f allocations per tick of 16 frames", allocs)
	}
	if st := ps[0].s.Stats(); st.Sent < 200 || intervals < 16*200 {
		t.Fatalf("sent %d, %d intervals stamped", st.Sent, intervals)
	}
	// A packet sent on its own (a session's first frame, a per-call relay)
	// allocates nothing either.
	frame := make([]byte, 172)
	frame[0] = 0x80
	one := func() {
		if err := ps[0].s.transmit(frame, phoneAddr(sink)); err != nil {
			t.Fatal(err)
		}
	}
	if allocs := testing.AllocsPerRun(200, one); allocs != 0 {
		t.Fatalf("%.1f allocations per packet sent alone", allocs)
	}
	var pkt rtp.Packet
	buf := make([]byte, 1500)
	sink.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := sink.Read(buf)
	if err != nil || pkt.Unmarshal(buf[:n]) != nil || len(pkt.Payload) != FrameSamples {
		t.Fatalf("sink read %d bytes: %v", n, err)
	}
}

// Receiving on a shared socket allocates nothing per packet: a batch read,
// routed to its session (decoded for OnAudio), and a bridged leg's packet
// relayed to the other leg through the batched send.
func TestMuxReceiveAndRelayDoNotAllocate(t *testing.T) {
	m, mc, b := readerlessMux(t)
	shared := mc.local
	listener, debtorPhone, agentPhone := rawPeer(t), rawPeer(t), rawPeer(t)
	quiet := slog.New(slog.DiscardHandler)
	frames := 0
	heard := NewSession(SessionOptions{Mux: m, Remote: phoneAddr(listener), OnAudio: func([]int16) { frames++ }, Logger: quiet})
	debtor := NewSession(SessionOptions{Mux: m, Remote: phoneAddr(debtorPhone), Logger: quiet})
	agent := NewSession(SessionOptions{Mux: m, Remote: phoneAddr(agentPhone), Codec: PCMA, Logger: quiet})
	for _, s := range []*Session{heard, debtor, agent} {
		s.Start()
		defer s.Close()
	}
	var pkt rtp.Packet
	q := &txQueue{}
	out := make([]byte, 1500)
	seq := uint16(0)
	send := func(c *net.UDPConn, ssrc uint32) {
		n, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc},
			Payload: make([]byte, 160)}).MarshalTo(out)
		c.WriteToUDPAddrPort(out[:n], shared)
	}
	round := func() {
		seq++
		send(listener, 1)
		send(debtorPhone, 2)
		for got := 0; got < 2; {
			n, err := b.read()
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for i := range n {
				p, src := b.msg(i)
				mc.deliver(p, src, &pkt, q, now)
			}
			got += n
		}
		q.flush()
	}
	send(agentPhone, 3) // every leg latched before the bridge, as on a live call
	round()
	br, err := NewBridge(debtor, agent, BridgeOptions{NoConnectTone: true, Logger: quiet, OnRelay: func(Side, time.Time) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Stop()
	round()
	if allocs := testing.AllocsPerRun(1000, round); allocs != 0 {
		t.Fatalf("%.1f allocations per round of two packets", allocs)
	}
	st := br.Stats().DebtorToAgent
	if frames < 1000 || st.Packets < 1000 || st.Transcoded < 1000 || st.Dropped != 0 || agent.Stats().Sent < 1000 {
		t.Fatalf("%d frames heard, relay %+v, agent leg sent %d", frames, st, agent.Stats().Sent)
	}
	buf := make([]byte, 1500)
	agentPhone.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := agentPhone.ReadFromUDPAddrPort(buf)
	if err != nil || pkt.Unmarshal(buf[:n]) != nil || pkt.SSRC != agent.SSRC() || pkt.PayloadType != PCMA.PayloadType || from != shared {
		t.Fatalf("agent phone got %d bytes from %v (shared %v): %v %+v", n, from, shared, err, pkt.Header)
	}
}
