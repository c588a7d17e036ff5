package bench

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/dialer"
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
// simulated person hears the other through the relay.
type bridgedPhase struct {
	Target     int       `json:"target_bridges"`
	LegsUp     int       `json:"legs_up"`
	Bridges    int       `json:"bridges"`
	BothWays   int       `json:"bridges_with_audio_both_ways"`
	MeasuredS  float64   `json:"measured_s"`
	Relayed    uint64    `json:"packets_relayed"`
	Dropped    uint64    `json:"packets_dropped"`
	Relay      latencyUS `json:"relay_latency"` // read on one leg's socket → sent on the other's
	CPUPercent float64   `json:"cpu_percent"`
	SimCPU     float64   `json:"simcarrier_cpu_percent"`
	CPUPer1000 float64   `json:"cpu_percent_per_1000_bridges"`
}

func benchBridged(ctx context.Context, ep *dialer.Endpoint, sim string, simCPU func() time.Duration, n int,
	measure time.Duration, audio *media.Prompt) (bridgedPhase, error) {
	ph := bridgedPhase{Target: n, MeasuredS: measure.Seconds()}
	h, err := holdCalls(ctx, ep, sim, 2*n, "+1777", audio, nil)
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
	var bridges []*media.Bridge
	for i := 0; i+1 < len(h.sessions); i += 2 {
		b, err := media.NewBridge(h.sessions[i], h.sessions[i+1], media.BridgeOptions{NoConnectTone: true, OnRelay: onRelay})
		if err != nil {
			continue // a leg the simulator dropped
		}
		bridges = append(bridges, b)
	}
	defer func() {
		for _, b := range bridges {
			b.Stop()
		}
	}()
	ph.Bridges = len(bridges)
	sleepCtx(ctx, 2*time.Second) // every bridge carrying both ways
	before := make([]media.BridgeStats, len(bridges))
	for i, b := range bridges {
		before[i] = b.Stats()
	}
	cpu0, sim0, start := selfCPU(), simCPU(), time.Now()
	measuring.Store(true)
	sleepCtx(ctx, measure)
	measuring.Store(false)
	wall := time.Since(start)
	ph.CPUPercent = 100 * (selfCPU() - cpu0).Seconds() / wall.Seconds()
	ph.SimCPU = 100 * (simCPU() - sim0).Seconds() / wall.Seconds()
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
		fmt.Fprintf(w, "  relay latency\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs over %d packets; %d dropped\n",
			b.Relay.P50, b.Relay.P99, b.Relay.P999, b.Relay.Max, b.Relayed, b.Dropped)
		fmt.Fprintf(w, "  CPU\tdialer %.0f%% of a core (%.0f%% per 1,000 bridges), simcarrier %.0f%%\n", b.CPUPercent, b.CPUPer1000, b.SimCPU)
	}
}
