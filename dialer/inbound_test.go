package dialer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/polltest"
	"github.com/marcador/marcador/dialer/sipptest"
	"github.com/marcador/marcador/ivr/media"
)

// loopback admits calls from 127.0.0.1 only, as trunk "carrier".
func loopback() InboundPolicy {
	return InboundPolicy{Sources: []Source{{Trunk: "carrier", Prefix: netip.MustParsePrefix("127.0.0.1/32")}}}
}

// lineEndpoint is a callback line on loopback.
func lineEndpoint(t *testing.T, opt EndpointOptions) *Endpoint {
	t.Helper()
	opt.Listen = "127.0.0.1:0"
	if opt.RTPPorts == (media.PortRange{}) {
		opt.RTPPorts = media.PortRange{Min: 47000, Max: 47099}
	}
	e, err := NewEndpoint(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// handset is a caller: an endpoint of our own stack dialling line.
func handset(t *testing.T, line *Endpoint, ports media.PortRange, channels int) (*Endpoint, *Trunk) {
	t.Helper()
	e, err := NewEndpoint(EndpointOptions{Listen: "127.0.0.1:0", RTPPorts: ports})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	tr, err := NewTrunk(TrunkConfig{Name: "line", URI: "sip:" + line.Addr(), CallerID: "+525512345678", CPS: 1000, MaxChannels: channels})
	if err != nil {
		t.Fatal(err)
	}
	return e, tr
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	polltest.Eventually(t, 30*time.Second, cond, what)
}

// An INVITE from an address no trunk lists gets 403 before anything else
// happens (no ringing, no RTP port, no handler); a flood of them logs a few
// lines, not one each. The same call from the trunk's address is answered.
func TestInboundFromUnlistedAddressIsForbidden(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	var mu sync.Mutex
	offered := 0
	line := lineEndpoint(t, EndpointOptions{Inbound: loopback(), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnInvite: func(in *Inbound) {
			mu.Lock()
			offered++
			mu.Unlock()
			leg, err := in.Answer(context.Background(), AnswerOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			leg.Hangup(context.Background())
		}})
	const flood = 40
	start := time.Now()
	stranger := sipptest.StartAt(t, "127.0.0.2", "testdata/sipp/invite_forbidden.xml", flood, line.Addr(), "-s", "8005550100",
		"-r", "200", "-l", fmt.Sprint(flood))
	stranger.Wait(t) // sipp fails a call that gets anything but 403
	elapsed := time.Since(start)
	st := line.InboundStats()
	if st.Forbidden != flood || st.Active != 0 || line.ActiveLegs() != 0 {
		t.Fatalf("after the flood: %+v, %d legs", st, line.ActiveLegs())
	}
	mu.Lock()
	if offered != 0 {
		t.Fatalf("the handler was offered %d calls from an unlisted address", offered)
	}
	mu.Unlock()
	// A burst of 5 lines, then about one a second.
	if n, most := logs.count("INVITE refused (403)"), 5+int(elapsed.Seconds())+1; n == 0 || n > most {
		t.Fatalf("%d log lines for %d refused INVITEs in %s, want 1-%d", n, flood, elapsed.Round(time.Millisecond), most)
	}
	// Positive control: the same kind of call from the listed address is answered.
	s := sipptest.Start(t, "testdata/sipp/call_until_bye.xml", 1, line.Addr(), "-s", "8005550100",
		"-key", "sdp_ip", "127.0.0.1", "-key", "sdp_port", fmt.Sprint(sipptest.FreeUDPPort(t)))
	s.Wait(t)
	mu.Lock()
	defer mu.Unlock()
	if offered != 1 {
		t.Fatalf("a call from the trunk's address reached the handler %d times", offered)
	}
}

// A flood of INVITEs beyond ivr.inbound.max_calls gets 486; the inbound
// calls admitted never take the RTP ports kept for outbound dialing (those
// that find none get 503), and an outbound call still gets a port.
func TestInboundLimitKeepsPortsForOutbound(t *testing.T) {
	t.Parallel()
	const flood, maxCalls = 12, 8
	ports := media.PortRange{Min: 47100, Max: 47119} // 10 RTP ports; the top 4 are outbound's
	var legs sync.Map
	// Calls are answered only once every INVITE has been admitted or turned
	// away, so which ones were is not a race with the answers.
	admitted := make(chan struct{})
	line := lineEndpoint(t, EndpointOptions{RTPPorts: ports,
		Inbound: InboundPolicy{Sources: loopback().Sources, MaxCalls: maxCalls, ReserveOutbound: 4},
		OnInvite: func(in *Inbound) {
			<-admitted
			leg, err := in.Answer(context.Background(), AnswerOptions{})
			if err == nil {
				legs.Store(leg, true)
				<-leg.Ended()
			}
		}})
	go func() {
		defer close(admitted)
		polltest.Until(30*time.Second, func() bool { st := line.InboundStats(); return st.Active+int64(st.Busy) >= flood })
	}()
	caller, tr := handset(t, line, media.PortRange{Min: 47200, Max: 47299}, flood)
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var answered []*Leg
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leg, err := caller.Dial(context.Background(), DialRequest{Trunk: tr, To: fmt.Sprint(8005550100 + i)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			codes[leg.Result().SIPCode]++
			if !leg.Result().Answered.IsZero() {
				answered = append(answered, leg)
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, l := range answered {
			l.Hangup(context.Background())
		}
	}()
	if codes[200] != 6 || codes[503] != 2 || codes[486] != flood-maxCalls {
		t.Fatalf("final responses %v, want 6×200 (the inbound ports), 2×503, %d×486", codes, flood-maxCalls)
	}
	legs.Range(func(k, _ any) bool {
		if p := k.(*Leg).Session().LocalAddr().Port(); p > 47110 {
			t.Errorf("an inbound call took port %d, kept for outbound calls", p)
		}
		return true
	})
	if st := line.InboundStats(); st.Busy != flood-maxCalls || st.Active != 6 {
		t.Fatalf("inbound stats %+v", st)
	}
	// The line still dials out, on a port above the inbound ones.
	s := startSipp(t, "bye_mid_prompt.xml", 1)
	out, err := line.Dial(context.Background(), DialRequest{Trunk: testTrunk(t, s.Port, "", ""), To: "+525512345678"})
	if err != nil {
		t.Fatalf("outbound dial during the inbound flood: %v", err)
	}
	if out.Result().Answered.IsZero() {
		t.Fatalf("outbound call not answered: %+v", out.Result())
	}
	if p := out.Session().LocalAddr().Port(); p < 47112 {
		t.Errorf("outbound call on port %d", p)
	}
	<-out.Ended()
	s.Wait(t)
	// Hung-up calls give their places back.
	for _, l := range answered {
		l.Hangup(context.Background())
	}
	waitFor(t, "inbound calls to end", func() bool { return line.InboundStats().Active == 0 })
}

// An INVITE whose SDP names another host gets no RTP sent there: the answer
// sends only where media comes from (latch first, then send).
func TestInboundSendsNoRTPToTheHostTheSDPNames(t *testing.T) {
	t.Parallel()
	victim, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	got := make(chan *Leg, 1)
	line := lineEndpoint(t, EndpointOptions{Inbound: loopback(), RTPPorts: media.PortRange{Min: 47300, Max: 47399},
		OnInvite: func(in *Inbound) {
			leg, err := in.Answer(context.Background(), AnswerOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			go leg.Session().Play(context.Background(), false, &media.Prompt{Samples: media.Tone(440, 8000, 8000*60)})
			got <- leg
			<-leg.Ended()
		}})
	s := sipptest.Start(t, "testdata/sipp/call_until_bye.xml", 1, line.Addr(), "-s", "8005550100",
		"-key", "sdp_ip", "127.0.0.1", "-key", "sdp_port", fmt.Sprint(victim.LocalAddr().(*net.UDPAddr).Port))
	var leg *Leg
	select {
	case leg = <-got:
	case <-time.After(30 * time.Second):
		s.Fail(t)
		t.Fatal("the call was not answered")
	}
	// 2.5 s of an answered call playing a tone: 125 packets it could send.
	if n := countDatagrams(victim, 2500*time.Millisecond, 2500*time.Millisecond); n != 0 {
		t.Fatalf("the host the SDP names got %d datagrams", n)
	}
	// Positive control: once that address sends media itself, it hears the call.
	pkt := []byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9}
	pkt = append(pkt, make([]byte, 160)...)
	victim.WriteTo(pkt, net.UDPAddrFromAddrPort(leg.Session().LocalAddr()))
	if n := countDatagrams(victim, 2*time.Second, 5*time.Second); n < 10 {
		t.Fatalf("after sending media itself the peer got %d packets", n)
	}
	if r := leg.Hangup(context.Background()); r.ByeStatus != 200 {
		t.Fatalf("BYE answered %d", r.ByeStatus)
	}
	s.Wait(t)
}

// countDatagrams reads from c until quiet passes without one (or limit in
// all) and says how many came.
func countDatagrams(c *net.UDPConn, quiet, limit time.Duration) int {
	n, buf, end := 0, make([]byte, 2000), time.Now().Add(limit)
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

// Our answer's To tag is the tag of every request we send in the dialog, so
// the caller accepts our BYE (a UA answers 481 to a BYE naming no dialog of
// its own, as ours does), and the caller's BYE reaches our leg.
func TestInboundDialogTags(t *testing.T) {
	t.Parallel()
	legs := make(chan *Leg, 2)
	line := lineEndpoint(t, EndpointOptions{Inbound: loopback(), RTPPorts: media.PortRange{Min: 47400, Max: 47499},
		OnInvite: func(in *Inbound) {
			leg, err := in.Answer(context.Background(), AnswerOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			legs <- leg
			<-leg.Ended()
		}})
	caller, tr := handset(t, line, media.PortRange{Min: 47500, Max: 47599}, 2)
	answered := func(t *testing.T) (out, in *Leg) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := caller.Dial(ctx, DialRequest{Trunk: tr, To: "8005550100"})
		if err != nil || out.Result().Answered.IsZero() {
			t.Fatalf("call: %v", err)
		}
		t.Cleanup(func() { out.Hangup(context.Background()) })
		select {
		case in = <-legs:
		case <-time.After(30 * time.Second):
			t.Fatal("the line did not answer")
		}
		t.Cleanup(func() { in.Hangup(context.Background()) })
		return out, in
	}
	for _, who := range []string{"we hang up", "the caller hangs up"} {
		t.Run(who, func(t *testing.T) {
			out, in := answered(t)
			if out.dlg.Load().rtag != in.dlg.Load().ltag {
				t.Fatalf("the 200's To tag %q is not the dialog's local tag %q", out.dlg.Load().rtag, in.dlg.Load().ltag)
			}
			hangs, other := in, out
			if who == "the caller hangs up" {
				hangs, other = out, in
			}
			if r := hangs.Hangup(context.Background()); r.ByeStatus != 200 {
				t.Fatalf("BYE answered %d, want 200", r.ByeStatus)
			}
			select {
			case <-other.Ended():
			case <-time.After(10 * time.Second):
				t.Fatal("the other side did not end")
			}
			if r := other.Result(); r.Reason != "remote hangup" {
				t.Fatalf("other side: %+v", r)
			}
		})
	}
	// A BYE that names no dialog of ours gets 481.
	out, in := answered(t)
	out.dlg.Load().ltag = "not-the-callers-tag"
	if r := out.Hangup(context.Background()); r.ByeStatus != 481 {
		t.Fatalf("BYE with a foreign tag answered %d, want 481", r.ByeStatus)
	}
	select {
	case <-in.Ended():
		t.Fatal("a BYE naming no dialog ended the call")
	default:
	}
}

// A dial that cannot get a port, or has no caller id, never sends an INVITE
// and says so with ErrLocal.
func TestDialLocalErrors(t *testing.T) {
	t.Parallel()
	carrier, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer carrier.Close()
	ports := media.PortRange{Min: 47600, Max: 47602}
	e := lineEndpoint(t, EndpointOptions{RTPPorts: ports})
	trunk := func(callerID string) *Trunk {
		tr, err := NewTrunk(TrunkConfig{Name: "t", URI: "sip:" + carrier.LocalAddr().String(), CallerID: callerID})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	// Every RTP port of the range is taken.
	var held []*net.UDPConn
	for p := ports.Min; p <= ports.Max; p += 2 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	_, err = e.Dial(context.Background(), DialRequest{Trunk: trunk("+525550000100"), To: "+525512345678"})
	if !errors.Is(err, ErrLocal) || !strings.Contains(err.Error(), "no free even port") {
		t.Fatalf("dial without a port: %v", err)
	}
	for _, c := range held {
		c.Close()
	}
	// No caller id, or one that is not E.164: refused, never anonymous.
	for _, cid := range []string{"", "anonymous", "5550000100"} {
		_, err := e.Dial(context.Background(), DialRequest{Trunk: trunk(""), To: "+525512345678", CallerID: cid})
		if !errors.Is(err, ErrLocal) || !errors.Is(err, ErrCallerID) {
			t.Fatalf("caller id %q: %v", cid, err)
		}
	}
	if _, err := NewTrunk(TrunkConfig{Name: "t", URI: "sip:gw", CallerID: "anonymous"}); err == nil || !strings.Contains(err.Error(), "trunks.t.caller_id") {
		t.Fatalf("trunk with caller_id anonymous: %v", err)
	}
	if n := countDatagrams(carrier, time.Second, time.Second); n != 0 {
		t.Fatalf("the carrier got %d datagrams from dials that were refused", n)
	}
	// Positive control: with a port and a caller id, the INVITE goes out from it.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Leg)
	go func() {
		leg, _ := e.Dial(ctx, DialRequest{Trunk: trunk(""), To: "+525512345678", CallerID: "+525550000100"})
		done <- leg
	}()
	buf := make([]byte, 4000)
	carrier.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := carrier.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "From: <sip:+525550000100@") {
		t.Fatalf("INVITE %v:\n%s", err, buf[:n])
	}
	cancel()
	if leg := <-done; leg != nil {
		<-leg.Ended()
	}
}

func TestInboundSources(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "sbc.carrier.example" {
			return []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")}, nil
		}
		return nil, fmt.Errorf("no such host %s", host)
	}
	src, err := InboundSources(context.Background(), []TrunkConfig{
		{Name: "a", InboundFrom: []string{"203.0.113.0/24", "192.0.2.9", "sbc.carrier.example"}},
		{Name: "b", InboundFrom: []string{"203.0.113.128/25"}},
	}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	in := inbound{policy: InboundPolicy{Sources: src}}
	for addr, want := range map[string]string{"203.0.113.5": "a", "203.0.113.200": "b", "192.0.2.9": "a", "198.51.100.7": "a",
		"2001:db8::7": "a", "192.0.2.10": "", "127.0.0.1": ""} {
		got, ok := in.admit(netip.MustParseAddr(addr))
		if got != want || ok != (want != "") {
			t.Errorf("%s: trunk %q %v, want %q", addr, got, ok, want)
		}
	}
	for _, c := range []struct {
		entry, want string
	}{{"nowhere.example", "trunks.x.inbound_from[0]: resolve nowhere.example"}, {"10.0.0.0/33", "trunks.x.inbound_from[0]"},
		{"bad host!", "trunks.x.inbound_from[0]"}} {
		_, err := InboundSources(context.Background(), []TrunkConfig{{Name: "x", InboundFrom: []string{c.entry}}}, lookup)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.entry, err, c.want)
		}
	}
	if _, err := NewTrunk(TrunkConfig{Name: "x", URI: "sip:gw", InboundFrom: []string{"1.2.3.4/99"}}); err == nil ||
		!strings.Contains(err.Error(), "trunks.x.inbound_from[0]") {
		t.Errorf("NewTrunk: %v", err)
	}
	// The zero policy admits nobody.
	if _, ok := (&inbound{}).admit(netip.MustParseAddr("127.0.0.1")); ok {
		t.Error("the zero policy admitted a call")
	}
}
