package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/marcador/marcador/analytics"
)

// ExplainRequest asks why a contact would or would not be allowed.
type ExplainRequest struct {
	Profile         string            `json:"profile"` // a profile name or "auto"
	Phone           string            `json:"phone"`
	Account         string            `json:"account,omitempty"`
	NationalID      string            `json:"national_id,omitempty"`
	Country         string            `json:"country,omitempty"`
	Campaign        string            `json:"campaign,omitempty"`
	Zone            string            `json:"zone,omitempty"` // the account's zone, if known
	Channel         analytics.Channel `json:"channel"`
	At              time.Time         `json:"at"`
	AgentGuaranteed bool              `json:"agent_guaranteed,omitempty"`
}

// Explanation is what `marcador compliance explain` and
// GET /api/v1/compliance/explain print.
type Explanation struct {
	Allowed     bool     `json:"allowed"`
	Reason      string   `json:"reason"`
	Rule        string   `json:"rule"`
	Profile     string   `json:"profile"`
	LocalTime   string   `json:"local_time"`
	NextAllowed string   `json:"next_allowed"` // RFC 3339 in the debtor's zone; "" when none within 400 days
	Warnings    []string `json:"warnings,omitempty"`
}

// Explain decides r against the debtor's real history, recording nothing.
func (g *Gate) Explain(ctx context.Context, r ExplainRequest) (Explanation, error) {
	if r.Phone == "" {
		return Explanation{}, fmt.Errorf("explain: phone is required")
	}
	if r.Channel == "" {
		r.Channel = analytics.Voice
	}
	if !r.Channel.Valid() {
		return Explanation{}, fmt.Errorf("explain: channel %q: want voice, sms or whatsapp", r.Channel)
	}
	if r.At.IsZero() {
		r.At = g.opt.Now()
	}
	s := Subject{Phone: r.Phone, Account: r.Account, NationalID: r.NationalID, Country: r.Country, TimeZone: r.Zone, Campaign: r.Campaign}
	p, err := g.Profile(r.Profile, s)
	if err != nil {
		return Explanation{}, err
	}
	d, err := g.Check(ctx, p, s, r.Channel, r.At, r.AgentGuaranteed)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Allowed: d.Allowed, Reason: d.Reason, Rule: d.Rule, Profile: p.Name, Warnings: d.Warnings}
	if d.Rule == "" && !d.Allowed {
		e.Rule = "none"
	}
	loc := d.LocalTime.Location()
	e.LocalTime = d.LocalTime.Format(time.RFC3339)
	if !d.NextAllowed.IsZero() {
		e.NextAllowed = d.NextAllowed.In(loc).Format(time.RFC3339)
	}
	return e, nil
}
