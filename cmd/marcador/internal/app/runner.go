package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/ivr/paylink"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/promise"
)

// newRunner builds the campaign runner from the config.
// ready (may be nil) holds the runner while Redis lost its data; agents
// are the Agents part's options (Agents, Desk, History, RecordingsDir).
func newRunner(cfg config.Config, store *queue.Store, gate *compliance.Gate, ep *dialer.Endpoint, w campaign.Writer,
	promises *promise.Ledger, sendSMS func(context.Context, campaign.SMSRequest) error, ready func() error, log *slog.Logger,
	agents campaign.Options) (*campaign.Runner, error) {
	scripts, err := script.LoadDir(cfg.IVR.ScriptsDir)
	if err != nil {
		return nil, err
	}
	lib := prompts.NewLibrary(cfg.IVR.PromptsDir)
	if err := checkPhrases(scripts, lib); err != nil {
		return nil, err
	}
	in := cfg.IVR.Inbound
	inScript := in.Script
	if inScript == "" {
		inScript = "inbound-callback"
	}
	if scripts[inScript] == nil {
		return nil, fmt.Errorf("ivr.inbound.script %q: no such script", inScript)
	}
	if err := scripts[inScript].CheckInbound(); err != nil {
		return nil, fmt.Errorf("ivr.inbound.script %q: %w", inScript, err)
	}
	trunks := map[string]*dialer.Trunk{}
	for _, tc := range cfg.Trunks {
		t, err := dialer.NewTrunk(tc)
		if err != nil {
			return nil, err
		}
		if t.CallerID == "" {
			// Campaigns live in Redis: whether one that uses this trunk has
			// a caller id of its own is checked when it starts.
			log.Warn("trunk has no caller_id: only campaigns with their own caller_id can dial through it", "trunk", t.Name)
		}
		trunks[t.Name] = t
	}
	refs, err := campaignRefs(cfg, scripts)
	if err != nil {
		return nil, err
	}
	return campaign.New(campaign.Options{Store: store, Gate: gate, Endpoint: ep, Trunks: trunks, Writer: w, Scripts: scripts,
		Library: lib, Node: cfg.NodeID, Logger: log, Promises: promises, SendSMS: sendSMS, Ready: ready, Refs: refs,
		Agents: agents.Agents, Desk: agents.Desk, History: agents.History, RecordingsDir: agents.RecordingsDir,
		Signer: paylink.Signer{Key: []byte(cfg.PayLinks.Secret), TTL: cfg.PayLinks.TTL},
		Inbound: campaign.InboundOptions{Numbers: in.Numbers, Script: in.Script, Language: in.Language, Country: in.Country,
			Campaign: in.Campaign, Verify: in.Verify,
			Lockout: queue.IdentityLimits{PerNumber: in.Lockout.PerNumber, PerSource: in.Lockout.PerSource, Window: in.Lockout.Window}}}), nil
}

// checkPhrases fails when a script plays a phrase that has no recording in
// one of its languages, so the gap shows at start and not on a debtor's call.
func checkPhrases(scripts map[string]*script.Script, lib *prompts.Library) error {
	for _, s := range scripts {
		langs := s.Languages
		if len(langs) == 0 {
			langs = []string{"es", "en"}
		}
		for _, p := range s.Prompts() {
			for _, l := range langs {
				if !lib.Has(l + "/" + p) {
					return fmt.Errorf("script %s (%s): phrase %s has no recording %s/%s.wav (add it to ivr.prompts_dir)", s.Name, s.File, p, l, p)
				}
			}
		}
	}
	return nil
}
