package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
)

// engineRun is one media engine's phases: today's (a socket per call, one
// sendto per packet, a receive goroutine per call) or the shared sockets
// (recvmmsg readers, sendmmsg per pacer shard and per received batch).
type engineRun struct {
	Engine     string          `json:"engine"`
	Sockets    int             `json:"rtp_sockets"` // 0: a socket per call
	Concurrent concurrentPhase `json:"concurrent"`
	Bridged    *bridgedPhase   `json:"bridged,omitempty"`
	LoadBefore string          `json:"load_average_before"`
	LoadAfter  string          `json:"load_average_after"`
}

// engineRatios compare the new engine with today's in the same run.
type engineRatios struct {
	IntervalP99    float64 `json:"send_interval_p99"`
	CPUPerCall     float64 `json:"cpu_per_call"`
	BridgedCPU     float64 `json:"bridged_cpu_per_bridge,omitempty"`
	BridgedRelay99 float64 `json:"bridged_relay_latency_p99,omitempty"`
}

func engineName(sockets int) string {
	if sockets == 0 {
		return "per-call sockets (today's engine)"
	}
	return fmt.Sprintf("shared sockets (%d, batched)", sockets)
}

func (r *sipBench) setRatios() {
	if len(r.Engines) != 2 || r.Engines[0].Sockets != 0 {
		return
	}
	old, cur := r.Engines[0], r.Engines[1]
	x := &engineRatios{}
	if old.Concurrent.IntervalP99MS > 0 {
		x.IntervalP99 = cur.Concurrent.IntervalP99MS / old.Concurrent.IntervalP99MS
	}
	if old.Concurrent.CPUPer1000 > 0 {
		x.CPUPerCall = cur.Concurrent.CPUPer1000 / old.Concurrent.CPUPer1000
	}
	if old.Bridged != nil && cur.Bridged != nil {
		if old.Bridged.CPUPer1000 > 0 {
			x.BridgedCPU = cur.Bridged.CPUPer1000 / old.Bridged.CPUPer1000
		}
		if old.Bridged.Relay.P99 > 0 {
			x.BridgedRelay99 = cur.Bridged.Relay.P99 / old.Bridged.Relay.P99
		}
	}
	r.Ratios = x
}

// bridgedPhase is 2n calls to the simulator bridged in pairs: each
// simulated person hears the other through the relay. On a sample of the
// bridges both legs are tone lines with different tones, and each must
// report hearing the other's: audio crossed that bridge both ways, and
// not from another bridge.
type bridgedPhase struct {
	Target       int       `json:"target_bridges"`
	LegsUp       int       `json:"legs_up"`
	Bridges      int       `json:"bridges"`
	BothWays     int       `json:"bridges_with_audio_both_ways"`
	ToneSampled  int       `json:"tone_sampled_bridges"`
	ToneBothWays int       `json:"tone_sampled_heard_both_ways"`
	MeasuredS    float64   `json:"measured_s"`
	Relayed      uint64    `json:"packets_relayed"`
	Dropped      uint64    `json:"packets_dropped"`
	Relay        latencyUS `json:"relay_latency"` // read on one leg's socket → sent on the other's
	CPUPercent   float64   `json:"cpu_percent"`
	SimCPU       float64   `json:"simcarrier_cpu_percent"`
	CPUPer1000   float64   `json:"cpu_percent_per_1000_bridges"`
}

// toneBridge is a sampled bridge: the tone line of each leg, by number.
type toneBridge struct {
	a, b   string
	fa, fb float64
}

// toneBridges are the sampled bridges of n: one in 50, at least one. Each
// pair's tones are 100 Hz apart, and a tone repeats only every 8 bridges.
func toneBridges(n int) []toneBridge {
	l := make([]toneBridge, max(1, n/50))
	for k := range l {
		fa := 500 + 200*(k%8)
		l[k] = toneBridge{a: simcarrier.ToneNumber(tonePrefix, fa, 2*k), b: simcarrier.ToneNumber(tonePrefix, fa+100, 2*k+1),
			fa: float64(fa), fb: float64(fa + 100)}
	}
	return l
}

// bridgePairs bridges the held legs in pairs: the plain ones in the order
// they answered, the tone lines' as tones says. sampled are the tone
// bridges made.
func bridgePairs(h *heldCalls, tones []toneBridge, opt media.BridgeOptions) (bridges []*media.Bridge, sampled []toneBridge) {
	var plain []*media.Session
	byNumber := map[string]*media.Session{}
	for i, s := range h.sessions {
		if simcarrier.ToneOfNumber(tonePrefix, h.numbers[i]) > 0 {
			byNumber[h.numbers[i]] = s
		} else {
			plain = append(plain, s)
		}
	}
	bridge := func(a, b *media.Session) bool {
		br, err := media.NewBridge(a, b, opt)
		if err != nil {
			return false // a leg the simulator dropped
		}
		bridges = append(bridges, br)
		return true
	}
	for i := 0; i+1 < len(plain); i += 2 {
		bridge(plain[i], plain[i+1])
	}
	for _, t := range tones {
		if a, b := byNumber[t.a], byNumber[t.b]; a != nil && b != nil && bridge(a, b) {
			sampled = append(sampled, t)
		}
	}
	return bridges, sampled
}

// toneHeardDrift is how far a reported tone may be from the one played.
const toneHeardDrift = 20

func benchBridged(ctx context.Context, ep *dialer.Endpoint, sim *simProcess, n int, measure time.Duration, audio *media.Prompt) (bridgedPhase, error) {
	ph := bridgedPhase{Target: n, MeasuredS: measure.Seconds()}
	tones := toneBridges(n)
	if len(tones) > n {
		tones = tones[:n]
	}
	calls := numbers("+1777", 2*(n-len(tones)))
	for _, t := range tones {
		calls = append(calls, t.a, t.b)
	}
	h, err := holdCalls(ctx, ep, sim.addr, calls, audio, nil)
	if err != nil {
		return ph, err
	}
	defer h.release()
	ph.LegsUp = len(h.sessions)
	lat := relayLatency()
	var measuring atomic.Bool
	onRelay := func(_ media.Side, at time.Time) {
		if measuring.Load() {
			lat.add(time.Since(at))
		}
	}
	bridges, sampled := bridgePairs(h, tones, media.BridgeOptions{NoConnectTone: true, OnRelay: onRelay})
	defer func() {
		for _, b := range bridges {
			b.Stop()
		}
	}()
	ph.Bridges, ph.ToneSampled = len(bridges), len(tones)
	sleepCtx(ctx, 2*time.Second) // every bridge carrying both ways
	before := make([]media.BridgeStats, len(bridges))
	for i, b := range bridges {
		before[i] = b.Stats()
	}
	cpu0, sim0, start := selfCPU(), sim.cpu(), time.Now()
	measuring.Store(true)
	sleepCtx(ctx, measure)
	measuring.Store(false)
	wall := time.Since(start)
	ph.CPUPercent = 100 * (selfCPU() - cpu0).Seconds() / wall.Seconds()
	ph.SimCPU = 100 * (sim.cpu() - sim0).Seconds() / wall.Seconds()
	ph.CPUPer1000 = ph.CPUPercent * 1000 / float64(max(1, ph.Bridges))
	expect := uint64(wall/media.FrameDuration) * 9 / 10
	for i, b := range bridges {
		st := b.Stats()
		d2a := st.DebtorToAgent.Packets - before[i].DebtorToAgent.Packets
		a2d := st.AgentToDebtor.Packets - before[i].AgentToDebtor.Packets
		ph.Relayed += d2a + a2d
		ph.Dropped += st.DebtorToAgent.Dropped + st.AgentToDebtor.Dropped - before[i].DebtorToAgent.Dropped - before[i].AgentToDebtor.Dropped
		if d2a >= expect && a2d >= expect {
			ph.BothWays++
		}
	}
	for _, t := range sampled {
		ha, okA := sim.heard(t.a)
		hb, okB := sim.heard(t.b)
		if okA && okB && math.Abs(ha-t.fb) <= toneHeardDrift && math.Abs(hb-t.fa) <= toneHeardDrift {
			ph.ToneBothWays++
		}
	}
	ph.Relay.from(lat)
	return ph, nil
}

func printEngine(w io.Writer, r engineRun) {
	fmt.Fprintf(w, "%s\tload average %s before, %s after\n", r.Engine, r.LoadBefore, r.LoadAfter)
	if k := r.Concurrent; k.Target > 0 {
		fmt.Fprintf(w, "  concurrency phase\t%d calls up of %d, %d with two-way audio, measured %gs\n", k.Up, k.Target, k.TwoWay, k.HoldS)
		fmt.Fprintf(w, "  RTP send interval\tp50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms over %d packets (goal p99 in 20±2 ms: %v)\n",
			k.IntervalP50MS, k.IntervalP99MS, k.IntervalP999, k.IntervalMaxMS, k.PacketsSent, k.WithinGoal)
		fmt.Fprintf(w, "  CPU\tdialer %.0f%% of a core (%.0f%% per 1,000 calls), simcarrier %.0f%%; dialer RSS %.0f MB (%.0f KB/call)\n",
			k.CPUPercent, k.CPUPer1000, k.SimCPU, k.RSSMB, k.KBPerCall)
		if k.RecvBatch > 0 {
			fmt.Fprintf(w, "  receive	%.1f datagrams per recvmmsg\n", k.RecvBatch)
		}
	}
	if b := r.Bridged; b != nil {
		fmt.Fprintf(w, "  bridged phase\t%d bridges of %d (%d legs up), %d with audio crossing both ways, measured %gs\n",
			b.Bridges, b.Target, b.LegsUp, b.BothWays, b.MeasuredS)
		fmt.Fprintf(w, "  tones\t%d of %d sampled bridges: each leg's simulator heard the other leg's tone\n", b.ToneBothWays, b.ToneSampled)
		fmt.Fprintf(w, "  relay latency\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs over %d packets; %d dropped\n",
			b.Relay.P50, b.Relay.P99, b.Relay.P999, b.Relay.Max, b.Relayed, b.Dropped)
		fmt.Fprintf(w, "  CPU\tdialer %.0f%% of a core (%.0f%% per 1,000 bridges), simcarrier %.0f%%\n", b.CPUPercent, b.CPUPer1000, b.SimCPU)
	}
}
