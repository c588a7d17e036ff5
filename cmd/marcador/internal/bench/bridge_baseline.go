package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/marcador/marcador/ivr/media"
)

// relayBaseline compares, on the same sockets and the same traffic, the
// bridge with a bare UDP forwarder (media.Forward: read, write, nothing
// else). Each of Pairs is a debtor leg's socket and an agent leg's socket
// (bound as the node binds its legs' sockets), with a phone at each far end
// sending a 20 ms G.711 stream to its leg. Three phases of MeasureS: the
// phones send to each other directly (what the phones themselves cost),
// then through the bare forwarder, then through a bridge of two sessions
// on those sockets. A forwarder's CPU per packet is its phase's CPU over
// the phones-only phase's.
type relayBaseline struct {
	Pairs       int            `json:"pairs"`
	MeasureS    float64        `json:"measure_s"`
	PacketsPerS float64        `json:"packets_per_s"` // both directions, all pairs
	PhonesCPU   float64        `json:"phones_only_cpu_percent"`
	Bare        forwarderPhase `json:"bare"`
	Relay       forwarderPhase `json:"bridge"`
	// Ratios: bridge / bare.
	LatencyP99Ratio float64 `json:"latency_p99_ratio"`
	CPURatio        float64 `json:"cpu_per_packet_ratio"`
	// CallsRelayP99Ratio is the calls' relay p99 (debtor → agent, with
	// everything else a node does) over this bare p99.
	CallsRelayP99Ratio float64 `json:"calls_relay_p99_ratio"`
}

type forwarderPhase struct {
	Latency        latencyUS `json:"latency"` // read on one socket → written on the other
	CPUPercent     float64   `json:"cpu_percent"`
	CPUusPerPacket float64   `json:"cpu_us_per_packet"`
	// Delivered is what the phones received per second (both directions,
	// all pairs): a forwarder that kept up delivers what the phones sent.
	Delivered float64 `json:"delivered_per_s"`
}

// socketPair is one bridge's sockets and its two phones.
type socketPair struct {
	debtorLeg, agentLeg     *net.UDPConn
	debtorPhone, agentPhone *net.UDPConn
}

// bridgeBaseline runs the same-socket baseline after the calls when
// Options.Measure asks for it (nil when not), and sets the calls' relay p99
// against its bare forwarder's.
func bridgeBaseline(ctx context.Context, o BridgeOptions, ports media.PortRange, log *slog.Logger, calls callsPhase,
	stderr io.Writer) (*relayBaseline, error) {
	if o.Measure <= 0 {
		return nil, nil
	}
	fmt.Fprintf(stderr, "bench bridge: baseline, %d socket pairs, phones only / bare forwarder / bridge, %s each...\n", o.Agents, o.Measure)
	b, err := baseline(ctx, ports, o.Agents, o.Measure, log)
	if err != nil {
		return nil, err
	}
	if b.Bare.Latency.P99 > 0 {
		b.CallsRelayP99Ratio = calls.RelayDebtorToAgent.P99 / b.Bare.Latency.P99
	}
	return &b, nil
}

func baseline(ctx context.Context, ports media.PortRange, pairs int, measure time.Duration, log *slog.Logger) (relayBaseline, error) {
	b := relayBaseline{Pairs: pairs, MeasureS: measure.Seconds()}
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	ps, err := openPairs(ports, pairs, &closers)
	if err != nil {
		return b, err
	}
	var received atomic.Uint64
	stopSinks := sinks(ps, &received)
	defer stopSinks()
	phones := newPhoneLoad(ps)
	defer phones.stop()

	// Phones only: each phone sends to the other phone.
	phones.aim(func(p socketPair) (netip.AddrPort, netip.AddrPort) {
		return addrOf(p.agentPhone), addrOf(p.debtorPhone)
	})
	direct, err := measurePhase(ctx, measure, &received, nil)
	if err != nil {
		return b, err
	}
	b.PhonesCPU = direct.CPUPercent
	b.PacketsPerS = direct.pps

	// Each phone sends to its leg; the bare forwarder joins the legs.
	phones.aim(func(p socketPair) (netip.AddrPort, netip.AddrPort) {
		return addrOf(p.debtorLeg), addrOf(p.agentLeg)
	})
	bare, bareLat, err := barePhase(ctx, ps, measure, &received)
	if err != nil {
		return b, err
	}
	relayed, relayLat, err := bridgePhase(ctx, ps, measure, &received, log, &closers)
	if err != nil {
		return b, err
	}
	perPacket := func(ph phaseResult) float64 {
		extra := ph.cpu.Seconds()/ph.wall.Seconds() - direct.cpu.Seconds()/direct.wall.Seconds()
		return 1e6 * extra / ph.pps
	}
	b.Bare = forwarderPhase{CPUPercent: bare.CPUPercent, CPUusPerPacket: perPacket(bare), Delivered: bare.pps}
	b.Bare.Latency.from(bareLat)
	b.Relay = forwarderPhase{CPUPercent: relayed.CPUPercent, CPUusPerPacket: perPacket(relayed), Delivered: relayed.pps}
	b.Relay.Latency.from(relayLat)
	if b.Bare.Latency.P99 > 0 {
		b.LatencyP99Ratio = b.Relay.Latency.P99 / b.Bare.Latency.P99
	}
	if b.Bare.CPUusPerPacket > 0 {
		b.CPURatio = b.Relay.CPUusPerPacket / b.Bare.CPUusPerPacket
	}
	return b, nil
}

// openPairs binds the pairs' sockets: the legs' as the node binds its
// legs' (in ports), the phones' anywhere on loopback; each one's close goes
// in closers.
func openPairs(ports media.PortRange, pairs int, closers *[]func()) ([]socketPair, error) {
	lo := netip.MustParseAddr("127.0.0.1")
	ps := make([]socketPair, pairs)
	for i := range ps {
		p := &ps[i]
		for _, c := range []**net.UDPConn{&p.debtorLeg, &p.agentLeg} {
			conn, err := media.ListenRTP(lo, ports)
			if err != nil {
				return nil, err
			}
			*c = conn
			*closers = append(*closers, func() { conn.Close() })
		}
		for _, c := range []**net.UDPConn{&p.debtorPhone, &p.agentPhone} {
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return nil, err
			}
			conn.SetReadBuffer(1 << 20)
			*c = conn
			*closers = append(*closers, func() { conn.Close() })
		}
	}
	return ps, nil
}

// barePhase joins each pair's legs with the bare forwarder and measures;
// the histogram is its latency.
func barePhase(ctx context.Context, ps []socketPair, measure time.Duration, received *atomic.Uint64) (phaseResult, *histogram, error) {
	bareLat := relayLatency()
	var stops []func()
	for _, p := range ps {
		stops = append(stops,
			media.Forward(p.debtorLeg, p.agentLeg, addrOf(p.agentPhone), func(rx time.Time) { bareLat.add(time.Since(rx)) }),
			media.Forward(p.agentLeg, p.debtorLeg, addrOf(p.debtorPhone), func(rx time.Time) { bareLat.add(time.Since(rx)) }))
	}
	bare, err := measurePhase(ctx, measure, received, bareLat)
	for _, s := range stops {
		s()
	}
	return bare, bareLat, err
}

// bridgePhase bridges each pair's legs and measures; the histogram is the
// bridge's latency. The sessions' close goes in closers.
func bridgePhase(ctx context.Context, ps []socketPair, measure time.Duration, received *atomic.Uint64, log *slog.Logger,
	closers *[]func()) (phaseResult, *histogram, error) {
	// The same sockets become two sessions each, bridged (as the node's
	// legs: one shared pacer, latch first).
	pacer := media.NewPacer(0)
	defer pacer.Close()
	relayLat := relayLatency()
	var bridges []*media.Bridge
	for _, p := range ps {
		d := media.NewSession(media.SessionOptions{Conn: p.debtorLeg, Codec: media.PCMU, Pacer: pacer, Logger: log})
		a := media.NewSession(media.SessionOptions{Conn: p.agentLeg, Codec: media.PCMU, Pacer: pacer, Logger: log})
		d.Start()
		a.Start()
		*closers = append(*closers, func() { d.Close(); a.Close() })
		deadline := time.Now().Add(10 * time.Second)
		for d.Stats().Received == 0 || a.Stats().Received == 0 { // both latched to their phones
			if time.Now().After(deadline) {
				return phaseResult{}, nil, errors.New("baseline: a leg heard nothing from its phone")
			}
			time.Sleep(time.Millisecond)
		}
		br, err := media.NewBridge(d, a, media.BridgeOptions{NoConnectTone: true, Logger: log,
			OnRelay: func(_ media.Side, rx time.Time) { relayLat.add(time.Since(rx)) }})
		if err != nil {
			return phaseResult{}, nil, err
		}
		bridges = append(bridges, br)
	}
	relayed, err := measurePhase(ctx, measure, received, relayLat)
	for _, br := range bridges {
		br.Stop()
	}
	return relayed, relayLat, err
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

type phaseResult struct {
	CPUPercent float64
	cpu, wall  time.Duration
	pps        float64 // packets the phones received per second
}

// measurePhase lets a phase settle for a second, then measures it; lat,
// when set, is reset to count only the window.
func measurePhase(ctx context.Context, d time.Duration, received *atomic.Uint64, lat *histogram) (phaseResult, error) {
	sleepCtx(ctx, time.Second)
	if lat != nil {
		lat.reset()
	}
	r0, cpu0, t0 := received.Load(), selfCPU(), time.Now()
	sleepCtx(ctx, d)
	r := phaseResult{cpu: selfCPU() - cpu0, wall: time.Since(t0)}
	n := received.Load() - r0
	r.CPUPercent = 100 * r.cpu.Seconds() / r.wall.Seconds()
	r.pps = float64(n) / r.wall.Seconds()
	if n == 0 {
		return r, fmt.Errorf("baseline: no packet reached a phone in %s", d)
	}
	return r, ctx.Err()
}

// sinks reads every phone's socket and counts what arrives.
func sinks(ps []socketPair, received *atomic.Uint64) (stop func()) {
	var wg sync.WaitGroup
	var conns []*net.UDPConn
	for _, p := range ps {
		conns = append(conns, p.debtorPhone, p.agentPhone)
	}
	for _, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 1500)
			for {
				if _, err := c.Read(buf); err != nil {
					if errors.Is(err, net.ErrClosed) || isTimeout(err) {
						return
					}
					continue
				}
				received.Add(1)
			}
		})
	}
	return func() {
		for _, c := range conns {
			c.SetReadDeadline(time.Now())
		}
		wg.Wait()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// phoneLoad is every phone sending one 160-byte PCMU packet each 20 ms, on
// 16 goroutines ticking at staggered offsets as a pacer's shards do.
type phoneLoad struct {
	mu      sync.RWMutex
	ps      []socketPair
	targets [][2]netip.AddrPort // per pair: where the debtor's and the agent's phone send
	done    chan struct{}
	wg      sync.WaitGroup
}

const loadShards = 16

func newPhoneLoad(ps []socketPair) *phoneLoad {
	l := &phoneLoad{ps: ps, targets: make([][2]netip.AddrPort, len(ps)), done: make(chan struct{})}
	for k := range loadShards {
		l.wg.Go(func() { l.shard(k) })
	}
	return l
}

// aim points every pair's phones at new targets.
func (l *phoneLoad) aim(to func(socketPair) (debtor, agent netip.AddrPort)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range l.ps {
		d, a := to(p)
		l.targets[i] = [2]netip.AddrPort{d, a}
	}
}

func (l *phoneLoad) shard(k int) {
	var mine []int
	for i := k; i < len(l.ps); i += loadShards {
		mine = append(mine, i)
	}
	if len(mine) == 0 {
		return
	}
	pkts := make([][2][]byte, len(mine))
	for j, i := range mine {
		for side := range 2 {
			pkts[j][side], _ = (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(i*2 + side + 1)},
				Payload: make([]byte, media.FrameSamples)}).Marshal()
		}
	}
	next := time.Now().Add(time.Duration(k) * media.FrameDuration / loadShards)
	var seq uint16
	var ts uint32
	for {
		select {
		case <-time.After(time.Until(next)):
		case <-l.done:
			return
		}
		next = next.Add(media.FrameDuration)
		seq++
		ts += media.FrameSamples
		l.mu.RLock()
		for j, i := range mine {
			p, to := l.ps[i], l.targets[i]
			for side, c := range []*net.UDPConn{p.debtorPhone, p.agentPhone} {
				b := pkts[j][side]
				binary.BigEndian.PutUint16(b[2:], seq)
				binary.BigEndian.PutUint32(b[4:], ts)
				c.WriteToUDPAddrPort(b, to[side])
			}
		}
		l.mu.RUnlock()
	}
}

func (l *phoneLoad) stop() {
	close(l.done)
	l.wg.Wait()
}
