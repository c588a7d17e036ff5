package app

import (
	"slices"

	"github.com/marcador/marcador/cmd/marcador/internal/config"
	"github.com/marcador/marcador/dialer/amd"
	"github.com/marcador/marcador/dialer/campaign"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/sms"
)

// campaignRefs is what campaigns may name on this node: the configured
// trunks and compliance profiles, the loaded scripts (with the templates
// their sms nodes send) and the message templates. The API checks a
// campaign against it at create, the runner again at start.
func campaignRefs(cfg config.Config, scripts map[string]*script.Script) (queue.CampaignRefs, error) {
	tpls, err := sms.LoadTemplates(cfg.SMS.TemplatesDir)
	if err != nil {
		return queue.CampaignRefs{}, err
	}
	r := queue.CampaignRefs{Trunks: map[string]bool{}, Profiles: map[string]bool{}, Scripts: map[string][]string{},
		Template: tpls.Known, AMDParams: checkAMDParams}
	for _, t := range cfg.Trunks {
		r.Trunks[t.Name] = true
	}
	for name := range cfg.Profiles() {
		r.Profiles[name] = true
	}
	for name, s := range scripts {
		texts := []string{}
		for _, n := range s.Nodes {
			if n.SMS != nil && !slices.Contains(texts, n.SMS.Template) {
				texts = append(texts, n.SMS.Template)
			}
		}
		slices.Sort(texts)
		r.Scripts[name] = texts
	}
	r.Discloses = campaign.Disclosures(scripts)
	return r, nil
}

// checkAMDParams is a campaign's amd block's detector parameters through
// dialer/amd's one parser (the dialer reads them the same way).
func checkAMDParams(p []byte) error {
	_, err := amd.ParseParams(p)
	return err
}
