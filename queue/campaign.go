package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
)

// VoiceDispositions are the outcomes of a call a fallback rule can follow:
// every outcome of a placed call (a call that never left, or was not
// allowed, is followed by nothing) but the unverified answers.
func VoiceDispositions() []string {
	return slices.DeleteFunc(analytics.CallOutcomes(), func(d string) bool { return slices.Contains(UnverifiedAnswers(), d) })
}

// UnverifiedAnswers are the outcomes of a call answered by someone who said
// they are not the debtor (wrong_party) or did not prove they are
// (not_verified). No text follows them: a reminder or a payment link sent
// to that number would tell whoever has it about the debt. A fallback rule
// may not name them, and one that matches by attempts alone skips them.
func UnverifiedAnswers() []string { return []string{analytics.WrongParty, analytics.NotVerified} }

// MinRingTimeout is the shortest ring a call is given before it is
// cancelled: US Reg F wants at least 15 s, and Marcador lets no campaign,
// and no call, ring for less.
const MinRingTimeout = 15 * time.Second

// DefaultLanguage is what debtors hear and read when nothing says otherwise.
const DefaultLanguage = "es"

// Speaks reports whether Marcador has prompts, number speech and message
// templates in lang: es or en.
func Speaks(lang string) bool { return lang == "es" || lang == "en" }

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
	ModePreview     = "preview"     // the agent sees the account, then dials it (or skips it)
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

// PromisePolicy bounds the promises a campaign accepts (from the IVR and
// from its agents) and sets the rule they are judged by (README "Promise
// kept"): GraceDays and KeepPercent are frozen onto each promise made.
type PromisePolicy struct {
	MaxDays    int     `json:"max_days,omitempty"`    // latest due date, days ahead; default 15
	MinAmount  float64 `json:"min_amount,omitempty"`  // smallest amount
	MinPercent float64 `json:"min_percent,omitempty"` // smallest share of the balance, 0-100
	// GraceDays: payments count until the end of this many days after the
	// due date (UTC); 1-MaxGraceDays, default 2.
	GraceDays int `json:"grace_days,omitempty"`
	// KeepPercent: the share of the amount paid in time that keeps a
	// promise; 1-100, default 100.
	KeepPercent int `json:"keep_percent,omitempty"`
}

// MaxGraceDays is the most grace days a promise may have.
const MaxGraceDays = 60

// FallbackRule sends a message after a voice attempt: after one of the
// dispositions in After, or once the account has had AfterAttempts voice
// attempts in the campaign (both, when both are set).
type FallbackRule struct {
	After         []string          `json:"after,omitempty"`          // no_answer, busy, machine, rejected, network_error, ...
	AfterAttempts int               `json:"after_attempts,omitempty"` //
	Template      string            `json:"template"`                 // e.g. missed-call
	Channel       analytics.Channel `json:"channel,omitempty"`        // sms (default) or whatsapp
	Delay         Duration          `json:"delay,omitempty"`          // wait after the call; default at once
}

// Matches reports whether voice attempt a (its disposition, its number
// among the account's attempts) calls for this rule's message: never after
// a call that reached someone found not to be the debtor, whatever the
// rule says: an unverified answer (UnverifiedAnswers), or an agent's call
// whose code is not a right-party one (wrong_party, third_party, deceased,
// a campaign's own): the text would tell that number about the debt.
func (r FallbackRule) Matches(a analytics.Attempt) bool {
	if slices.Contains(UnverifiedAnswers(), a.Disposition) || (a.AgentCode != "" && !a.RightParty) {
		return false
	}
	if len(r.After) > 0 && !slices.Contains(r.After, a.Disposition) {
		return false
	}
	return r.AfterAttempts == 0 || int(a.AttemptNo) >= r.AfterAttempts
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
	// IVR campaigns (Script: in an agent campaign, see below).
	Script         string        `json:"script,omitempty"`          // e.g. reminder-overdue
	MaxConcurrent  int           `json:"max_concurrent,omitempty"`  // ivr: calls at once; default 10
	Language       string        `json:"language,omitempty"`        // es or en; default by country
	CallbackNumber string        `json:"callback_number,omitempty"` // said by abandon and voicemail messages
	PayURL         string        `json:"pay_url,omitempty"`         // payment link template: {token}, {account}, {campaign}
	RingTimeout    Duration      `json:"ring_timeout,omitempty"`    // default 25s (dialer.DefaultRingTimeout), never below MinRingTimeout
	Promise        PromisePolicy `json:"promise,omitempty"`
	Company        string        `json:"company,omitempty"` // who the messages say they come from
	SMS            SMSPolicy     `json:"sms,omitempty"`
	// Agents: progressive and predictive campaigns, and the transfer nodes
	// of IVR scripts. In an agent campaign Script is the IVR script an agent
	// hands the debtor to (POST /api/v1/calls/{id}/transfer), default
	// DefaultTransferScript.
	LinesPerAgent float64 `json:"lines_per_agent,omitempty"` // progressive: lines per ready agent, 1.0-3.0; default 1
	// TargetAbandon is the predictive pacer's abandon limit (abandoned ÷
	// live answers over the compliance window), 0.001-0.2, at most
	// MaxTargetAbandonStrict under the US and UK profiles; default
	// DefaultTargetAbandon. MaxLinesPerAgent caps the calls in flight per
	// available agent, 1.0-10.0; default the pacer's (6). Both may change
	// at run time (PATCH /api/v1/campaigns/{id}/pacing).
	TargetAbandon    float64 `json:"target_abandon,omitempty"`
	MaxLinesPerAgent float64 `json:"max_lines_per_agent,omitempty"`
	// AbandonAfter is how long an answered call may wait for an agent
	// before the abandon script plays; default 2s, never over 2s under the
	// US and UK profiles.
	AbandonAfter  Duration `json:"abandon_after,omitempty"`
	AbandonScript string   `json:"abandon_script,omitempty"` // default abandon-message
	// WrapUp is the agent's after-call time: with no disposition sent by
	// then the agent is ready again; default 30s.
	WrapUp Duration `json:"wrap_up,omitempty"`
	// Record writes every agent call as a stereo WAV under recordings.dir.
	Record bool `json:"record,omitempty"`
	// RecordingNotice, when set, is a phrase (e.g. p/recording-notice)
	// the debtor hears before the agent comes on.
	RecordingNotice string      `json:"recording_notice,omitempty"`
	AgentCodes      []AgentCode `json:"agent_codes,omitempty"` // the campaign's own codes besides BuiltinCodes
	// AMD is answering-machine detection on answer (amd.go); nil is off.
	AMD     *AMD      `json:"amd,omitempty"`
	Created time.Time `json:"created_at"`
	Updated time.Time `json:"updated_at"`
}

// Agent campaign defaults.
const (
	DefaultAbandonAfter   = 2 * time.Second
	DefaultWrapUp         = 30 * time.Second
	DefaultAbandonScript  = "abandon-message"
	DefaultTransferScript = "agent-promise"
	// MaxAbandonAfterStrict is the longest wait for an agent the US (Reg F:
	// a message within 2 s of the greeting) and UK (Ofcom) profiles allow.
	MaxAbandonAfterStrict = 2 * time.Second
	// DefaultTargetAbandon is the abandon limit of the US (Reg F, 30 days)
	// and UK (Ofcom, per day) rules; MaxTargetAbandonStrict the most those
	// profiles allow.
	DefaultTargetAbandon   = 0.03
	MaxTargetAbandonStrict = 0.03
)

// HasAgents says whether the campaign's calls go to agents (progressive,
// predictive, or preview: the agent dials each account itself).
func (c Campaign) HasAgents() bool {
	return c.Mode == ModeProgressive || c.Mode == ModePredictive || c.Mode == ModePreview
}

// Paced says whether the dialer places the campaign's calls itself (every
// mode but preview, where the agent does).
func (c Campaign) Paced() bool { return c.Mode != ModePreview }

// AbandonLimit is how long an answered call waits for an agent.
func (c Campaign) AbandonLimit() time.Duration {
	if c.AbandonAfter > 0 {
		return time.Duration(c.AbandonAfter)
	}
	return DefaultAbandonAfter
}

// WrapUpLimit is the agents' after-call time.
func (c Campaign) WrapUpLimit() time.Duration {
	if c.WrapUp > 0 {
		return time.Duration(c.WrapUp)
	}
	return DefaultWrapUp
}

// AbandonScriptName is the script an abandoned call hears.
func (c Campaign) AbandonScriptName() string {
	if c.AbandonScript != "" {
		return c.AbandonScript
	}
	return DefaultAbandonScript
}

// strictAbandon says whether the campaign's compliance profile allows no
// more than MaxAbandonAfterStrict before the abandon message (US, UK; an
// auto profile over US or UK debtors).
func (c Campaign) strictAbandon() bool {
	p := c.lawProfile()
	return p == "US" || p == "UK" || p == "GB"
}

// lawProfile is the compliance profile whose abandon rules apply, in
// capitals: an auto profile's is the campaign's country's.
func (c Campaign) lawProfile() string {
	p := strings.ToUpper(c.Profile)
	if p == strings.ToUpper(ProfileAuto) {
		p = c.Country
	}
	return p
}

// AbandonTarget is the abandon limit the predictive pacer keeps to.
func (c Campaign) AbandonTarget() float64 {
	if c.TargetAbandon > 0 {
		return c.TargetAbandon
	}
	return DefaultTargetAbandon
}

// AbandonDaily says whether the campaign's abandon rate is judged per
// calendar day in its zone (the UK's Ofcom rule) rather than over 30 days
// (the US's Reg F rule, the default for every other profile).
func (c Campaign) AbandonDaily() bool {
	p := c.lawProfile()
	return p == "UK" || p == "GB"
}

// Zone is the campaign's time zone (its days for counts and windows). A
// saved campaign's zone was checked by Normalize; UTC stands in for one
// that no longer loads, so a count is never lost over a zone.
func (c Campaign) Zone() *time.Location {
	z, err := LoadZone(c.TimeZone)
	if err != nil {
		return time.UTC
	}
	return z
}

// LoadZone loads an IANA time zone by its real name. "Local" (whatever
// zone the server happens to run in), "" (UTC to time.LoadLocation) and the
// tz database's non-zones are refused: a debtor's calling window must not
// depend on the host.
func LoadZone(name string) (*time.Location, error) {
	switch {
	case name == "":
		return nil, errors.New("empty: want an IANA zone such as America/Bogota")
	case name == "Local" || name == "localtime" || name == "posixrules" || name == "Factory":
		return nil, fmt.Errorf("%q is not an IANA zone: name the debtors' zone, e.g. America/Bogota", name)
	case len(name) > 64 || !zoneRe.MatchString(name):
		return nil, fmt.Errorf("%.70q is not an IANA zone name (e.g. America/Bogota)", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	return loc, nil
}

var zoneRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
