package queue

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/marcador/marcador/queue/phone"
)

// VoiceDispositions are the outcomes of a call a fallback rule can follow.
func VoiceDispositions() []string {
	return []string{"answered", "busy", "no_answer", "rejected", "invalid_number", "network_error", "config_error",
		"cancelled", "machine", "abandoned", "ivr_error"}
}

// Duration is a time.Duration written as "90s", "30m", "48h" in JSON and YAML.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Campaign modes.
const (
	ModeIVR         = "ivr"         // agentless: reminder scripts
	ModePredictive  = "predictive"  // paced against agent availability
	ModeProgressive = "progressive" // one line per idle agent
)

// ProfileAuto applies to each debtor the compliance profile of the account's
// own country, for campaigns that span countries.
const ProfileAuto = "auto"

// RetryPolicy says when an account is tried again after an attempt.
type RetryPolicy struct {
	// MaxAttempts per account in this campaign; 0 means the default, 6.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Delays per disposition (busy, no_answer, machine, network_error, ...);
	// "default" applies to the rest.
	Delays map[string]Duration `json:"delays,omitempty"`
}

// PromisePolicy bounds the promises an IVR campaign accepts.
type PromisePolicy struct {
	MaxDays    int     `json:"max_days,omitempty"`    // latest due date, days ahead; default 15
	MinAmount  float64 `json:"min_amount,omitempty"`  // smallest amount
	MinPercent float64 `json:"min_percent,omitempty"` // smallest share of the balance, 0-100
	GraceDays  int     `json:"grace_days,omitempty"`  // a promise is broken this many days after its date without payment; default 2
}

// FallbackRule sends a message after a voice attempt: after one of the
// dispositions in After, or once the account has had AfterAttempts voice
// attempts in the campaign (both, when both are set).
type FallbackRule struct {
	After         []string `json:"after,omitempty"`          // no_answer, busy, machine, rejected, network_error, ...
	AfterAttempts int      `json:"after_attempts,omitempty"` //
	Template      string   `json:"template"`                 // e.g. missed-call
	Channel       string   `json:"channel,omitempty"`        // sms (default) or whatsapp
	Delay         Duration `json:"delay,omitempty"`          // wait after the call; default at once
}

// Matches reports whether a voice attempt with disposition, the account's
// attempt-th, calls for this rule's message.
func (r FallbackRule) Matches(disposition string, attempt int) bool {
	if len(r.After) > 0 && !slices.Contains(r.After, disposition) {
		return false
	}
	return r.AfterAttempts == 0 || attempt >= r.AfterAttempts
}

// SMSPolicy is how a campaign texts.
type SMSPolicy struct {
	Fallback []FallbackRule `json:"fallback,omitempty"`
	// Transliterate rewrites messages to GSM-7 (á→a), so a Spanish text
	// costs 160-character segments instead of 70.
	Transliterate bool `json:"transliterate,omitempty"`
	// TemplatePeriod: the same template never reaches the same debtor twice
	// within it; default 168h (a week).
	TemplatePeriod Duration `json:"template_period,omitempty"`
}

// Campaign is a campaign's definition as the API stores it.
type Campaign struct {
	ID       string      `json:"id"`
	Name     string      `json:"name"`
	Mode     string      `json:"mode"`
	Trunk    string      `json:"trunk,omitempty"`
	CallerID string      `json:"caller_id,omitempty"`
	TimeZone string      `json:"time_zone"` // default IANA zone for debtors
	Country  string      `json:"country"`   // ISO 3166-1 alpha-2: default region for numbers
	Profile  string      `json:"profile"`   // compliance profile: US, UK, CO, MX, CL, PE, a configured one, or ProfileAuto
	Currency string      `json:"currency,omitempty"`
	Retry    RetryPolicy `json:"retry"`
	// IVR campaigns.
	Script         string        `json:"script,omitempty"`          // e.g. reminder-overdue
	MaxConcurrent  int           `json:"max_concurrent,omitempty"`  // calls at once; default 10
	Language       string        `json:"language,omitempty"`        // es or en; default by country
	CallbackNumber string        `json:"callback_number,omitempty"` // said by abandon and voicemail messages
	PayURL         string        `json:"pay_url,omitempty"`         // payment link template: {token}, {account}, {campaign}
	RingTimeout    Duration      `json:"ring_timeout,omitempty"`    // default 25s, never below 15s
	Promise        PromisePolicy `json:"promise,omitempty"`
	Company        string        `json:"company,omitempty"` // who the messages say they come from
	SMS            SMSPolicy     `json:"sms,omitempty"`
	Created        time.Time     `json:"created_at"`
	Updated        time.Time     `json:"updated_at"`
}

var campaignIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidCampaignID reports whether id can name a campaign (it becomes part of
// Redis keys and their hash-slot tag, so braces and spaces are out).
func ValidCampaignID(id string) bool { return campaignIDRe.MatchString(id) }

// Normalize fills defaults and validates; the error names the field.
func (c *Campaign) Normalize() error {
	if !ValidCampaignID(c.ID) {
		return fmt.Errorf("campaign id %q: 1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit", c.ID)
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	c.Mode = strings.ToLower(c.Mode)
	if c.Mode == "" {
		c.Mode = ModeIVR
	}
	switch c.Mode {
	case ModeIVR, ModePredictive, ModeProgressive:
	default:
		return fmt.Errorf("campaign %s: mode %q: want ivr, predictive or progressive", c.ID, c.Mode)
	}
	c.Country = strings.ToUpper(c.Country)
	if len(c.Country) != 2 {
		return fmt.Errorf("campaign %s: country %q: want an ISO 3166 two-letter code", c.ID, c.Country)
	}
	if c.Profile == "" {
		c.Profile = c.Country
	}
	if c.TimeZone == "" {
		return fmt.Errorf("campaign %s: time_zone is required (IANA, e.g. America/Bogota)", c.ID)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return fmt.Errorf("campaign %s: time_zone %q: %w", c.ID, c.TimeZone, err)
	}
	if c.CallerID != "" && !phone.IsE164(c.CallerID) {
		return fmt.Errorf("campaign %s: caller_id %q: want an E.164 number such as +525550000100 (calls never go out anonymous)", c.ID, c.CallerID)
	}
	c.Currency = strings.ToUpper(c.Currency)
	if c.Retry.MaxAttempts < 0 {
		return fmt.Errorf("campaign %s: retry.max_attempts %d is negative", c.ID, c.Retry.MaxAttempts)
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 6
	}
	if c.MaxConcurrent < 0 || c.MaxConcurrent > 10000 {
		return fmt.Errorf("campaign %s: max_concurrent %d: want 0-10000", c.ID, c.MaxConcurrent)
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 10
	}
	if c.Language == "" {
		c.Language = "es"
		if c.Country == "US" || c.Country == "GB" || c.Country == "UK" {
			c.Language = "en"
		}
	}
	if c.Language != "es" && c.Language != "en" {
		return fmt.Errorf("campaign %s: language %q: want es or en", c.ID, c.Language)
	}
	if c.RingTimeout != 0 && time.Duration(c.RingTimeout) < 15*time.Second {
		return fmt.Errorf("campaign %s: ring_timeout %s is below the 15s minimum", c.ID, time.Duration(c.RingTimeout))
	}
	p := &c.Promise
	if p.MaxDays < 0 || p.MinAmount < 0 || p.MinPercent < 0 || p.MinPercent > 100 || p.GraceDays < 0 {
		return fmt.Errorf("campaign %s: promise: max_days, min_amount, grace_days >= 0 and min_percent 0-100", c.ID)
	}
	if p.MaxDays == 0 {
		p.MaxDays = 15
	}
	if p.GraceDays == 0 {
		p.GraceDays = 2
	}
	if c.SMS.TemplatePeriod < 0 {
		return fmt.Errorf("campaign %s: sms.template_period is negative", c.ID)
	}
	if c.SMS.TemplatePeriod == 0 {
		c.SMS.TemplatePeriod = Duration(7 * 24 * time.Hour)
	}
	for i := range c.SMS.Fallback {
		f := &c.SMS.Fallback[i]
		if f.Channel == "" {
			f.Channel = "sms"
		}
		switch {
		case f.Channel != "sms" && f.Channel != "whatsapp":
			return fmt.Errorf("campaign %s: sms.fallback[%d].channel %q: want sms or whatsapp", c.ID, i, f.Channel)
		case f.Template == "":
			return fmt.Errorf("campaign %s: sms.fallback[%d].template: empty", c.ID, i)
		case len(f.After) == 0 && f.AfterAttempts <= 0:
			return fmt.Errorf("campaign %s: sms.fallback[%d]: set after (dispositions) or after_attempts", c.ID, i)
		case f.AfterAttempts < 0 || f.Delay < 0:
			return fmt.Errorf("campaign %s: sms.fallback[%d]: after_attempts and delay must not be negative", c.ID, i)
		}
		for _, d := range f.After {
			if known := VoiceDispositions(); !slices.Contains(known, d) {
				return fmt.Errorf("campaign %s: sms.fallback[%d].after %q: want one of %s", c.ID, i, d, strings.Join(known, ", "))
			}
		}
	}
	for k, d := range c.Retry.Delays {
		if d < 0 {
			return fmt.Errorf("campaign %s: retry.delays.%s is negative", c.ID, k)
		}
	}
	return nil
}
