package main

import (
	"context"
	"fmt"
	"io"

	"github.com/marcador/marcador/cmd/marcador/internal/amdcmd"
)

func runAMD(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("amd", "amd [-params FILE.yaml] [-profile human-first|reference] [-json] [-trace] FILE.wav...\n\n"+
		"Classifies recordings of answered calls as the dialer would: human, machine, notsure or hangup\n"+
		"(a recording that ends undecided is a hangup), with the rule that decided, when, and for a\n"+
		"machine where its beep starts. Parameters come from -params (an amd: block: a profile and the\n"+
		"keys it overrides; see README) or -profile; once campaigns carry amd: parameters,\n"+
		"-config FILE -campaign ID will select a campaign's.", stderr)
	var o amdcmd.Options
	fs.StringVar(&o.ParamsFile, "params", "", "YAML file of AMD parameters (profile: and overrides)")
	fs.StringVar(&o.Profile, "profile", "", "a profile without overrides: human-first (default) or reference")
	fs.BoolVar(&o.JSON, "json", false, `one JSON object per file: {"file","result","cause","decision_ms","beep_ms","beep"}`)
	fs.BoolVar(&o.Trace, "trace", false, "show each file's frames, a second a line: . silence, v voice, t tone, | the decision, b the beep search's end (to stderr with -json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("no WAV files given")
	}
	o.Files = fs.Args()
	return amdcmd.Classify(ctx, o, stdout, stderr)
}
