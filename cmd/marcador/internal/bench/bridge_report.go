package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// bridgeBench is what `marcador bench bridge` measures.
type bridgeBench struct {
	// Campaign and Node are the run's own ids (its keys in Redis are
	// removed at the end, and its agents are bb-<run>-a001...).
	Campaign string         `json:"campaign"`
	Node     string         `json:"node"`
	Machine  machineLoad    `json:"machine"`
	Agents   agentsPhase    `json:"agents"`
	Calls    callsPhase     `json:"calls"`
	Baseline *relayBaseline `json:"baseline,omitempty"`
}

type machineLoad struct {
	CPUs      int    `json:"cpus"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
	FarNice   int    `json:"far_side_nice"`
}

type agentsPhase struct {
	Agents     int     `json:"agents"`
	LoginP50MS float64 `json:"login_p50_ms"`
	LoginP99MS float64 `json:"login_p99_ms"`
	// IdleCPUPercent is the node's CPU with every leg up and no call: the
	// nailed-up legs' silence both ways, keep-alives, leases.
	IdleCPUPercent float64 `json:"idle_cpu_percent"`
}

// spread is a distribution in milliseconds.
type spread struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

type callsPhase struct {
	Placed    int            `json:"placed"`
	Answered  int            `json:"answered"`
	Failed    map[string]int `json:"failed,omitempty"`
	Bridged   int            `json:"bridged"`
	Immediate int            `json:"bridged_at_answer"`  // an agent was ready at answer
	Waited    int            `json:"bridged_after_wait"` // waited for an agent to come free
	Abandoned int            `json:"abandoned"`
	Waiting   string         `json:"waiting"` // what a call with no agent does
	PeakCalls int            `json:"peak_calls"`
	// AnswerToBridge: the debtor's 200 OK received → the first debtor RTP
	// packet forwarded to the agent, for calls an agent was ready for.
	AnswerToBridge spread `json:"answer_to_bridge"`
	// ReadyToBridge: for a call that waited, its agent coming free (ready
	// again after the previous call) → the first debtor packet forwarded.
	ReadyToBridge spread `json:"ready_to_bridge"`
	// Routing is both together: what the node takes to put a debtor
	// through once there is an agent.
	Routing spread `json:"routing"`
	// Setup is the node's part of Routing: the same start → the bridge
	// made (agent reserved in Redis, its leg's session, media.NewBridge).
	// The rest is the wait for the debtor's next packet (one every 20 ms).
	Setup spread `json:"setup"`
	// PacketWait is the rest: the bridge made → the debtor's next packet
	// forwarded. SilentAtBridge counts the bridges made before the
	// debtor's first packet had arrived at all (the far end had not
	// started sending yet).
	PacketWait spread `json:"packet_wait"`
	// Reserve is the Redis round trip that got the agent, as a campaign
	// takes it (Pool.ReserveFor: the account's pin and the reserve in one
	// script call; part of Setup).
	Reserve spread `json:"reserve"`
	// For the calls an agent was ready for, the answer → our leg's first
	// RTP packet sent (Session.FirstSent; negative: before the answer was
	// stamped), and → the debtor's first packet heard (FirstReceived: the
	// simulator sends once it has heard us).
	AnswerToFirstSent  spread `json:"answer_to_first_sent"`
	AnswerToFirstHeard spread `json:"answer_to_first_heard"`
	SilentAtBridge     int    `json:"bridged_before_first_debtor_packet"`
	// QueueWait: answer → an agent free, for the calls that waited.
	QueueWait spread `json:"queue_wait"`
	// RelayDebtorToAgent: per packet, read on the debtor leg's socket →
	// written to the agent's (BridgeOptions.OnRelay); microseconds here.
	RelayDebtorToAgent latencyUS `json:"relay_debtor_to_agent"`
	RelayAgentToDebtor latencyUS `json:"relay_agent_to_debtor"`
	Dropped            uint64    `json:"relay_dropped"`
	TwoWay             int       `json:"bridges_with_audio_both_ways"`
	CallSeconds        float64   `json:"bridged_call_seconds"`
	WallS              float64   `json:"wall_s"`
	CPUSeconds         float64   `json:"cpu_s"`
	// CPUPerCallSecond is the node's CPU over the calls (SIP, Redis,
	// waiting debtors, idle legs, bridges) per bridged call-second: ms of
	// CPU a bridged call costs each second it lasts. NetOfIdle takes off
	// what the node spends with the legs up and no call.
	CPUPerCallSecondMS float64 `json:"cpu_ms_per_call_second"`
	NetOfIdleMS        float64 `json:"cpu_ms_per_call_second_net_of_idle"`
	SimCPUPercent      float64 `json:"simcarrier_cpu_percent"`
	PhonesCPUPercent   float64 `json:"phones_cpu_percent"`
	RSSMB              float64 `json:"rss_mb"`
}

type latencyUS struct {
	Packets uint64  `json:"packets"`
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p999_us"`
	Max     float64 `json:"max_us"`
}

func (l *latencyUS) from(h *histogram) {
	l.Packets = h.n.Load()
	l.P50, l.P99, l.P999 = h.quantile(0.5)*1000, h.quantile(0.99)*1000, h.quantile(0.999)*1000
	l.Max = float64(h.maxv.Load()) / 1e3
}

// relayLatency is the 1 µs histogram the relay's per-packet latency goes in.
func relayLatency() *histogram { return &histogram{unit: time.Microsecond} }

// idleCPU is the share of a core the node takes over 3 s with every leg up
// and no call: the nailed-up legs' silence both ways, keep-alives, leases.
func idleCPU(ctx context.Context) float64 {
	cpu0, t0 := selfCPU(), time.Now()
	sleepCtx(ctx, 3*time.Second)
	return float64(selfCPU()-cpu0) / float64(time.Since(t0))
}

// spreadOf is the distribution of ds (nearest rank).
func spreadOf(ds []time.Duration) spread {
	if len(ds) == 0 {
		return spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := max(0, int(math.Ceil(p*float64(len(s))))-1)
		return float64(s[i]) / 1e6
	}
	return spread{N: len(s), P50: q(0.5), P99: q(0.99), Max: float64(s[len(s)-1]) / 1e6}
}

func printBridgeBench(w io.Writer, o BridgeOptions, r bridgeBench) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Machine
	fmt.Fprintf(tw, "machine\t%d CPUs, load average %s at start, %s at end; simulator and phones in their own processes at nice %d\n",
		m.CPUs, m.LoadStart, m.LoadEnd, m.FarNice)
	ag := r.Agents
	fmt.Fprintf(tw, "agents\t%d registered (digest) and logged in, nailed-up legs up; login p50 %.1f ms, p99 %.1f ms; node idle with the legs up: %.1f%% of a core\n",
		ag.Agents, ag.LoginP50MS, ag.LoginP99MS, ag.IdleCPUPercent)
	c := r.Calls
	fmt.Fprintf(tw, "calls\t%d placed at %g/s, %d answered, %d bridged (%d at answer, %d after waiting), %d abandoned, failed %v; peak %d calls up; no agent: %s; AMD fed while bridged: %v\n",
		c.Placed, o.CPS, c.Answered, c.Bridged, c.Immediate, c.Waited, c.Abandoned, c.Failed, c.PeakCalls, c.Waiting, o.AMD)
	sp := func(name string, s spread) {
		if s.N > 0 {
			fmt.Fprintf(tw, "  %s\tp50 %.2f ms, p99 %.2f ms, max %.2f ms (%d calls)\n", name, s.P50, s.P99, s.Max, s.N)
		}
	}
	sp("answer → bridged", c.AnswerToBridge)
	sp("agent free → bridged", c.ReadyToBridge)
	sp("  answer → our first packet sent", c.AnswerToFirstSent)
	sp("  answer → debtor's first heard", c.AnswerToFirstHeard)
	sp("routing (both)", c.Routing)
	sp("  of which setup", c.Setup)
	sp("    of which Redis (pin, reserve)", c.Reserve)
	sp("  then the debtor's packet", c.PacketWait)
	if c.SilentAtBridge > 0 {
		fmt.Fprintf(tw, "  \t%d bridges were made before the debtor's first packet had arrived\n", c.SilentAtBridge)
	}
	sp("queue wait", c.QueueWait)
	lat := func(name string, l latencyUS) {
		fmt.Fprintf(tw, "  %s\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs over %d packets\n", name, l.P50, l.P99, l.P999, l.Max, l.Packets)
	}
	lat("relay debtor → agent", c.RelayDebtorToAgent)
	lat("relay agent → debtor", c.RelayAgentToDebtor)
	fmt.Fprintf(tw, "  bridges\t%d with audio both ways, %d packets dropped, %.0f call-seconds bridged\n", c.TwoWay, c.Dropped, c.CallSeconds)
	fmt.Fprintf(tw, "  CPU\tnode %.2f s over %.1f s: %.2f ms per bridged call-second (%.2f net of idle); simulator %.0f%%, phones %.0f%% of a core; node RSS %.0f MB\n",
		c.CPUSeconds, c.WallS, c.CPUPerCallSecondMS, c.NetOfIdleMS, c.SimCPUPercent, c.PhonesCPUPercent, c.RSSMB)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(tw, "baseline\t%d socket pairs, %.0f packets/s each way, %gs per phase, same sockets for both forwarders\n", b.Pairs, b.PacketsPerS/2, b.MeasureS)
		for _, f := range []struct {
			name string
			p    forwarderPhase
		}{{"bare forwarder", b.Bare}, {"bridge", b.Relay}} {
			fmt.Fprintf(tw, "  %s\tp50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs; CPU %.2f µs per packet (over the phones-only phase)\n",
				f.name, f.p.Latency.P50, f.p.Latency.P99, f.p.Latency.P999, f.p.Latency.Max, f.p.CPUusPerPacket)
		}
		fmt.Fprintf(tw, "  bridge / bare\tlatency p99 %.2f×, CPU per packet %.2f× (goal: within 2×); the calls' relay p99 is %.2f× this bare p99\n",
			b.LatencyP99Ratio, b.CPURatio, b.CallsRelayP99Ratio)
	}
	tw.Flush()
}
