package media_test

// The bridge between two real calls on loopback: each call is our leg (a
// media.Session as the dialer holds it) and the phone at its far end (a
// media.Session, or a raw RTP endpoint where a test must see the wire).
// Audio is proven by detecting tones on the far side.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-audio/wav"
	"github.com/pion/rtp"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

var (
	lo    = netip.MustParseAddr("127.0.0.1")
	ports = media.PortRange{Min: 30000, Max: 39999}
	// Every tone a test plays, so a detection is the loudest of them.
	tones = []float64{440, 600, 1000, 1400, 2000}
)

func rtpConn(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := media.ListenRTP(lo, ports)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// call is one leg of ours and the phone at its far end.
type call struct {
	leg, phone *media.Session
	heard      *mediatest.Recorder // what the phone hears
}

// newCall connects our leg to a phone. The leg latches first, then sends
// (as an answered call does); newCall returns once the phone hears it.
func newCall(t *testing.T, codec media.Codec, dtmfType uint8) call {
	t.Helper()
	return newCallOn(t, codec, dtmfType, nil)
}

// newCallOn is newCall with our leg on mux's shared sockets (nil: a
// socket of its own).
func newCallOn(t *testing.T, codec media.Codec, dtmfType uint8, mux *media.Mux) call {
	t.Helper()
	pc := rtpConn(t)
	c := call{heard: &mediatest.Recorder{}}
	lo := media.SessionOptions{Mux: mux, Remote: addrOf(pc), Codec: codec, DTMFType: dtmfType}
	if mux == nil {
		lo.Conn = rtpConn(t)
	}
	c.leg = media.NewSession(lo)
	c.phone = media.NewSession(media.SessionOptions{Conn: pc, Remote: c.leg.LocalAddr(), Probe: time.Minute, Codec: codec,
		DTMFType: dtmfType, OnAudio: c.heard.OnAudio})
	c.leg.Start()
	c.phone.Start()
	t.Cleanup(func() { c.leg.Close(); c.phone.Close() })
	poll(t, "the phone hears our leg", func() bool { return len(c.heard.Samples()) > 0 })
	return c
}

// poll waits for cond with a generous deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Eventually(t, 15*time.Second, cond, what)
}

// toneWindows counts the 100 ms windows of pcm where f is loud and the
// loudest of the test tones.
func toneWindows(pcm []int16, f float64) int {
	n := 0
	for i := 0; i+800 <= len(pcm); i += 800 {
		w := pcm[i : i+800]
		if media.GoertzelPower(w, f) > 1e8 && media.DominantFrequency(w, tones) == f {
			n++
		}
	}
	return n
}

// faithful counts the 100 ms windows of pcm that hold tone f as sent: at
// least 90% of their energy in it (media.PureTone), at amplitude amp ±3 dB.
func faithful(pcm []int16, f float64, amp float64) int {
	n := 0
	for i := 0; i+800 <= len(pcm); i += 800 {
		w := pcm[i : i+800]
		got, share := media.PureTone(w)
		var e float64
		for _, x := range w {
			e += float64(x) * float64(x)
		}
		rms := math.Sqrt(e / 800)
		if math.Abs(got-f) < 20 && share >= 0.9 && rms > amp/math.Sqrt2/1.41 && rms < amp/math.Sqrt2*1.41 {
			n++
		}
	}
	return n
}

// hears waits until pcm (after sample from) holds windows of tone f.
func hears(t *testing.T, who string, pcm func() []int16, from int, f float64, windows int) {
	t.Helper()
	poll(t, who+" hears "+toneName(f), func() bool { return toneWindows(pcm()[from:], f) >= windows })
}

func toneName(f float64) string { return fmt.Sprintf("%.0f Hz", f) }

func tone(name string, f float64, d time.Duration) *media.Prompt {
	return &media.Prompt{Name: name, Samples: media.Tone(f, 8000, int(d/time.Millisecond)*8)}
}

func play(t *testing.T, s *media.Session, p *media.Prompt) {
	t.Helper()
	if _, err := s.Play(context.Background(), false, p); err != nil {
		t.Fatalf("play %s: %v", p.Name, err)
	}
}

func bridge(t *testing.T, debtor, agent *media.Session, opt media.BridgeOptions) *media.Bridge {
	t.Helper()
	br, err := media.NewBridge(debtor, agent, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(br.Stop)
	select {
	case <-br.Connected():
	case <-time.After(15 * time.Second):
		t.Fatal("no debtor packet reached the agent")
	}
	return br
}

// A tone from the debtor's phone is heard on the agent's, and the reverse;
// the agent hears the connect tone first; with the same law on both legs
// the audio arrives sample for sample (no decode on the way).
func TestBridgeCarriesAudioBothWays(t *testing.T) {
	t.Run("own sockets", func(t *testing.T) { checkBridgeBothWays(t, nil) })
	t.Run("shared socket, batched relay", func(t *testing.T) {
		m, err := media.NewMux(media.MuxOptions{Addr: lo, Ports: ports, Sockets: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() }) // after the sessions' cleanups
		checkBridgeBothWays(t, m)
	})
}

func checkBridgeBothWays(t *testing.T, mux *media.Mux) {
	debtor, agent := newCallOn(t, media.PCMU, 0, mux), newCallOn(t, media.PCMU, 0, mux)
	fromD, fromA := len(debtor.heard.Samples()), len(agent.heard.Samples())
	br := bridge(t, debtor.leg, agent.leg, media.BridgeOptions{})
	st := br.Stats()
	if first := st.DebtorToAgent.First; first.IsZero() || first.Before(st.Started) {
		t.Fatalf("first forwarded at %v, bridge started %v", first, st.Started)
	}
	hears(t, "the agent", agent.heard.Samples, fromA, 440, 1)
	// The connect tone lasts 300 ms of debtor packets; then the debtor speaks.
	poll(t, "the connect tone is over", func() bool { return br.Stats().DebtorToAgent.Packets > 20 })
	if n := toneWindows(agent.heard.Samples()[fromA:], 1000); n != 0 {
		t.Fatalf("the agent hears 1000 Hz before the debtor plays it (%d windows)", n)
	}
	debtorSays, agentSays := tone("debtor-1k", 1000, time.Second), tone("agent-600", 600, time.Second)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); play(t, agent.phone, agentSays) }()
	play(t, debtor.phone, debtorSays)
	wg.Wait()
	hears(t, "the agent", agent.heard.Samples, fromA, 1000, 5)
	hears(t, "the debtor", debtor.heard.Samples, fromD, 600, 5)
	if n := toneWindows(debtor.heard.Samples()[fromD:], 1000); n != 0 {
		t.Fatalf("the debtor hears their own tone back (%d windows)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	det := mediatest.NewDetector(media.PCMU, debtorSays, agentSays)
	if _, err := det.Wait(ctx, agent.heard, "debtor-1k", fromA, br.Done()); err != nil {
		t.Fatalf("not bit-exact at the agent: %v", err)
	}
	if _, err := det.Wait(ctx, debtor.heard, "agent-600", fromD, br.Done()); err != nil {
		t.Fatalf("not bit-exact at the debtor: %v", err)
	}
	st = br.Stats()
	if st.DebtorToAgent.Transcoded != 0 || st.AgentToDebtor.Packets < 50 || st.DebtorToAgent.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A digit pressed on the debtor's phone arrives at the agent's as an RFC
// 4733 event with the agent leg's payload type (96 here, 101 on the
// debtor's side: the agent's phone knows only 96), and the hook sees it;
// the agent's digits reach the debtor the same way. The legs' own digit
// queues stay empty (an IVR after the bridge does not get them).
func TestBridgeRelaysDigits(t *testing.T) {
	debtor, agent := newCall(t, media.PCMU, 101), newCall(t, media.PCMA, 96)
	type press struct {
		from  media.Side
		digit rune
	}
	seen := make(chan press, 16)
	bridge(t, debtor.leg, agent.leg, media.BridgeOptions{OnDigit: func(from media.Side, d rune) { seen <- press{from, d} }})
	if err := debtor.phone.SendDigits("5#"); err != nil {
		t.Fatal(err)
	}
	got, err := agent.phone.CollectDigits(context.Background(), 2, 0, 10*time.Second, 10*time.Second)
	if err != nil || got != "5#" {
		t.Fatalf("the agent's phone got %q (%v)", got, err)
	}
	agent.phone.SendDigits("1")
	if got, _ := debtor.phone.CollectDigits(context.Background(), 1, 0, 10*time.Second, 10*time.Second); got != "1" {
		t.Fatalf("the debtor's phone got %q", got)
	}
	var hooked []press
	for len(hooked) < 3 {
		select {
		case p := <-seen:
			hooked = append(hooked, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("hook saw %v", hooked)
		}
	}
	if want := []press{{media.Debtor, '5'}, {media.Debtor, '#'}, {media.Agent, '1'}}; !slices.Equal(hooked, want) {
		t.Fatalf("hook saw %v, want %v", hooked, want)
	}
	if len(debtor.leg.Digits()) != 0 || len(agent.leg.Digits()) != 0 {
		t.Fatal("relayed digits also went to the legs' own queues")
	}
}

// rawPhone is an RTP endpoint that shows the wire: it sends a 20 ms stream
// of one codec (silence, or what it is told to play) and keeps every packet
// it receives, decoding audio only when it carries its own payload type.
type rawPhone struct {
	c     *net.UDPConn
	codec media.Codec
	mu    sync.Mutex
	pkts  []rxPacket
	pcm   []int16
	wrong int // audio packets of another payload type
	queue chan []int16
}

type rxPacket struct {
	seq    uint16
	ts     uint32
	ssrc   uint32
	marker bool
	pt     uint8
	at     time.Time
}

func newRawPhone(t *testing.T, codec media.Codec, to netip.AddrPort, send bool) *rawPhone {
	p := &rawPhone{c: rtpConn(t), codec: codec, queue: make(chan []int16, 1)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); p.c.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, err := p.c.Read(buf)
			if err != nil {
				return
			}
			at := time.Now()
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			p.mu.Lock()
			p.pkts = append(p.pkts, rxPacket{pkt.SequenceNumber, pkt.Timestamp, pkt.SSRC, pkt.Marker, pkt.PayloadType, at})
			switch pkt.PayloadType {
			case codec.PayloadType:
				p.pcm = codec.Decode(p.pcm, pkt.Payload)
			case media.PCMU.PayloadType, media.PCMA.PayloadType:
				p.wrong++
			}
			p.mu.Unlock()
		}
	}()
	if send {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(media.FrameDuration)
			defer tick.Stop()
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: codec.PayloadType, SSRC: 0x5eed, SequenceNumber: 7, Timestamp: 99}}
			var playing []int16
			frame := make([]int16, media.FrameSamples)
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				if len(playing) == 0 {
					select {
					case playing = <-p.queue:
					default:
					}
				}
				k := copy(frame, playing)
				clear(frame[k:])
				playing = playing[k:]
				pkt.Payload = codec.Encode(pkt.Payload[:0], frame)
				b, _ := pkt.Marshal()
				p.c.WriteToUDPAddrPort(b, to)
				pkt.SequenceNumber++
				pkt.Timestamp += media.FrameSamples
			}
		}()
	}
	return p
}

func (p *rawPhone) heard() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pcm)
}

func (p *rawPhone) packets() []rxPacket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pkts)
}

// A PCMU debtor and a PCMA agent: the agent's phone gets A-law packets
// (payload type 8, never 0) that carry the debtor's tone, and the debtor
// hears the agent's A-law tone as μ-law.
func TestBridgeConvertsBetweenLaws(t *testing.T) {
	debtor := newCall(t, media.PCMU, 0)
	lc := rtpConn(t)
	agentLeg := media.NewSession(media.SessionOptions{Conn: lc, Codec: media.PCMA})
	phone := newRawPhone(t, media.PCMA, addrOf(lc), true)
	agentLeg.SetRemote(addrOf(phone.c))
	agentLeg.Start()
	t.Cleanup(func() { agentLeg.Close() })
	poll(t, "the agent leg latches and sends", func() bool { return len(phone.packets()) > 0 })
	fromD, fromA := len(debtor.heard.Samples()), len(phone.heard())
	br := bridge(t, debtor.leg, agentLeg, media.BridgeOptions{NoConnectTone: true})
	phone.queue <- media.Tone(600, 8000, 8000)
	play(t, debtor.phone, tone("debtor-1k", 1000, time.Second))
	hears(t, "the agent", phone.heard, fromA, 1000, 5)
	hears(t, "the debtor", debtor.heard.Samples, fromD, 600, 5)
	// Converted, not relabelled: μ-law bytes read as A-law still carry a
	// 1000 Hz wave, but 12 dB too loud and distorted.
	if n := faithful(phone.heard()[fromA:], 1000, 8000); n < 5 {
		t.Fatalf("the agent hears %d windows of a clean 1000 Hz at the level sent", n)
	}
	if n := faithful(debtor.heard.Samples()[fromD:], 600, 8000); n < 5 {
		t.Fatalf("the debtor hears %d windows of a clean 600 Hz at the level sent", n)
	}
	phone.mu.Lock()
	wrong := phone.wrong
	phone.mu.Unlock()
	st := br.Stats()
	if wrong != 0 || st.DebtorToAgent.Transcoded < 25 || st.AgentToDebtor.Transcoded < 25 {
		t.Fatalf("%d μ-law packets reached the A-law phone; stats %+v", wrong, st)
	}
}

// The agent's phone sees one stream across the bridge's start and stop:
// one SSRC, sequence numbers without a gap, timestamps that move as time
// does (never back), and the marker bit where each new source starts.
func TestBridgeKeepsTheAgentStreamContinuous(t *testing.T) {
	debtor := newCall(t, media.PCMU, 0)
	lc := rtpConn(t)
	agentLeg := media.NewSession(media.SessionOptions{Conn: lc, Codec: media.PCMU})
	phone := newRawPhone(t, media.PCMU, addrOf(lc), true)
	agentLeg.SetRemote(addrOf(phone.c))
	agentLeg.Start()
	t.Cleanup(func() { agentLeg.Close() })
	count := func() int { return len(phone.packets()) }
	poll(t, "the agent's phone has 25 packets of our silence", func() bool { return count() >= 25 })
	br := bridge(t, debtor.leg, agentLeg, media.BridgeOptions{NoConnectTone: true})
	relayed := func() uint64 { return br.Stats().DebtorToAgent.Packets }
	poll(t, "25 packets relayed", func() bool { return relayed() >= 25 })
	br.Stop()
	n := count()
	poll(t, "25 more packets of our silence", func() bool { return count() >= n+25 })

	pkts := phone.packets()
	slices.SortStableFunc(pkts, func(a, b rxPacket) int { return int(int16(a.seq - b.seq)) })
	var markers []int
	for i, p := range pkts {
		if p.ssrc != pkts[0].ssrc {
			t.Fatalf("packet %d: SSRC %x, the stream's is %x", i, p.ssrc, pkts[0].ssrc)
		}
		if i == 0 {
			continue
		}
		q := pkts[i-1]
		if p.seq != q.seq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.seq, q.seq)
		}
		if d := int32(p.ts - q.ts); d <= 0 {
			t.Fatalf("packet %d: timestamp goes back or stands still (%d)", i, d)
		}
		if p.marker {
			markers = append(markers, i)
		}
		// Timestamps against arrival, from the first packet: what elapsed
		// explains them (with room for a loaded machine's scheduling).
		clock := time.Duration(p.ts-pkts[0].ts) * time.Second / 8000
		wall := p.at.Sub(pkts[0].at)
		if d := clock - wall; d > 400*time.Millisecond || d < -400*time.Millisecond {
			t.Fatalf("packet %d: timestamp says %s since the first, arrival %s", i, clock, wall)
		}
	}
	// One marker where the relay takes over, one where our sender resumes.
	if len(markers) != 2 || markers[1]-markers[0] < 25 {
		t.Fatalf("markers at %v of %d packets", markers, len(pkts))
	}
}

// readWAV reads a stereo recording through go-audio (an independent reader
// of the header we patch).
func readWAV(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := wav.NewDecoder(f)
	buf, err := d.FullPCMBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if d.NumChans != 2 || d.SampleRate != 8000 || d.BitDepth != 16 {
		t.Fatalf("%d channels, %d Hz, %d bits", d.NumChans, d.SampleRate, d.BitDepth)
	}
	for i := 0; i+1 < len(buf.Data); i += 2 {
		left, right = append(left, int16(buf.Data[i])), append(right, int16(buf.Data[i+1]))
	}
	return left, right
}

// onset is the sample where tone f starts in pcm (to 20 ms), -1 if never.
func onset(pcm []int16, f float64) int {
	for i := 0; i+media.FrameSamples <= len(pcm); i += media.FrameSamples {
		if media.GoertzelPower(pcm[i:i+media.FrameSamples], f) > 1e8 {
			return i
		}
	}
	return -1
}

// The recording holds the debtor on the left and the agent on the right,
// each channel its own side's tone only, both in step.
func TestBridgeRecordsBothSides(t *testing.T) {
	debtor, agent := newCall(t, media.PCMU, 0), newCall(t, media.PCMA, 0)
	path := filepath.Join(t.TempDir(), "attempt-1.wav")
	rec, err := media.NewCallRecorder(media.RecorderOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	br := bridge(t, debtor.leg, agent.leg, media.BridgeOptions{Recorder: rec})
	// Half a second of quiet first, so the start is in the recording.
	poll(t, "half a second relayed", func() bool { return br.Stats().DebtorToAgent.Packets > 25 })
	// Each tone starts on its phone's next 20 ms tick after Play; when
	// Play was called on each is the truth the channels must keep.
	var wg sync.WaitGroup
	var agentAt time.Time
	wg.Add(1)
	go func() { defer wg.Done(); agentAt = time.Now(); play(t, agent.phone, tone("agent", 600, time.Second)) }()
	debtorAt := time.Now()
	play(t, debtor.phone, tone("debtor", 1000, time.Second))
	wg.Wait()
	hears(t, "the agent", agent.heard.Samples, 0, 1000, 5) // everything played has crossed
	hears(t, "the debtor", debtor.heard.Samples, 0, 600, 5)
	br.Stop()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	left, right := readWAV(t, path)
	if len(left) < 8000*3/2 {
		t.Fatalf("%d samples recorded", len(left))
	}
	if l1, l6, r1, r6 := toneWindows(left, 1000), toneWindows(left, 600), toneWindows(right, 1000), toneWindows(right, 600); l1 < 8 || r6 < 8 || l6 != 0 || r1 != 0 {
		t.Fatalf("left: %d windows of 1000 Hz, %d of 600; right: %d of 1000, %d of 600", l1, l6, r1, r6)
	}
	// The channels are in step: the tones start as far apart in the file
	// as they were started (give or take a tick and a loaded scheduler).
	a, b := onset(left, 1000), onset(right, 600)
	if a < 0 || b < 0 {
		t.Fatalf("tone onsets %d and %d", a, b)
	}
	inFile := time.Duration(b-a) * time.Second / 8000
	if d := inFile - agentAt.Sub(debtorAt); d > 120*time.Millisecond || d < -120*time.Millisecond {
		t.Fatalf("the agent's tone starts %s after the debtor's in the file, %s in the call", inFile, agentAt.Sub(debtorAt))
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Fatalf("temp file still there: %v", err)
	}
}

// The disk fills up during a bridged call: the recorder stops and reports
// it once, the call goes on (audio still crosses), what was written stays.
func TestBridgeGoesOnWhenTheDiskIsFull(t *testing.T) {
	debtor, agent := newCall(t, media.PCMU, 0), newCall(t, media.PCMU, 0)
	path := filepath.Join(t.TempDir(), "attempt-2.wav")
	failed := make(chan error, 2)
	opt := media.RecorderOptions{Path: path, OnError: func(err error) { failed <- err }}
	media.WithFullDisk(&opt, 44+64<<10+100) // about 2 s of stereo fits
	rec, err := media.NewCallRecorder(opt)
	if err != nil {
		t.Fatal(err)
	}
	br := bridge(t, debtor.leg, agent.leg, media.BridgeOptions{Recorder: rec})
	select {
	case err := <-failed:
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("reported %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the full disk was never reported")
	}
	from := len(agent.heard.Samples())
	play(t, debtor.phone, tone("after", 1000, time.Second))
	hears(t, "the agent, after the disk filled,", agent.heard.Samples, from, 1000, 5)
	br.Stop()
	if err := rec.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("close: %v", err)
	}
	if len(failed) != 0 {
		t.Fatal("the error was reported twice")
	}
	left, _ := readWAV(t, path)
	if d := time.Duration(len(left)) * time.Second / 8000; d < 2*time.Second || d > 2200*time.Millisecond {
		t.Fatalf("kept %s of the call", d)
	}
}

// A leg that closes (the agent's phone hung up) ends the bridge with a
// reason; the other leg gets its own stream back at once, so the debtor can
// be played a message instead of dead air.
func TestBridgeEndsWhenALegCloses(t *testing.T) {
	debtor, agent := newCall(t, media.PCMU, 0), newCall(t, media.PCMU, 0)
	br := bridge(t, debtor.leg, agent.leg, media.BridgeOptions{})
	agent.leg.Close()
	select {
	case <-br.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("bridge still up after the agent leg closed")
	}
	if err := br.Err(); !errors.Is(err, media.ErrClosed) {
		t.Fatalf("bridge ended with %v", err)
	}
	from := len(debtor.heard.Samples())
	play(t, debtor.leg, tone("abandon", 1400, time.Second))
	hears(t, "the debtor", debtor.heard.Samples, from, 1400, 5)
	if _, err := media.NewBridge(debtor.leg, agent.leg, media.BridgeOptions{}); !errors.Is(err, media.ErrClosed) {
		t.Fatalf("bridging a closed leg: %v", err)
	}
}

// The legs' rules hold through a bridge: nothing is relayed to an agent
// leg's signalled address before that phone has sent anything, and a
// stranger's packets to the debtor leg are not relayed.
func TestBridgeKeepsTheLegsRules(t *testing.T) {
	debtor := newCall(t, media.PCMU, 0)
	lc := rtpConn(t)
	// The agent's SDP names this socket, which has sent nothing yet.
	named := newRawPhone(t, media.PCMU, addrOf(lc), false)
	agentLeg := media.NewSession(media.SessionOptions{Conn: lc, Remote: addrOf(named.c), Codec: media.PCMU})
	agentLeg.Start()
	t.Cleanup(func() { agentLeg.Close() })
	br, err := media.NewBridge(debtor.leg, agentLeg, media.BridgeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Stop()
	poll(t, "debtor packets reach the bridge", func() bool {
		st := br.Stats().DebtorToAgent
		return st.Dropped+st.Packets >= 25
	})
	if n := len(named.packets()); n != 0 || br.Stats().DebtorToAgent.Packets != 0 {
		t.Fatalf("the unlatched agent address got %d packets", n)
	}
	// A stranger plays 2000 Hz at the debtor leg.
	stranger := newRawPhone(t, media.PCMU, debtor.leg.LocalAddr(), true)
	stranger.queue <- media.Tone(2000, 8000, 8000)
	// Positive control: once the agent's phone speaks, the stream reaches it.
	named.c.WriteToUDPAddrPort(rtpPacket(), addrOf(lc))
	poll(t, "relayed packets reach the latched agent", func() bool { return len(named.packets()) >= 75 })
	if n := toneWindows(named.heard(), 2000); n != 0 {
		t.Fatalf("the stranger's tone was relayed (%d windows)", n)
	}
	if debtor.leg.Stats().Malformed == 0 {
		t.Fatal("the stranger's packets were not refused")
	}
}

func rtpPacket() []byte {
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, Timestamp: 1, SSRC: 0xa9e47},
		Payload: bytes.Repeat([]byte{0xFF}, 160)}).Marshal()
	return b
}

// A prompt asked of a bridged leg waits for the bridge to stop (the relay
// owns the stream meanwhile), then plays.
func TestPlayOnABridgedLegWaitsForTheBridge(t *testing.T) {
	debtor, agent := newCall(t, media.PCMU, 0), newCall(t, media.PCMU, 0)
	br := bridge(t, debtor.leg, agent.leg, media.BridgeOptions{NoConnectTone: true})
	from := len(debtor.heard.Samples())
	played := make(chan error, 1)
	go func() {
		_, err := debtor.leg.Play(context.Background(), false, tone("notice", 1400, 500*time.Millisecond))
		played <- err
	}()
	// A second of the bridge (counted in relayed agent packets) with the
	// prompt asked for: the debtor hears the agent's side, not the prompt.
	n := br.Stats().AgentToDebtor.Packets
	poll(t, "a second of the agent relayed", func() bool { return br.Stats().AgentToDebtor.Packets >= n+50 })
	if w := toneWindows(debtor.heard.Samples()[from:], 1400); w != 0 {
		t.Fatalf("the prompt played over the bridge (%d windows)", w)
	}
	select {
	case err := <-played:
		t.Fatalf("Play returned during the bridge: %v", err)
	default:
	}
	br.Stop()
	select {
	case err := <-played:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the prompt never played after the bridge")
	}
	hears(t, "the debtor", debtor.heard.Samples, from, 1400, 3)
}
