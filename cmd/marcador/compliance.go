package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/cmd/marcador/internal/app"
	"github.com/marcador/marcador/queue/compliance"
)

func runCompliance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "explain" {
		fmt.Fprintf(stderr, "usage: marcador compliance explain [flags]\n\n  explain  may this debtor be contacted at this instant, by which rule, and when next\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return fmt.Errorf("which compliance command? (explain)")
	}
	fs := newFlags("compliance explain", "compliance explain -config FILE -profile CO|auto -phone +57... [-account ID] [-at RFC3339] [-channel voice] -json", stderr)
	cfgPath := fs.String("config", "", "YAML config file")
	var r compliance.ExplainRequest
	fs.StringVar(&r.Profile, "profile", "auto", "profile: US, UK, CO, MX, CL, PE, a configured one, or auto (the number's country)")
	fs.StringVar(&r.Phone, "phone", "", "the debtor's number, E.164")
	fs.StringVar(&r.Account, "account", "", "account id (debt-scoped caps, and finds the debtor's history)")
	fs.StringVar(&r.NationalID, "national-id", "", "national id (the debtor across accounts)")
	fs.StringVar(&r.Country, "country", "", "the account's country (for -national-id and profile auto)")
	fs.StringVar(&r.Campaign, "campaign", "", "campaign (its do-not-contact list)")
	fs.StringVar(&r.Zone, "zone", "", "the account's time zone, when it has one (default: from the number)")
	channel := fs.String("channel", "voice", "voice, sms or whatsapp")
	atStr := fs.String("at", "", "the instant, RFC 3339 (default now)")
	fs.BoolVar(&r.AgentGuaranteed, "agent-guaranteed", false, "an agent is guaranteed for the call (UK abandon rule)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	r.Channel = analytics.Channel(*channel)
	if *atStr != "" {
		t, err := time.Parse(time.RFC3339, *atStr)
		if err != nil {
			return fmt.Errorf("-at %q: want RFC 3339, e.g. 2026-12-08T10:00:00-05:00", *atStr)
		}
		r.At = t
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Options{Config: cfg, Parts: app.ReadGate, Logger: app.NewLogger(cfg.Log, stderr)})
	if err != nil {
		return err
	}
	defer a.Close()
	e, err := a.Gate.Explain(ctx, r)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(e)
	}
	verdict := "ALLOWED"
	if !e.Allowed {
		verdict = "BLOCKED"
	}
	fmt.Fprintf(stdout, "%s under %s at %s: %s\n", verdict, e.Profile, e.LocalTime, e.Reason)
	if e.Rule != "" {
		fmt.Fprintf(stdout, "rule: %s\n", e.Rule)
	}
	if !e.Allowed {
		fmt.Fprintf(stdout, "next allowed: %s\n", e.NextAllowed)
	}
	for _, w := range e.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return nil
}
