//go:build !prod

package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/dialer/simcarrier"
	"github.com/marcador/marcador/ivr/media"
)

func runSimCarrier(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simcarrier", "simcarrier [-listen ADDR] [-by-last-digit] [-mix human=4,machine=2,...] [-ring 1s-4s] [-talk 20s-60s] [-digits 1]", stderr)
	listen := fs.String("listen", "127.0.0.1:15090", "SIP UDP address to answer on")
	rtp := fs.String("rtp-ports", "50000-59999", "RTP port range")
	byDigit := fs.Bool("by-last-digit", true, "the number's last digit picks the outcome: 0-3 human, 4-5 machine, 6 busy, 7 no answer, 8 invalid, 9 network error")
	mix := fs.String("mix", "", "outcome weights when -by-last-digit=false, e.g. human=40,machine=20,busy=10,no_answer=20,invalid=5,network_error=5")
	ring := fs.String("ring", "1s-4s", "ring time before answer or rejection, uniform MIN-MAX")
	talk := fs.String("talk", "20s-60s", "a human hangs up after this, uniform MIN-MAX")
	digits := fs.String("digits", "1", "keys a human presses (RFC 4733); '/' waits -digits-after again")
	after := fs.Duration("digits-after", 2500*time.Millisecond, "a human presses keys this long after answering")
	heard := fs.Duration("heard", time.Second, "a human presses each part of -digits only after hearing this much speech since the last")
	patience := fs.Duration("patience", 10*time.Second, "a human hangs up when nobody speaks to them for this long")
	seed := fs.Uint64("seed", 1, "random seed (same seed, same calls)")
	continuous := fs.Bool("continuous", false, "humans talk without pauses and press no keys (load tests)")
	logLevel := fs.String("log", "warn", "log level: debug, info, warn, error")
	rtpSockets := fs.Int("rtp-sockets", 0, "carry every call's RTP on this many shared sockets (0: one socket per call)")
	pacerShards := fs.Int("pacer-shards", 0, "goroutines pacing the calls' RTP on staggered 20 ms ticks (0: the dialer's default)")
	tonePrefix := fs.String("tone-prefix", "", "numbers PREFIX+HHHH... are tone lines: they play HHHH Hz and print the first steady tone they hear (load tests' proof that audio crossed a bridge)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opt := simcarrier.Options{Listen: *listen, ByLastDigit: *byDigit, Digits: *digits, DigitsAfter: *after, Heard: *heard, Patience: *patience,
		Seed: *seed, Continuous: *continuous, RTPSockets: *rtpSockets, PacerShards: *pacerShards}
	if *tonePrefix != "" {
		var out sync.Mutex
		opt.ToneFor = func(number string) float64 { return simcarrier.ToneOfNumber(*tonePrefix, number) }
		opt.OnTone = func(number string, freq float64) {
			out.Lock()
			defer out.Unlock()
			fmt.Fprintf(stdout, "simcarrier: tone heard on %s: %.0f Hz\n", number, freq)
		}
	}
	var err error
	if opt.RTPPorts, err = parsePorts(*rtp); err != nil {
		return fmt.Errorf("-rtp-ports: %w", err)
	}
	if opt.Ring, err = parseRange(*ring); err != nil {
		return fmt.Errorf("-ring: %w", err)
	}
	if opt.Talk, err = parseRange(*talk); err != nil {
		return fmt.Errorf("-talk: %w", err)
	}
	if *mix != "" {
		if opt.Mix, err = parseMix(*mix); err != nil {
			return fmt.Errorf("-mix: %w", err)
		}
	}
	cfg, _ := loadConfig("")
	cfg.Log.Level = *logLevel
	opt.Logger = app.NewLogger(cfg.Log, stderr)
	c, err := simcarrier.Start(opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simcarrier: answering on %s (by last digit: %v); Ctrl-C stops\n", c.Addr(), *byDigit)
	<-ctx.Done()
	st := c.Stats()
	c.Close()
	fmt.Fprintf(stdout, "simcarrier: offered %d, answered %d, rejected %d, cancelled %d, hung up unspoken to %d; by outcome %v\n",
		st.Offered, st.Answered, st.Rejected, st.Cancelled, st.Unheard, st.ByOutcome)
	return nil
}

func parsePorts(s string) (media.PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil {
		return media.PortRange{}, fmt.Errorf("%q: want MIN-MAX", s)
	}
	r := media.PortRange{Min: a, Max: b}
	return r, r.Validate()
}

func parseRange(s string) (simcarrier.Range, error) {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		hi = lo
	}
	a, err1 := time.ParseDuration(lo)
	b, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || a < 0 || b < a {
		return simcarrier.Range{}, fmt.Errorf("%q: want MIN-MAX durations, e.g. 1s-4s", s)
	}
	if b == 0 {
		a, b = 1, 1 // Range's zero value means "the default"; this means "at once"
	}
	return simcarrier.Range{Min: a, Max: b}, nil
}

func parseMix(s string) (map[simcarrier.Outcome]float64, error) {
	known := map[simcarrier.Outcome]bool{}
	for _, o := range simcarrier.Outcomes {
		known[o] = true
	}
	m := map[simcarrier.Outcome]float64{}
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || w < 0 {
			return nil, fmt.Errorf("%q: want outcome=weight", part)
		}
		if !known[simcarrier.Outcome(k)] {
			return nil, fmt.Errorf("%q: unknown outcome (want %v)", k, simcarrier.Outcomes)
		}
		m[simcarrier.Outcome(k)] = w
	}
	return m, nil
}
