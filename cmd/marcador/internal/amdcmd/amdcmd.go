// Package amdcmd is `marcador amd`: answering-machine detection on WAV
// recordings of answered calls, as the dialer would run it.
package amdcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/marcador/marcador/dialer/amd"
)

// Options of `marcador amd`.
type Options struct {
	Profile    string   // a profile without overrides: human-first (default) or reference
	ParamsFile string   // YAML file of AMD parameters (profile: and overrides); not with Profile
	JSON       bool     // one JSON object per file: {"file","result","cause","decision_ms","beep_ms","beep"[,"revised_from","first_decision_ms"]}
	Trace      bool     // show each file's frames, a second a line (to stderr with JSON)
	Files      []string // WAV recordings

	// Block is a campaign's amd block's detector keys (queue.AMD.Params,
	// read from Redis by the caller), named by From; not with Profile or
	// ParamsFile. Empty but for From: the human-first profile.
	Block []byte
	From  string
}

// Classify says for each file: human, machine, notsure or hangup (a
// recording that ends undecided is a hangup), the rule that decided, when,
// and for a machine where its beep starts. A file that cannot be read is
// reported on stderr and the others are still classified.
func Classify(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	p, err := params(o)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	failed := 0
	for _, f := range o.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, err := amd.LoadWAV(f)
		if err != nil {
			fmt.Fprintf(stderr, "marcador amd: %v\n", err)
			failed++
			continue
		}
		r, err := classify(p, f, x, o, stdout, stderr)
		if err != nil {
			return err
		}
		if o.JSON {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		beep := "-"
		if r.BeepMS != nil {
			beep = fmt.Sprintf("beep at %d ms", *r.BeepMS)
		} else if r.Beep != "" {
			beep = "no beep (" + string(r.Beep) + ")"
		}
		revised := ""
		if r.FirstMS != nil {
			revised = fmt.Sprintf("\t(%s at %d ms, revised)", r.RevisedFrom, *r.FirstMS)
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%d ms\t%s%s\n", f, r.Result, r.Cause, r.DecisionMS, beep, revised)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be read", failed, len(o.Files))
	}
	return nil
}

// params are a campaign's block (Options.From), Options.ParamsFile's
// parameters, or Options.Profile's.
func params(o Options) (amd.Params, error) {
	if o.From != "" {
		if o.ParamsFile != "" || o.Profile != "" {
			return amd.Params{}, fmt.Errorf("-campaign with -params or -profile: give one (the campaign's amd block names its profile)")
		}
		p, err := amd.ParseParams(o.Block)
		if err != nil {
			return amd.Params{}, fmt.Errorf("%s: %w", o.From, err)
		}
		return p, nil
	}
	if o.ParamsFile == "" {
		return amd.Profile(o.Profile)
	}
	if o.Profile != "" {
		return amd.Params{}, fmt.Errorf("-params and -profile: give one (a params file names its profile)")
	}
	b, err := os.ReadFile(o.ParamsFile)
	if err != nil {
		return amd.Params{}, err
	}
	p, err := amd.ParseParams(b)
	if err != nil {
		return amd.Params{}, fmt.Errorf("%s: %w", o.ParamsFile, err)
	}
	return p, nil
}

// classify runs a detector with p over one recording, printing its trace
// when asked.
func classify(p amd.Params, file string, x []int16, o Options, stdout, stderr io.Writer) (amd.Report, error) {
	d, err := amd.New(p)
	if err != nil {
		return amd.Report{}, err
	}
	var strip []byte
	if o.Trace {
		d.Trace(func(fr amd.Frame) {
			c := byte('.')
			switch {
			case fr.Tone:
				c = 't'
			case fr.Voice:
				c = 'v'
			}
			strip = append(strip, c)
		})
	}
	out := d.Run(x)
	if o.Trace {
		w := stdout
		if o.JSON {
			w = stderr
		}
		writeStrip(w, file, strip, out)
	}
	return out.Report(file), nil
}

// writeStrip prints a trace: one line per second of audio (50 frames).
func writeStrip(w io.Writer, file string, strip []byte, o amd.Outcome) {
	mark := func(at time.Duration, c byte) {
		if i := int(at/(20*time.Millisecond)) - 1; i >= 0 && i < len(strip) {
			strip[i] = c
		}
	}
	mark(o.Decision.At, '|')
	if o.Decision.Revised {
		mark(o.Decision.FirstAt, '|')
		mark(o.Decision.At, 'r')
	}
	if o.Beep.Outcome != "" {
		mark(o.Beep.At, 'b')
	}
	fmt.Fprintf(w, "%s:\n", file)
	for i := 0; i < len(strip); i += 50 {
		fmt.Fprintf(w, "  %3ds %s\n", i/50, strip[i:min(i+50, len(strip))])
	}
}
