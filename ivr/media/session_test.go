package media

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/marcador/marcador/analytics/polltest"
)

var loopback = netip.MustParseAddr("127.0.0.1")
var testPorts = PortRange{Min: 30000, Max: 39999}

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := ListenRTP(loopback, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalAddr().(*net.UDPAddr).Port%2 != 0 {
		t.Fatalf("odd RTP port %v", c.LocalAddr())
	}
	return c
}

// pair connects two sessions on loopback; b collects what it hears.
func pair(t *testing.T, codec Codec) (a, b *Session, heard func() []int16) {
	ca, cb := listen(t), listen(t)
	var mu sync.Mutex
	var got []int16
	a = NewSession(SessionOptions{Conn: ca, Remote: cb.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: codec, Probe: time.Minute})
	b = NewSession(SessionOptions{Conn: cb, Remote: ca.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: codec, Probe: time.Minute,
		OnAudio: func(pcm []int16) { mu.Lock(); got = append(got, pcm...); mu.Unlock() }})
	a.Start()
	b.Start()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b, func() []int16 { mu.Lock(); defer mu.Unlock(); return append([]int16(nil), got...) }
}

func TestToneReachesTheFarSide(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		t.Run(c.Name, func(t *testing.T) {
			a, _, heard := pair(t, c)
			res, err := a.Play(context.Background(), false, &Prompt{Name: "1k", Samples: Tone(1000, 8000, 4000)})
			if err != nil || res.Interrupted {
				t.Fatalf("play: %+v %v", res, err)
			}
			// The last frames are still on their way: wait (bounded) for them.
			var h []int16
			polltest.Until(10*time.Second, func() bool { h = heard(); return len(h) >= 4000+2*FrameSamples })
			if len(h) < 4000 {
				t.Fatalf("heard %d samples", len(h))
			}
			if f := DominantFrequency(h, []float64{400, 700, 1000, 1400, 2000}); f != 1000 {
				t.Fatalf("far side hears %v Hz", f)
			}
			if p := GoertzelPower(h, 1000); p < 1e6 {
				t.Fatalf("tone power %g too low", p)
			}
		})
	}
}

// playing says whether a prompt is being sent.
func (s *Session) playing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.play != nil
}

func TestDigitsBothWaysAndBargeIn(t *testing.T) {
	a, b, _ := pair(t, PCMU)
	if err := a.SendDigits("159#*0"); err != nil {
		t.Fatal(err)
	}
	// Timeouts are generous: collection ends at the count or terminator.
	got, err := b.CollectDigits(context.Background(), 6, 0, 20*time.Second, 10*time.Second)
	if err != nil || got != "159#*0" {
		t.Fatalf("collected %q %v", got, err)
	}
	if err := a.SendDigits("x"); err == nil {
		t.Fatal("bad digit accepted")
	}
	// Barge-in: b plays a minute-long prompt; a key from a, sent once the
	// prompt plays, stops it long before its end.
	done := make(chan PlayResult)
	go func() {
		r, _ := b.Play(context.Background(), true, &Prompt{Samples: Tone(440, 8000, 8000*60)})
		done <- r
	}()
	polltest.Eventually(t, 10*time.Second, b.playing, "the prompt to start")
	a.SendDigits("7")
	select {
	case r := <-done:
		if !r.Interrupted || r.Digit != '7' {
			t.Fatalf("barge-in result %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("playback not interrupted")
	}
	// Digits sent while a plays a minute of audio keep their own pace: they
	// arrive long before the prompt would end.
	go a.Play(context.Background(), false, &Prompt{Samples: Tone(300, 8000, 8000*60)})
	a.SendDigits("86")
	if got, _ := b.CollectDigits(context.Background(), 2, 0, 30*time.Second, 30*time.Second); got != "86" {
		t.Fatalf("digits during playback: %q", got)
	}
	// '#' terminates collection; terminator not included.
	a.SendDigits("42#")
	if got, _ := b.CollectDigits(context.Background(), 10, '#', 20*time.Second, 10*time.Second); got != "42" {
		t.Fatalf("terminated collect %q", got)
	}
}

// The packets we send, one by one: continuous sequence numbers, timestamps
// +160 per 20 ms frame, the negotiated payload type, the marker only on the
// first packet and on each DTMF event start, one SSRC.
func TestOutgoingPacketsAreWellFormed(t *testing.T) {
	t.Run("own loop", func(t *testing.T) { checkOutgoingPackets(t, nil, nil) })
	for _, shared := range []bool{false, true} {
		name := "pacer"
		if shared {
			name = "pacer, shared socket, batched"
		}
		t.Run(name, func(t *testing.T) {
			p := NewPacer(3)
			defer p.Close()
			var mux *Mux
			if shared {
				mux = newMux(t, 2)
			}
			// Other sessions share the pacer's ticks (and the sockets' batches).
			for range 5 {
				o := NewSession(SessionOptions{Conn: listen(t), Remote: netip.MustParseAddrPort("127.0.0.1:9"), Pacer: p, Probe: time.Minute})
				if shared {
					o = NewSession(SessionOptions{Mux: mux, Remote: netip.MustParseAddrPort("127.0.0.1:9"), Pacer: p, Probe: time.Minute})
				}
				o.Start()
				defer o.Close()
			}
			checkOutgoingPackets(t, p, mux)
			if n := p.Sessions(); n != 5 {
				t.Errorf("pacer holds %d sessions after one closed, want 5", n)
			}
		})
	}
}

func checkOutgoingPackets(t *testing.T, pacer *Pacer, mux *Mux) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	o := SessionOptions{Remote: sink.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: PCMA, Pacer: pacer, Probe: time.Minute}
	if mux != nil {
		o.Mux = mux
	} else {
		o.Conn = listen(t)
	}
	s := NewSession(o)
	s.Start()
	defer s.Close()
	go s.Play(context.Background(), false, &Prompt{Samples: Tone(700, 5000, 8000)})
	// Read until a digit sent after the 15th packet has gone by and audio
	// follows it again (bounded): the stream around the event, in order.
	var pkts []rtp.Packet
	buf := make([]byte, 1500)
	sink.SetReadDeadline(time.Now().Add(30 * time.Second))
	for seen, after := false, 0; len(pkts) < 60 || !seen || after < 5; {
		n, err := sink.Read(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(pkts), err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
		if len(pkts) == 15 {
			s.SendDigits("3")
		}
		if p.PayloadType == DefaultDTMFPayloadType {
			seen, after = true, 0
		} else if seen {
			after++
		}
		if len(pkts) > 2000 {
			t.Fatal("no DTMF event in 2,000 packets")
		}
	}
	if !pkts[0].Marker {
		t.Error("first packet has no marker")
	}
	events, lastAudioTS := 0, uint32(0)
	for i, p := range pkts {
		if p.SSRC != pkts[0].SSRC {
			t.Fatalf("packet %d: SSRC changed", i)
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		switch p.PayloadType {
		case PCMA.PayloadType:
			if len(p.Payload) != 160 {
				t.Fatalf("packet %d: payload %d bytes", i, len(p.Payload))
			}
			if i > 0 && p.Marker {
				t.Fatalf("packet %d: marker on continuing audio", i)
			}
			if lastAudioTS != 0 {
				// Audio timestamps follow the media clock: +160 per frame,
				// including the frames taken by a DTMF event.
				frames := uint32(0)
				for j := i - 1; j >= 0 && pkts[j].PayloadType != PCMA.PayloadType; j-- {
					frames++
				}
				if p.Timestamp != lastAudioTS+160*(frames+1) {
					t.Fatalf("packet %d: ts %d, want %d", i, p.Timestamp, lastAudioTS+160*(frames+1))
				}
			}
			lastAudioTS = p.Timestamp
		case DefaultDTMFPayloadType:
			var e TelephoneEvent
			e.Unmarshal(p.Payload)
			if events == 0 && !p.Marker {
				t.Fatal("DTMF event start without marker")
			}
			if e.Event != 3 {
				t.Fatalf("event %d, want 3", e.Event)
			}
			events++
		default:
			t.Fatalf("packet %d: payload type %d", i, p.PayloadType)
		}
	}
	if events != dtmfToneFrames+dtmfEndRepeats-1 {
		t.Errorf("DTMF event packets = %d, want %d", events, dtmfToneFrames+dtmfEndRepeats-1)
	}
	s.Close()
}

func TestSymmetricLatchAndMalformed(t *testing.T) {
	ca := listen(t)
	// a was told (by SDP) to send to a dead port; the peer's packets show where it really is.
	a := NewSession(SessionOptions{Conn: ca, Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codec: PCMU})
	a.Start()
	defer a.Close()
	peer, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer peer.Close()
	peer.WriteTo([]byte{1, 2, 3}, ca.LocalAddr()) // malformed: counted, dropped
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 1, SSRC: 9}, Payload: make([]byte, 160)}
	b, _ := p.Marshal()
	peer.WriteTo(b, ca.LocalAddr())
	peer.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1500)
	if _, err := peer.Read(buf); err != nil {
		t.Fatalf("no RTP came back to the latched source: %v", err)
	}
	st := a.Stats()
	if st.Remote != peer.LocalAddr().(*net.UDPAddr).AddrPort() || st.Malformed != 1 || st.Received != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPacingDoesNotDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s")
	}
	sink, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer sink.Close()
	s := NewSession(SessionOptions{Conn: listen(t), Remote: sink.LocalAddr().(*net.UDPAddr).AddrPort(), Probe: time.Minute})
	before := time.Now()
	s.Start()
	started := time.Now()
	// 3 s of stream: the sink has its 151st packet (frame 150 goes at 3 s).
	sink.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 1500)
	for i := range 151 {
		if _, err := sink.Read(buf); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	stopping := time.Now()
	s.Close()
	closed := time.Now()
	// Frame n goes at start + n·20 ms: never more packets than the
	// deadlines allow by the close (a burst or a short interval would be
	// more), however loaded the machine. A stalled machine may send fewer
	// by the close, so the floor only shows the stream kept going.
	most := int(closed.Sub(before)/FrameDuration) + 1
	least := int(stopping.Sub(started)/FrameDuration) - 50
	if n := int(s.Stats().Sent); n > most || n < least {
		t.Fatalf("sent %d packets in %s, want %d-%d", n, closed.Sub(before).Round(time.Millisecond), least, most)
	}
}

// rtpPacket is one well-formed PCMU packet, as a peer would send.
func rtpPacket(t *testing.T) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 1, SSRC: 9},
		Payload: make([]byte, 160)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countPackets reads from c until quiet passes without a datagram (or
// limit passes in all) and returns how many came.
func countPackets(c *net.UDPConn, quiet, limit time.Duration) int {
	n, buf, end := 0, make([]byte, 1500), time.Now().Add(limit)
	for {
		d := time.Now().Add(quiet)
		if d.After(end) {
			d = end
		}
		c.SetReadDeadline(d)
		if _, err := c.Read(buf); err != nil {
			return n
		}
		n++
	}
}

// An INVITE's SDP may name anyone: a session that has heard nothing sends
// nothing there, and starts sending to whoever really talks to it.
func TestNoRTPToTheSDPAddressBeforeLatch(t *testing.T) {
	t.Parallel()
	stranger, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer stranger.Close()
	ca := listen(t)
	s := NewSession(SessionOptions{Conn: ca, Remote: stranger.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: PCMU})
	s.Start()
	defer s.Close()
	go s.Play(context.Background(), false, &Prompt{Samples: Tone(440, 8000, 8000*20)})
	// The window: 2 s of a playing session, 100 frames it could have sent.
	if n := countPackets(stranger, 2*time.Second, 2*time.Second); n != 0 {
		t.Fatalf("the host named in the SDP got %d packets before the peer sent anything", n)
	}
	// Positive control: the same socket, once it sends, hears the stream at once.
	stranger.WriteTo(rtpPacket(t), ca.LocalAddr())
	if n := countPackets(stranger, 2*time.Second, 3*time.Second); n < 10 {
		t.Fatalf("after its first packet the peer got %d packets, want the stream", n)
	}
	if st := s.Stats(); st.Remote != stranger.LocalAddr().(*net.UDPAddr).AddrPort() || st.Received != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// An outbound session sends to the answer's address first (carriers that
// wait to hear us), but only for its probe when nothing ever comes back.
func TestProbeStopsWithoutAReply(t *testing.T) {
	t.Parallel()
	sink, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer sink.Close()
	const probe = 400 * time.Millisecond
	s := NewSession(SessionOptions{Conn: listen(t), Remote: sink.LocalAddr().(*net.UDPAddr).AddrPort(), Probe: probe})
	s.Start()
	defer s.Close()
	// Positive control: the probe reaches the sink. Then the stream stops
	// (it would go on at 50 packets a second otherwise).
	first := countPackets(sink, time.Second, 10*time.Second)
	if first == 0 || first > int(probe/FrameDuration)+10 {
		t.Fatalf("the probe sent %d packets, want about %d", first, probe/FrameDuration)
	}
	if n := countPackets(sink, 1500*time.Millisecond, 1500*time.Millisecond); n != 0 {
		t.Fatalf("%d packets after the probe ended", n)
	}
	// A new answer (SetRemote) probes again.
	s.SetRemote(sink.LocalAddr().(*net.UDPAddr).AddrPort())
	if n := countPackets(sink, time.Second, 10*time.Second); n == 0 {
		t.Fatal("no probe after SetRemote")
	}
}

func TestPortsAreReleased(t *testing.T) {
	r := PortRange{Min: 17000, Max: 17004} // below the ephemeral ports (32768-60999), which an outgoing connection may hold
	for range 10 {
		c, err := ListenRTP(loopback, r)
		if err != nil {
			t.Fatal(err)
		}
		s := NewSession(SessionOptions{Conn: c})
		s.Start()
		s.Close()
	}
	if err := (PortRange{Min: 10, Max: 5}).Validate(); err == nil {
		t.Fatal("bad range accepted")
	}
	if n := r.Even(); n != 3 {
		t.Fatalf("17000-17004 holds %d even ports, want 3", n)
	}
	// Both ends are in the range: all three ports of 17000-17004 are used.
	var held []*net.UDPConn
	for range 3 {
		c, err := ListenRTP(loopback, r)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	if c, err := ListenRTP(loopback, r); err == nil {
		c.Close()
		t.Fatal("a fourth port in a range of three")
	}
	for _, c := range held {
		c.Close()
	}
	if b := (PortRange{Min: 20000, Max: 29999}).Below(100); b.Max != 29798 || b.Even() != 4900 {
		t.Fatalf("below 100: %+v (%d even ports)", b, b.Even())
	}
}

// FuzzReceiveRTP feeds arbitrary datagrams to a session's receive path: no
// panic, audio only from well-formed G.711 packets of the latched source,
// digits only from telephone events.
func FuzzReceiveRTP(f *testing.F) {
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 7},
		Payload: make([]byte, 160)}).Marshal()
	ev := make([]byte, TelephoneEventLen)
	TelephoneEvent{Event: 5, End: true, Duration: 800}.MarshalTo(ev)
	digit, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, Timestamp: 320, SSRC: 7},
		Payload: ev}).Marshal()
	padded, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PayloadType: 8, Extension: true,
		ExtensionProfile: 0xBEDE, CSRC: []uint32{1, 2}}, Payload: []byte{1, 2, 3}, PaddingSize: 4}).Marshal()
	for _, seed := range [][]byte{audio, digit, padded, {0x80}, {}, []byte("INVITE sip:x SIP/2.0\r\n")} {
		f.Add(seed)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	var heard int
	s := NewSession(SessionOptions{Conn: c, Remote: src, Codec: PCMU, OnAudio: func(pcm []int16) { heard = len(pcm) }})
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkt rtp.Packet
		var dtmf DTMFReceiver
		heard = -1
		s.receive(src, b, &pkt, &dtmf, nil)
		if heard >= 0 && (pkt.PayloadType != 0 && pkt.PayloadType != 8 || heard != len(pkt.Payload)) {
			t.Fatalf("audio of %d samples from payload type %d with %d bytes", heard, pkt.PayloadType, len(pkt.Payload))
		}
		for len(s.Digits()) > 0 {
			<-s.Digits()
		}
	})
}

func TestPlaybackWalksPromptsAcrossFrames(t *testing.T) {
	a, b := make([]int16, 100), make([]int16, 250)
	for i := range a {
		a[i] = 1000
	}
	for i := range b {
		b[i] = -2000
	}
	pa, pb := &Prompt{Samples: a}, &Prompt{Samples: b}
	for _, c := range []Codec{PCMU, PCMA} {
		p := &playback{parts: []*Prompt{pa, pb}}
		scratch := make([]byte, FrameSamples)
		var got []byte
		for more := true; more; {
			var frame []byte
			frame, more = p.nextFrame(c, scratch)
			got = append(got, frame...)
		}
		one, two, zero := c.Encode(nil, []int16{1000})[0], c.Encode(nil, []int16{-2000})[0], c.Encode(nil, []int16{0})[0]
		if len(got) != 3*FrameSamples || got[99] != one || got[100] != two || got[349] != two || got[350] != zero || got[479] != zero {
			t.Fatalf("%s: %d bytes; boundaries %x %x %x %x", c.Name, len(got), got[99], got[100], got[349], got[350])
		}
	}
}

// A frame within one prompt is the prompt's shared encoding itself, not
// a copy; only a frame across its end is put together.
func TestPromptFramesAreShared(t *testing.T) {
	p := &Prompt{Samples: Tone(440, 8000, 2*FrameSamples+FrameSamples/2)}
	for _, c := range []Codec{PCMU, PCMA} {
		pb, scratch, enc := &playback{parts: []*Prompt{p}}, make([]byte, FrameSamples), p.Encoded(c)
		for i := range 2 {
			if f, more := pb.nextFrame(c, scratch); &f[0] != &enc[i*FrameSamples] || !more {
				t.Fatalf("%s: frame %d is a copy (more %v)", c.Name, i, more)
			}
		}
		if f, more := pb.nextFrame(c, scratch); &f[0] != &scratch[0] || more || f[FrameSamples-1] != silenceByte(c) {
			t.Fatalf("%s: the last frame is not the prompt's end and silence in scratch (more %v)", c.Name, more)
		}
	}
}

// TestPromptEncodedOnce: every call playing a prompt shares one encoding
// per codec, made on first use.
func TestPromptEncodedOnce(t *testing.T) {
	p := &Prompt{Samples: Tone(440, 8000, 800)}
	for _, c := range []Codec{PCMU, PCMA} {
		first := p.Encoded(c)
		if !bytes.Equal(first, c.Encode(nil, p.Samples)) {
			t.Fatalf("%s: encoding differs from Encode", c.Name)
		}
		if again := p.Encoded(c); &again[0] != &first[0] {
			t.Fatalf("%s: encoded twice", c.Name)
		}
		if allocs := testing.AllocsPerRun(100, func() { p.Encoded(c) }); allocs != 0 {
			t.Fatalf("%s: %v allocations per lookup", c.Name, allocs)
		}
	}
	if bytes.Equal(p.Encoded(PCMU), p.Encoded(PCMA)) {
		t.Fatal("PCMU and PCMA share an encoding")
	}
}
