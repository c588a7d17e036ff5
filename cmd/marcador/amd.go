package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/marcador/marcador/dialer/amd"
)

func runAMD(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("amd", "amd [-params FILE.yaml] [-profile human-first|reference] [-json] [-trace] FILE.wav...\n\n"+
		"Classifies recordings of answered calls as the dialer would: human, machine, notsure or hangup\n"+
		"(a recording that ends undecided is a hangup), with the rule that decided, when, and for a\n"+
		"machine where its beep starts. Parameters come from -params (an amd: block: a profile and the\n"+
		"keys it overrides; see README) or -profile; once campaigns carry amd: parameters,\n"+
		"-config FILE -campaign ID will select a campaign's.", stderr)
	paramsFile := fs.String("params", "", "YAML file of AMD parameters (profile: and overrides)")
	profile := fs.String("profile", "", "a profile without overrides: human-first (default) or reference")
	asJSON := fs.Bool("json", false, `one JSON object per file: {"file","result","cause","decision_ms","beep_ms","beep"}`)
	trace := fs.Bool("trace", false, "show each file's frames, a second a line: . silence, v voice, t tone, | the decision, b the beep search's end (to stderr with -json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("no WAV files given")
	}
	p, err := amd.Profile(*profile)
	if err != nil {
		return err
	}
	if *paramsFile != "" {
		if *profile != "" {
			return fmt.Errorf("-params and -profile: give one (a params file names its profile)")
		}
		b, err := os.ReadFile(*paramsFile)
		if err != nil {
			return err
		}
		if p, err = amd.ParseParams(b); err != nil {
			return fmt.Errorf("%s: %w", *paramsFile, err)
		}
	}
	enc := json.NewEncoder(stdout)
	failed := 0
	for _, f := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		x, err := amd.LoadWAV(f)
		if err != nil {
			fmt.Fprintf(stderr, "marcador amd: %v\n", err)
			failed++
			continue
		}
		d, err := amd.New(p)
		if err != nil {
			return err
		}
		var strip []byte
		if *trace {
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
		o := d.Run(x)
		if *trace {
			w := stdout
			if *asJSON {
				w = stderr
			}
			writeStrip(w, f, strip, o)
		}
		r := o.Report(f)
		if *asJSON {
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
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%d ms\t%s\n", f, r.Result, r.Cause, r.DecisionMS, beep)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be read", failed, fs.NArg())
	}
	return nil
}

// writeStrip prints a trace: one line per second of audio (50 frames).
func writeStrip(w io.Writer, file string, strip []byte, o amd.Outcome) {
	mark := func(at time.Duration, c byte) {
		if i := int(at/(20*time.Millisecond)) - 1; i >= 0 && i < len(strip) {
			strip[i] = c
		}
	}
	mark(o.Decision.At, '|')
	if o.Beep.Outcome != "" {
		mark(o.Beep.At, 'b')
	}
	fmt.Fprintf(w, "%s:\n", file)
	for i := 0; i < len(strip); i += 50 {
		fmt.Fprintf(w, "  %3ds %s\n", i/50, strip[i:min(i+50, len(strip))])
	}
}
