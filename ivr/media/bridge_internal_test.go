package media

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// relayRig is a bridge whose legs are driven packet by packet through their
// receive path (no receive goroutines), with real sockets for the far ends.
type relayRig struct {
	debtor, agent           *Session
	debtorPhone, agentPhone *net.UDPConn
	br                      *Bridge
	pkt                     rtp.Packet
	dtmf                    DTMFReceiver
	buf                     []byte
}

func newRelayRig(t testing.TB, debtorCodec, agentCodec Codec, opt BridgeOptions) *relayRig {
	t.Helper()
	phone := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadBuffer(4 << 20)
		t.Cleanup(func() { c.Close() })
		return c
	}
	r := &relayRig{debtorPhone: phone(), agentPhone: phone(), buf: make([]byte, 1500)}
	leg := func() *net.UDPConn {
		c, err := ListenRTP(loopback, testPorts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	quiet := slog.New(slog.DiscardHandler)
	r.debtor = NewSession(SessionOptions{Conn: leg(), Codec: debtorCodec, Logger: quiet})
	r.agent = NewSession(SessionOptions{Conn: leg(), Codec: agentCodec, DTMFType: 96, Logger: quiet})
	t.Cleanup(func() { r.debtor.Close(); r.agent.Close() })
	// Each leg latches to its phone, as on a live call.
	r.in(r.agent, r.agentPhone, rtp.Header{PayloadType: agentCodec.PayloadType, SequenceNumber: 1, Timestamp: 1, SSRC: 0xA}, make([]byte, 160))
	r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: debtorCodec.PayloadType, SequenceNumber: 1, Timestamp: 1, SSRC: 0xD}, make([]byte, 160))
	if opt.replayWithin == 0 {
		opt.replayWithin = -1 // the latching packets are not relayed: each test's first packet is its own
	}
	br, err := NewBridge(r.debtor, r.agent, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Stop)
	r.br = br
	return r
}

func phoneAddr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// in delivers a packet from phone to leg as its receive loop would.
func (r *relayRig) in(leg *Session, phone *net.UDPConn, h rtp.Header, payload []byte) {
	h.Version = 2
	n, err := (&rtp.Packet{Header: h, Payload: payload}).MarshalTo(r.buf)
	if err != nil {
		panic(err)
	}
	leg.receive(phoneAddr(phone), r.buf[:n], &r.pkt, &r.dtmf, nil)
}

// out reads the next packet a phone got.
func out(t testing.TB, phone *net.UDPConn) rtp.Packet {
	t.Helper()
	b := make([]byte, 1500)
	phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := phone.Read(b)
	if err != nil {
		t.Fatalf("no packet: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(b[:n]); err != nil {
		t.Fatal(err)
	}
	return p
}

// The relay's per-packet work allocates nothing: audio as is, audio
// converted between laws, the connect tone mixed in, telephone events, the
// recorder fed, OnRelay called, and the debtor's audio decoded for
// OnDebtorAudio.
func TestRelayDoesNotAllocate(t *testing.T) {
	rec, err := NewCallRecorder(RecorderOptions{Path: filepath.Join(t.TempDir(), "r.wav")})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	tone := Tone(440, 4000, 8000*60) // long enough to cover every run below
	cases := []struct {
		name          string
		debtor, agent Codec
		opt           BridgeOptions
		event         bool
	}{
		{"same law", PCMU, PCMU, BridgeOptions{NoConnectTone: true}, false},
		{"PCMU to PCMA", PCMU, PCMA, BridgeOptions{NoConnectTone: true}, false},
		{"connect tone", PCMA, PCMU, BridgeOptions{ConnectTone: tone}, false},
		{"recorded", PCMU, PCMA, BridgeOptions{NoConnectTone: true, Recorder: rec}, false},
		{"telephone event", PCMU, PCMU, BridgeOptions{OnDigit: func(Side, rune) {}}, true},
		{"observed", PCMU, PCMU, BridgeOptions{NoConnectTone: true, OnRelay: func(Side, time.Time) {}}, false},
		{"debtor heard", PCMA, PCMU, BridgeOptions{NoConnectTone: true, OnDebtorAudio: func([]int16) {}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRelayRig(t, c.debtor, c.agent, c.opt)
			payload := c.debtor.Encode(nil, Tone(1000, 8000, 160))
			ev := make([]byte, TelephoneEventLen)
			seq, ts := uint16(100), uint32(1000)
			allocs := testing.AllocsPerRun(2000, func() {
				seq++
				if c.event {
					// A new digit every 4 packets, so events start, go on and end.
					if seq%4 == 0 {
						ts += 640
					}
					TelephoneEvent{Event: uint8(seq/4) % 10, End: seq%4 == 3, Duration: uint16(seq%4+1) * 160}.MarshalTo(ev)
					r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: DefaultDTMFPayloadType, SequenceNumber: seq, Timestamp: ts, SSRC: 0xD}, ev)
					return
				}
				ts += 160
				r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: c.debtor.PayloadType, SequenceNumber: seq, Timestamp: ts, SSRC: 0xD}, payload)
			})
			if allocs != 0 {
				t.Fatalf("%.1f allocations per relayed packet", allocs)
			}
			st := r.br.Stats().DebtorToAgent
			if st.Packets < 2000 || st.Dropped != 0 {
				t.Fatalf("stats %+v", st)
			}
			if c.event && st.Digits < 400 {
				t.Fatalf("%d digits seen in 2000 event packets", st.Digits)
			}
		})
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

// The relayed packet is the source's rewritten in place: the agent's SSRC,
// a plain 12-byte header (no CSRC, extension or padding from the other leg),
// the payload untouched when the laws match, the agent's payload types.
func TestRelayRewritesInPlace(t *testing.T) {
	r := newRelayRig(t, PCMU, PCMU, BridgeOptions{NoConnectTone: true})
	payload := PCMU.Encode(nil, Tone(700, 6000, 160))
	h := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 500, Timestamp: 9000, SSRC: 0xD, CSRC: []uint32{1, 2},
		Extension: true, ExtensionProfile: 0xBEDE, Padding: true}
	h.SetExtension(1, []byte{0xAA})
	p := rtp.Packet{Header: h, Payload: payload, PaddingSize: 3}
	n, err := p.MarshalTo(r.buf)
	if err != nil {
		t.Fatal(err)
	}
	r.debtor.receive(phoneAddr(r.debtorPhone), r.buf[:n], &r.pkt, &r.dtmf, nil)
	got := out(t, r.agentPhone)
	if got.SSRC != r.agent.ssrc || got.Padding || got.Extension || len(got.CSRC) != 0 || got.PayloadType != 0 {
		t.Fatalf("header %+v", got.Header)
	}
	if !got.Marker {
		t.Error("the bridge's first packet starts no talkspurt")
	}
	if !bytes.Equal(got.Payload, payload) {
		t.Fatal("payload changed between legs of the same law")
	}
	// An event goes out with the agent leg's telephone-event type.
	ev := make([]byte, 4)
	TelephoneEvent{Event: 11, Duration: 160}.MarshalTo(ev)
	r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: 101, Marker: true, SequenceNumber: 501, Timestamp: 9160, SSRC: 0xD}, ev)
	got = out(t, r.agentPhone)
	if got.PayloadType != 96 || !got.Marker || !bytes.Equal(got.Payload, ev) {
		t.Fatalf("event relayed as %+v %x", got.Header, got.Payload)
	}
	// Comfort noise (never negotiated with the agent) is not relayed.
	r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: 13, SequenceNumber: 502, Timestamp: 9320, SSRC: 0xD}, []byte{40})
	if st := r.br.Stats().DebtorToAgent; st.Dropped != 1 || st.Packets != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Sequence numbers and timestamps move by one offset, so loss and
// reordering reach the phone as they happened; a new source SSRC or a jump
// (RFC 3550 A.1) re-anchors right after what was sent; the agent's stream
// never goes back.
func TestRelayMapsNumbersByOffset(t *testing.T) {
	r := newRelayRig(t, PCMU, PCMU, BridgeOptions{NoConnectTone: true})
	pay := make([]byte, 160)
	send := func(ssrc uint32, seq uint16, ts uint32) rtp.Packet {
		t.Helper()
		r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, pay)
		return out(t, r.agentPhone)
	}
	ts0 := uint32(4294967000) // both about to wrap
	a := send(0xD, 65534, ts0)
	b := send(0xD, 1, ts0+3*160)
	if b.SequenceNumber-a.SequenceNumber != 3 || b.Timestamp-a.Timestamp != 480 || b.Marker {
		t.Fatalf("loss of two packets: seq +%d ts +%d marker %v", b.SequenceNumber-a.SequenceNumber, b.Timestamp-a.Timestamp, b.Marker)
	}
	c := send(0xD, 0, ts0+2*160) // late, reordered
	if c.SequenceNumber != b.SequenceNumber-1 || c.Timestamp != b.Timestamp-160 {
		t.Fatalf("reordered packet mapped to seq %d ts %d (after %d %d)", c.SequenceNumber, c.Timestamp, b.SequenceNumber, b.Timestamp)
	}
	d := send(0x77, 40000, 123) // the source changed
	if d.SequenceNumber != b.SequenceNumber+1 || int32(d.Timestamp-b.Timestamp) < 160 || !d.Marker || d.SSRC != b.SSRC {
		t.Fatalf("new source: seq %d ts %d marker %v after %d %d", d.SequenceNumber, d.Timestamp, d.Marker, b.SequenceNumber, b.Timestamp)
	}
	e := send(0x77, 50000, 123+160) // a jump of 10,000: a restart
	if e.SequenceNumber != d.SequenceNumber+1 || !e.Marker {
		t.Fatalf("jump: seq %d marker %v after %d", e.SequenceNumber, e.Marker, d.SequenceNumber)
	}
}

// When the bridge stops, the leg's own sender goes on right after the
// relay's last packet, even when the relayed source's clock ran ahead of
// ours: next sequence number, a later timestamp, the marker bit. The
// timestamp is the relay's end when its clock ran ahead (the usual case
// here), or later when our sender's first frame came after the relay's
// last packet and our clock has moved on since (20 ms a frame): never
// before the relay's end.
func TestSenderResumesAfterTheRelay(t *testing.T) {
	r := newRelayRig(t, PCMU, PCMU, BridgeOptions{NoConnectTone: true})
	r.agent.Start()
	pay := make([]byte, 160)
	var last rtp.Packet
	for i := range 10 {
		// Each packet a second ahead of the one before: far ahead of our clock.
		r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i) * 8000, SSRC: 0xD}, pay)
		last = out(t, r.agentPhone)
	}
	r.br.Stop()
	next := out(t, r.agentPhone)
	if next.SequenceNumber != last.SequenceNumber+1 || int32(next.Timestamp-last.Timestamp) < 160 || !next.Marker || next.SSRC != last.SSRC {
		t.Fatalf("after the relay's seq %d ts %d: seq %d ts %d marker %v", last.SequenceNumber, last.Timestamp,
			next.SequenceNumber, next.Timestamp, next.Marker)
	}
	if then := out(t, r.agentPhone); then.SequenceNumber != next.SequenceNumber+1 || then.Timestamp != next.Timestamp+160 || then.Marker {
		t.Fatalf("then seq %d ts %d marker %v", then.SequenceNumber, then.Timestamp, then.Marker)
	}
}

// FuzzRelay feeds arbitrary datagrams from the debtor's phone to a bridged
// leg: no panic, and what the relay sends (rewritten in place, just before
// the payload in the datagram's own buffer) is a plain RTP packet of the
// agent's stream (its SSRC, its payload types, no CSRC, extension or
// padding) carrying the sender's payload (A-law converted to the leg's
// μ-law). The packets also go out to the agent phone's socket, unread: what
// the wire carries is checked by the tests above, and reading it here would
// make coverage depend on timing.
func FuzzRelay(f *testing.F) {
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 7},
		Payload: make([]byte, 160)}).Marshal()
	ev := make([]byte, TelephoneEventLen)
	TelephoneEvent{Event: 5, End: true, Duration: 800}.MarshalTo(ev)
	digit, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true, Timestamp: 320, SSRC: 7},
		Payload: ev}).Marshal()
	padded, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PayloadType: 0, Extension: true,
		ExtensionProfile: 0xBEDE, CSRC: []uint32{1, 2}}, Payload: []byte{1, 2, 3}, PaddingSize: 4}).Marshal()
	for _, seed := range [][]byte{audio, digit, padded, {0x80, 0, 0, 1}, {}, []byte("INVITE sip:x SIP/2.0\r\n")} {
		f.Add(seed)
	}
	r := newRelayRig(f, PCMU, PCMU, BridgeOptions{NoConnectTone: true})
	src := phoneAddr(r.debtorPhone)
	f.Fuzz(func(t *testing.T, b []byte) {
		var in rtp.Packet
		parsed := in.Unmarshal(append([]byte(nil), b...)) == nil
		before := r.br.Stats().DebtorToAgent.Packets
		buf := append([]byte(nil), b...)
		r.debtor.receive(src, buf, &r.pkt, &r.dtmf, nil)
		if r.br.Stats().DebtorToAgent.Packets == before {
			return
		}
		if !parsed {
			t.Fatal("relayed a datagram that is not RTP")
		}
		hdr := len(b) - int(in.PaddingSize) - len(in.Payload)
		var got rtp.Packet
		if err := got.Unmarshal(buf[hdr-12 : hdr+len(in.Payload)]); err != nil {
			t.Fatalf("relayed %x: %v", buf[hdr-12:hdr+len(in.Payload)], err)
		}
		want := in.Payload
		if in.PayloadType == PCMA.PayloadType { // the agent leg is PCMU
			want = append([]byte(nil), want...)
			Transcode(want, PCMA, PCMU)
		}
		if got.Version != 2 || got.SSRC != r.agent.ssrc || got.Padding || got.Extension || len(got.CSRC) != 0 ||
			(got.PayloadType != 0 && got.PayloadType != 96) || !bytes.Equal(got.Payload, want) {
			t.Fatalf("relayed %+v payload %x from %+v payload %x", got.Header, got.Payload, in.Header, in.Payload)
		}
	})
}

// BenchmarkRelayPacket isolates what the relay adds to forwarding one
// packet: "sendto" is the bare forwarder's work after its read (one write
// of the datagram), "relay" the bridge's (parse, latch check, rewrite,
// the same write), "relay+transcode" with PCMU→PCMA, "relay+record" with
// the recorder fed. The read before both is the same syscall.
func BenchmarkRelayPacket(b *testing.B) {
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0xD}, Payload: make([]byte, 160)}).Marshal()
	b.Run("sendto", func(b *testing.B) {
		r := newRelayRig(b, PCMU, PCMU, BridgeOptions{NoConnectTone: true})
		to := phoneAddr(r.agentPhone)
		buf := make([]byte, 1500)
		go drainPhone(r.agentPhone)
		b.ReportAllocs()
		for b.Loop() {
			n := copy(buf, pkt)
			r.agent.conn.WriteToUDPAddrPort(buf[:n], to)
		}
	})
	for _, c := range []struct {
		name  string
		agent Codec
		rec   bool
	}{{"relay", PCMU, false}, {"relay+transcode", PCMA, false}, {"relay+record", PCMU, true}} {
		b.Run(c.name, func(b *testing.B) {
			opt := BridgeOptions{NoConnectTone: true}
			if c.rec {
				rec, err := NewCallRecorder(RecorderOptions{Path: b.TempDir() + "/r.wav"})
				if err != nil {
					b.Fatal(err)
				}
				defer rec.Close()
				opt.Recorder = rec
			}
			r := newRelayRig(b, PCMU, c.agent, opt)
			go drainPhone(r.agentPhone)
			src := phoneAddr(r.debtorPhone)
			buf := make([]byte, 1500)
			seq, ts := uint16(0), uint32(0)
			b.ReportAllocs()
			for b.Loop() {
				n := copy(buf, pkt)
				seq++
				ts += 160
				binary.BigEndian.PutUint16(buf[2:], seq)
				binary.BigEndian.PutUint32(buf[4:], ts)
				r.debtor.receive(src, buf[:n], &r.pkt, &r.dtmf, nil)
			}
			if st := r.br.Stats().DebtorToAgent; st.Dropped != 0 {
				b.Fatalf("dropped %d", st.Dropped)
			}
		})
	}
}

func drainPhone(c *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// OnDebtorAudio hears what the debtor sends, decoded as the leg's OnAudio
// would (before any conversion for the agent), and nothing the agent sends
// or any telephone event.
func TestBridgeOnDebtorAudio(t *testing.T) {
	var heard []int16
	r := newRelayRig(t, PCMA, PCMU, BridgeOptions{NoConnectTone: true, OnDebtorAudio: func(pcm []int16) { heard = append(heard, pcm...) }})
	sent := PCMA.Encode(nil, Tone(1000, 8000, 160))
	r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: PCMA.PayloadType, SequenceNumber: 2, Timestamp: 161, SSRC: 0xD}, sent)
	r.in(r.agent, r.agentPhone, rtp.Header{PayloadType: PCMU.PayloadType, SequenceNumber: 2, Timestamp: 161, SSRC: 0xA}, PCMU.Encode(nil, Tone(500, 8000, 160)))
	ev := make([]byte, TelephoneEventLen)
	TelephoneEvent{Event: 5, Duration: 160}.MarshalTo(ev)
	r.in(r.debtor, r.debtorPhone, rtp.Header{PayloadType: DefaultDTMFPayloadType, SequenceNumber: 3, Timestamp: 321, SSRC: 0xD}, ev)
	if want := PCMA.Decode(nil, sent); !slices.Equal(heard, want) {
		t.Fatalf("heard %d samples, want the debtor's %d", len(heard), len(want))
	}
	if p := out(t, r.agentPhone); p.PayloadType != PCMU.PayloadType || len(p.Payload) != 160 {
		t.Fatalf("the agent got %+v", p.Header)
	}
}
