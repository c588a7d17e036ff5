package bench

import (
	"context"
	"io"
	"time"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
)

// Held is what Hold measured: calls held at once on the configured media
// engine, as bench sip's concurrency phase reports them.
type Held struct {
	Engine        string // "shared sockets (4, batched)", say
	Calls, Up     int    // asked for, answered
	TwoWay        int    // with audio both ways through the measurement
	Measured      time.Duration
	IntervalP50MS float64 // our RTP send interval
	IntervalP99MS float64
	IntervalMaxMS float64
	CPUPercent    float64 // the dialer's process, of one core
}

// Hold holds calls at once against the carrier simulator (a child process
// of this binary, as bench sip starts it) for measure, on the engine
// cfg configures: bench sip's concurrency phase alone, for the demo.
func Hold(ctx context.Context, cfg config.Config, calls int, measure time.Duration, version string, stderr io.Writer) (Held, error) {
	o := SIPOptions{Config: cfg, Concurrent: calls, Measure: measure, SimCPU: DefaultSimCPU(), SimNice: DefaultSimNice, Version: version}
	run, err := runEngine(ctx, o, cfg.SIP.RTPSockets, false, &sipBench{}, stderr)
	if err != nil {
		return Held{}, err
	}
	c := run.Concurrent
	return Held{Engine: run.Engine, Calls: calls, Up: c.Up, TwoWay: c.TwoWay, Measured: measure,
		IntervalP50MS: c.IntervalP50MS, IntervalP99MS: c.IntervalP99MS, IntervalMaxMS: c.IntervalMaxMS,
		CPUPercent: c.CPUPercent}, nil
}
