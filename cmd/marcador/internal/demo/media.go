package demo

import (
	"context"
	"io"
	"time"

	"github.com/marcador/marcador/cmd/marcador/internal/bench"
)

// mediaMeasure is how long the media step measures its held calls.
const mediaMeasure = 5 * time.Second

// mediaRun holds many calls at once against the carrier simulator in a
// process of its own, on the media engine the config sets (shared sockets
// by default), and shows that every one carries audio both ways with a
// steady 20 ms send interval: what a predictive campaign's lines need.
func (r *run) mediaRun(ctx context.Context) error {
	n := r.opt.MediaCalls
	r.p("\n8. The media engine: %d calls held at once against the carrier simulator (its own process), each sending a voice prompt and receiving the simulator's audio\n", n)
	h, err := bench.Hold(ctx, r.opt.Config, n, mediaMeasure, r.opt.Version, io.Discard)
	if err != nil {
		return err
	}
	r.p("   %s: %d of %d calls up, %d with two-way audio over %s\n", h.Engine, h.Up, h.Calls, h.TwoWay, h.Measured)
	r.p("   our RTP send interval: p50 %.2f ms, p99 %.2f ms, max %.1f ms (a packet every 20 ms is the goal)\n",
		h.IntervalP50MS, h.IntervalP99MS, h.IntervalMaxMS)
	r.p("   this process (the demo's node too) used %.0f%% of a core meanwhile; `make bench-sip` holds 1,000 and 2,000 calls\n", h.CPUPercent)
	return nil
}
