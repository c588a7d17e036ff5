package queue

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue/phone"
)

// Normalize fills defaults and validates; the error is a *FieldError naming
// the field and the reason. The sections are checked in this order, each
// stopping at its first bad field: a definition with several faults gets
// the error of the first in this order.
func (c *Campaign) Normalize() error {
	for _, section := range []func() error{c.normalizeIdentity, c.normalizeZone, c.normalizeContact, c.normalizeDialing,
		c.normalizePromise, c.normalizeSMS, c.normalizeRetryDelays, c.normalizeAgents, c.normalizeAMD} {
		if err := section(); err != nil {
			return err
		}
	}
	return nil
}

// bad is a *FieldError of the campaign.
func (c *Campaign) bad(field, format string, args ...any) error {
	return &FieldError{Campaign: c.ID, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// normalizeIdentity checks the id, and fills and checks the name, the mode,
// the country and the compliance profile (the country's by default).
func (c *Campaign) normalizeIdentity() error {
	if err := CheckID(c.ID); err != nil {
		return &FieldError{Field: "id", Reason: fmt.Sprintf("%.70q: %s", c.ID, idRule)}
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	c.Mode = strings.ToLower(c.Mode)
	if c.Mode == "" {
		c.Mode = ModeIVR
	}
	switch c.Mode {
	case ModeIVR, ModePredictive, ModeProgressive, ModePreview:
	default:
		return c.bad("mode", "%q: want ivr, predictive, progressive or preview", c.Mode)
	}
	c.Country = strings.ToUpper(c.Country)
	if len(c.Country) != 2 {
		return c.bad("country", "%q: want an ISO 3166 two-letter code", c.Country)
	}
	if c.Profile == "" {
		c.Profile = c.Country
	}
	return nil
}

// normalizeZone checks the debtors' default zone, where their calling
// windows are.
func (c *Campaign) normalizeZone() error {
	if c.TimeZone == "" {
		return c.bad("time_zone", "required (IANA, e.g. America/Bogota)")
	}
	if _, err := LoadZone(c.TimeZone); err != nil {
		return c.bad("time_zone", "%v", err)
	}
	return nil
}

// normalizeContact checks what the debtor is shown: the caller id, the
// currency and the payment link.
func (c *Campaign) normalizeContact() error {
	if c.CallerID != "" && !phone.IsE164(c.CallerID) {
		return c.bad("caller_id", "%q: want an E.164 number such as +525550000100 (calls never go out anonymous)", c.CallerID)
	}
	c.Currency = strings.ToUpper(c.Currency)
	if c.Currency != "" {
		if !analytics.ValidCurrency(c.Currency) {
			return c.bad("currency", "%.10q is not an ISO 4217 currency code (e.g. MXN, COP, USD)", c.Currency)
		}
	}
	if c.PayURL != "" {
		if err := checkPayURL(c.PayURL); err != nil {
			return c.bad("pay_url", "%v", err)
		}
	}
	return nil
}

// normalizeDialing fills and checks how the campaign calls: the attempts
// per account, the calls at once, the language and the ring.
func (c *Campaign) normalizeDialing() error {
	if c.Retry.MaxAttempts < 0 {
		return c.bad("retry.max_attempts", "%d is negative", c.Retry.MaxAttempts)
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 6
	}
	if c.MaxConcurrent < 0 || c.MaxConcurrent > 10000 {
		return c.bad("max_concurrent", "%d: want 0-10000", c.MaxConcurrent)
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 10
	}
	if c.Language == "" {
		c.Language = DefaultLanguage
		if c.Country == "US" || c.Country == "GB" || c.Country == "UK" {
			c.Language = "en"
		}
	}
	if !Speaks(c.Language) {
		return c.bad("language", "%q: want es or en", c.Language)
	}
	if c.RingTimeout != 0 && time.Duration(c.RingTimeout) < MinRingTimeout {
		return c.bad("ring_timeout", "%s is below the %s minimum", time.Duration(c.RingTimeout), MinRingTimeout)
	}
	return nil
}

// normalizePromise fills and checks the promise policy.
func (c *Campaign) normalizePromise() error {
	p := &c.Promise
	if p.MaxDays < 0 || p.MinAmount < 0 || p.MinPercent < 0 || p.MinPercent > 100 || p.GraceDays < 0 {
		return c.bad("promise", "max_days, min_amount, grace_days >= 0 and min_percent 0-100")
	}
	if p.GraceDays > MaxGraceDays {
		return c.bad("promise.grace_days", "%d: at most %d", p.GraceDays, MaxGraceDays)
	}
	if p.KeepPercent < 0 || p.KeepPercent > 100 {
		return c.bad("promise.keep_percent", "%d: want 1-100 (0: 100)", p.KeepPercent)
	}
	if p.MaxDays == 0 {
		p.MaxDays = 15
	}
	if p.GraceDays == 0 {
		p.GraceDays = 2
	}
	if p.KeepPercent == 0 {
		p.KeepPercent = 100
	}
	return nil
}

// normalizeSMS fills and checks the texting policy and its fallback rules.
func (c *Campaign) normalizeSMS() error {
	if c.SMS.TemplatePeriod < 0 {
		return c.bad("sms.template_period", "negative")
	}
	if c.SMS.TemplatePeriod == 0 {
		c.SMS.TemplatePeriod = Duration(7 * 24 * time.Hour)
	}
	for i := range c.SMS.Fallback {
		if err := c.normalizeFallback(i); err != nil {
			return err
		}
	}
	return nil
}

// normalizeFallback fills and checks fallback rule i.
func (c *Campaign) normalizeFallback(i int) error {
	f := &c.SMS.Fallback[i]
	at := fmt.Sprintf("sms.fallback[%d]", i)
	if f.Channel == "" {
		f.Channel = analytics.SMS
	}
	switch {
	case f.Channel != analytics.SMS && f.Channel != analytics.WhatsApp:
		return c.bad(at+".channel", "%q: want sms or whatsapp", f.Channel)
	case f.Template == "":
		return c.bad(at+".template", "empty")
	case len(f.After) == 0 && f.AfterAttempts <= 0:
		return c.bad(at, "set after (dispositions) or after_attempts")
	case f.AfterAttempts < 0 || f.Delay < 0:
		return c.bad(at, "after_attempts and delay must not be negative")
	}
	for _, d := range f.After {
		if slices.Contains(UnverifiedAnswers(), d) {
			return c.bad(at+".after", "%q: whoever answered has not proven they are the debtor; a text to the number would disclose the debt to a third party", d)
		}
		if known := VoiceDispositions(); !slices.Contains(known, d) {
			return c.bad(at+".after", "%q: want one of %s", d, strings.Join(known, ", "))
		}
	}
	return nil
}

// normalizeRetryDelays checks retry.delays (after the sms section, as
// always: see Normalize).
func (c *Campaign) normalizeRetryDelays() error {
	for k, d := range c.Retry.Delays {
		if d < 0 {
			return c.bad("retry.delays."+k, "negative")
		}
	}
	return nil
}

var phraseRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*){0,3}$`)

// normalizeAgents fills and checks the agent settings.
func (c *Campaign) normalizeAgents() error {
	if c.LinesPerAgent != 0 && (c.LinesPerAgent < 1 || c.LinesPerAgent > 3) {
		return c.bad("lines_per_agent", "%g: want 1.0 to 3.0", c.LinesPerAgent)
	}
	switch d := time.Duration(c.AbandonAfter); {
	case d < 0 || d > time.Minute:
		return c.bad("abandon_after", "%s: want up to 1m", d)
	case d > MaxAbandonAfterStrict && c.strictAbandon():
		return c.bad("abandon_after", "%s: the %s profile allows at most %s before the abandon message", d, strings.ToUpper(c.Profile), MaxAbandonAfterStrict)
	}
	if err := c.checkPacing(); err != nil {
		return err
	}
	if d := time.Duration(c.WrapUp); d < 0 || d > time.Hour || d > 0 && d < time.Second {
		return c.bad("wrap_up", "%s: want 1s to 1h", d)
	}
	if c.RecordingNotice != "" && !phraseRe.MatchString(c.RecordingNotice) {
		return c.bad("recording_notice", "%.70q: want a phrase name such as p/recording-notice", c.RecordingNotice)
	}
	if err := c.checkAgentCodes(); err != nil {
		return err
	}
	if !c.HasAgents() {
		return nil
	}
	if c.LinesPerAgent == 0 {
		c.LinesPerAgent = 1
	}
	if c.AbandonAfter == 0 {
		c.AbandonAfter = Duration(DefaultAbandonAfter)
	}
	if c.WrapUp == 0 {
		c.WrapUp = Duration(DefaultWrapUp)
	}
	if c.AbandonScript == "" {
		c.AbandonScript = DefaultAbandonScript
	}
	if c.Script == "" {
		c.Script = DefaultTransferScript
	}
	return nil
}

// checkPacing checks the predictive pacer's settings: the abandon target
// (never above 3% under the US and UK profiles) and the lines per agent.
func (c *Campaign) checkPacing() error {
	switch t := c.TargetAbandon; {
	case t != 0 && (t < 0.001 || t > 0.2):
		return c.bad("target_abandon", "%g: want 0.001 to 0.2", t)
	case t > MaxTargetAbandonStrict && c.strictAbandon():
		return c.bad("target_abandon", "%g: the %s profile allows at most %g abandoned calls per live answer", t,
			strings.ToUpper(c.Profile), MaxTargetAbandonStrict)
	}
	if m := c.MaxLinesPerAgent; m != 0 && (m < 1 || m > 10) {
		return c.bad("max_lines_per_agent", "%g: want 1.0 to 10.0", m)
	}
	return nil
}

// FieldError says which field of a campaign definition is wrong and why.
type FieldError struct {
	Campaign string
	Field    string // as in the JSON, dotted: time_zone, sms.fallback[0].template
	Reason   string
}

func (e *FieldError) Error() string {
	if e.Campaign == "" {
		return "campaign: " + e.Field + ": " + e.Reason
	}
	return "campaign " + e.Campaign + ": " + e.Field + ": " + e.Reason
}

// CampaignRefs is what a campaign may name on this node: the configured
// trunks, compliance profiles, loaded scripts and message templates. A nil
// field is not checked (a tool that has no trunks, tests).
type CampaignRefs struct {
	Trunks map[string]bool
	// Profiles by name, as compliance.Gate.Profile resolves them (the
	// name in capitals first, then as written).
	Profiles map[string]bool
	// Scripts are the loaded IVR scripts, each with the templates its sms
	// nodes send.
	Scripts map[string][]string
	// Template says whether a message template exists in a language and
	// whether it cannot be sent without a payment link.
	Template func(lang, name string) (known, needsLink bool)
	// AMDParams checks the detector's parameters of an amd block (dialer/amd's
	// parser; the error names the key).
	AMDParams func(params []byte) error
	// Discloses are the loaded scripts that would tell whoever answers
	// about the account before a right-party check (ivr/script's
	// CheckOutbound error, naming the node and the path): none may be what
	// a campaign's call plays to whoever answers.
	Discloses map[string]error
}

// Check validates a copy of c (Normalize) and what it names (CheckRefs):
// what a stored definition must pass before it runs.
func (c Campaign) Check(r CampaignRefs) error {
	if err := c.Normalize(); err != nil {
		return err
	}
	return c.CheckRefs(r)
}

// CheckRefs reports the first thing a normalized campaign names that this
// node does not have, and a payment-link template in a campaign without
// pay_url (the debtor would get a link-less text). An empty trunk or script
// passes here (a definition may be saved before it is complete); starting
// the campaign needs both.
func (c *Campaign) CheckRefs(r CampaignRefs) error {
	if r.Profiles != nil && !strings.EqualFold(c.Profile, ProfileAuto) && !r.Profiles[strings.ToUpper(c.Profile)] && !r.Profiles[c.Profile] {
		return c.bad("profile", "%q is not a compliance profile here (have: auto, %s)", c.Profile, names(r.Profiles))
	}
	if r.Trunks != nil && c.Trunk != "" && !r.Trunks[c.Trunk] {
		return c.bad("trunk", "%q is not configured (have: %s)", c.Trunk, names(r.Trunks))
	}
	if r.Scripts != nil && c.HasAgents() {
		if _, ok := r.Scripts[c.AbandonScriptName()]; !ok {
			return c.bad("abandon_script", "%q is not loaded (have: %s)", c.AbandonScriptName(), names(r.Scripts))
		}
	}
	if err := c.checkAMDRefs(r); err != nil {
		return err
	}
	if err := c.CheckDisclosure(r.Discloses); err != nil {
		return err
	}
	var scriptTpls []string
	if r.Scripts != nil && c.Script != "" {
		tpls, ok := r.Scripts[c.Script]
		if !ok {
			return c.bad("script", "%q is not loaded (have: %s)", c.Script, names(r.Scripts))
		}
		if c.Mode == ModeIVR {
			scriptTpls = tpls
		}
	}
	if r.Template == nil {
		return nil
	}
	for i, f := range c.SMS.Fallback {
		known, link := r.Template(c.Language, f.Template)
		switch {
		case !known:
			return c.bad(fmt.Sprintf("sms.fallback[%d].template", i), "%q: no such template in %s", f.Template, c.Language)
		case link && c.PayURL == "":
			return c.bad(fmt.Sprintf("sms.fallback[%d].template", i), "%q sends a payment link and the campaign has no pay_url", f.Template)
		}
	}
	for _, t := range scriptTpls {
		known, link := r.Template(c.Language, t)
		switch {
		case !known:
			return c.bad("script", "%q texts template %q, which does not exist in %s", c.Script, t, c.Language)
		case link && c.PayURL == "":
			return c.bad("pay_url", "required: script %q texts template %q, which sends a payment link", c.Script, t)
		}
	}
	return nil
}

// CheckDisclosure refuses a campaign whose calls would play a script of
// discloses (name → why) to whoever answers: an IVR campaign's script, an
// agent campaign's abandon message, the machine message. The person who
// answers may be a relative, a roommate or a stranger, and telling them
// about a debt is what collections law forbids.
func (c *Campaign) CheckDisclosure(discloses map[string]error) error {
	check := func(field, name string) error {
		if err := discloses[name]; err != nil && name != "" {
			return c.bad(field, "script %q tells whoever answers about the account before a right-party check: %v", name, err)
		}
		return nil
	}
	if c.Mode == ModeIVR {
		if err := check("script", c.Script); err != nil {
			return err
		}
	}
	if c.HasAgents() {
		if err := check("abandon_script", c.AbandonScriptName()); err != nil {
			return err
		}
	}
	if c.AMDOnCalls() {
		field := "amd.script"
		if c.AMD.OnMachine == OnMachineVoicemail {
			field = "amd.on_machine"
		}
		return check(field, c.MachineScript())
	}
	return nil
}

func names[V any](m map[string]V) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	if len(out) == 0 {
		return "none"
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// checkPayURL accepts a payment-link template that yields an https URL
// with a fixed host ({token}, {account} and {campaign} may appear only
// after it). Plain http is accepted for loopback hosts only, so a local
// payment page works in development.
func checkPayURL(tpl string) error {
	if len(tpl) > 2048 {
		return errors.New("longer than 2048 bytes")
	}
	fill := func(v string) string {
		return strings.NewReplacer("{token}", v, "{account}", v, "{campaign}", v).Replace(tpl)
	}
	a, b := fill("x"), fill("y")
	if strings.ContainsAny(a, "{}") {
		return fmt.Errorf("%q: unknown placeholder (have {token}, {account}, {campaign})", tpl)
	}
	u, err := url.Parse(a)
	if err != nil {
		return fmt.Errorf("%q is not a URL", tpl)
	}
	v, _ := url.Parse(b)
	host := u.Hostname()
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (host == "localhost" || net.ParseIP(host).IsLoopback()):
	default:
		return fmt.Errorf("%.40q: want https:// (http:// only to localhost)", tpl)
	}
	switch {
	case host == "":
		return fmt.Errorf("%q has no host", tpl)
	case u.User != nil:
		return fmt.Errorf("%q: user info is not allowed", tpl)
	case v == nil || v.Host != u.Host:
		return fmt.Errorf("%q: placeholders may not be part of the host", tpl)
	}
	return nil
}
