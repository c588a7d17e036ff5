package main

import (
	"context"
	"fmt"
	"io"

	"github.com/marcador/marcador/cmd/marcador/internal/amdcmd"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
)

func runAMD(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("amd", "amd [-params FILE.yaml | -profile human-first|reference | -config FILE -campaign ID] [-json] [-trace] FILE.wav...\n\n"+
		"Classifies recordings of answered calls as the dialer would: human, machine, notsure or hangup\n"+
		"(a recording that ends undecided is a hangup), with the rule that decided, when, and for a\n"+
		"machine where its beep starts. Parameters come from -params (an amd: block: a profile and the\n"+
		"keys it overrides; see README), -profile, or -campaign ID: that campaign's amd block as stored\n"+
		"in Redis (-config FILE names the Redis).", stderr)
	var o amdcmd.Options
	fs.StringVar(&o.ParamsFile, "params", "", "YAML file of AMD parameters (profile: and overrides)")
	fs.StringVar(&o.Profile, "profile", "", "a profile without overrides: human-first (default) or reference")
	cfgPath := fs.String("config", "", "YAML config file (its redis: is where -campaign is read)")
	campaign := fs.String("campaign", "", "classify with this campaign's amd block (read from Redis; needs -config)")
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
	if *campaign != "" {
		if err := campaignAMD(ctx, *cfgPath, *campaign, &o, stderr); err != nil {
			return err
		}
	} else if *cfgPath != "" {
		return fmt.Errorf("-config without -campaign: the config is only read for a campaign's amd block")
	}
	return amdcmd.Classify(ctx, o, stdout, stderr)
}

// campaignAMD reads campaign id's amd block from the Redis the config at
// path names into o.
func campaignAMD(ctx context.Context, path, id string, o *amdcmd.Options, stderr io.Writer) error {
	if path == "" {
		return fmt.Errorf("-campaign %s: give -config FILE (its redis: holds the campaign)", id)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.Redis, Logger: app.NewLogger(cfg.Log, stderr), Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	c, err := a.Store.Campaign(ctx, id)
	if err != nil {
		return fmt.Errorf("campaign %s: %w", id, err)
	}
	if c.AMD == nil {
		return fmt.Errorf("campaign %s has no amd block (its calls are not screened); use -profile or -params", id)
	}
	if !c.AMDOnCalls() {
		fmt.Fprintf(stderr, "marcador amd: campaign %s has amd mode %s; classifying with its parameters anyway\n", id, c.AMD.Mode)
	}
	o.Block, o.From = c.AMD.Params, "campaign "+id+" amd block"
	return nil
}
