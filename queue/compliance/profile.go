// Package compliance decides whether a contact may happen at all: calling
// windows in the debtor's local time, holidays, contact caps and
// do-not-contact lists, per country profile. The dialer and the SMS sender
// ask the Gate before every attempt; operators ask it to explain.
package compliance

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
)

// Profile is one jurisdiction's rules, as data.
type Profile struct {
	Name string `yaml:"name"`
	// Holidays names the holiday calendar (a country code: CO, MX, CL, PE, US, UK).
	Holidays string `yaml:"holidays"`
	// ClosedOnHolidays forbids contacts on the calendar's holidays.
	ClosedOnHolidays bool `yaml:"closed_on_holidays"`
	// Windows are the allowed local times per weekday, e.g.
	// {mon: ["07:00-19:00"], sat: ["08:00-15:00"]}; "all" sets every day not
	// listed. A day with no window is closed.
	Windows map[string][]string `yaml:"windows"`
	// ChannelWindows override Windows for one channel (e.g. sms).
	ChannelWindows map[analytics.Channel]map[string][]string `yaml:"channel_windows"`
	Caps           []Cap                                     `yaml:"caps"`

	week     [7][]span // by time.Weekday
	channels map[analytics.Channel][7][]span
}

// Cap is one frequency rule. Exactly one form:
//
//	{channel: voice, max: 7, per: 7d, scope: debt}        at most max attempts in a sliding period
//	{channels: [sms, whatsapp], max: 2, per: week, min_gap: 2d}
//	{after: conversation, quiet: 7d, channel: voice}      nothing for quiet after such an event
//	{after: abandoned, quiet: 72h, unless: agent_guaranteed}
//	{max_contacts: 1, per: day}                           at most that many contacts (debtor reached)
//	{channels_per_week: 1}                                after a contact, only that channel this week
//
// per is a duration (7d, 24h) for a sliding window, or day / week for the
// debtor's calendar day or week (Monday to Sunday). scope is debtor (every
// account of the person, the default) or debt (this account only).
type Cap struct {
	Channel         analytics.Channel   `yaml:"channel"`
	Channels        []analytics.Channel `yaml:"channels"`
	Max             int                 `yaml:"max"`
	Per             string              `yaml:"per"`
	MinGap          string              `yaml:"min_gap"`
	Scope           string              `yaml:"scope"`
	After           string              `yaml:"after"` // conversation, contact, abandoned
	Quiet           string              `yaml:"quiet"`
	Unless          string              `yaml:"unless"` // agent_guaranteed
	MaxContacts     int                 `yaml:"max_contacts"`
	ChannelsPerWeek int                 `yaml:"channels_per_week"`

	per            period
	minGap, quiet  time.Duration
	channelsParsed map[analytics.Channel]bool // nil = every channel
}

// period is a sliding duration or a calendar unit.
type period struct {
	d        time.Duration
	calendar string // "day" or "week"
}

func (p period) String() string {
	if p.calendar != "" {
		return "per " + p.calendar
	}
	return "per " + fmtDuration(p.d)
}

// Event kinds kept in a debtor's history.
const (
	KindAttempt      = "attempt"
	KindContact      = "contact"      // the debtor was reached (a conversation, a delivered message)
	KindConversation = "conversation" // a live voice conversation
	KindAbandoned    = "abandoned"    // answered, and no agent came
)

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// span is [from, to) in minutes after local midnight.
type span struct{ from, to int }

var spanRe = regexp.MustCompile(`^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$`)

func parseSpans(where string, in []string) ([]span, error) {
	var out []span
	for _, s := range in {
		m := spanRe.FindStringSubmatch(strings.ReplaceAll(s, " ", ""))
		if m == nil {
			return nil, fmt.Errorf("%s: %q: want HH:MM-HH:MM", where, s)
		}
		h1, _ := strconv.Atoi(m[1])
		m1, _ := strconv.Atoi(m[2])
		h2, _ := strconv.Atoi(m[3])
		m2, _ := strconv.Atoi(m[4])
		sp := span{h1*60 + m1, h2*60 + m2}
		if m1 > 59 || m2 > 59 || sp.from >= sp.to || sp.to > 24*60 {
			return nil, fmt.Errorf("%s: %q: want a start before an end within one day", where, s)
		}
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].from < out[j].from })
	return out, nil
}

func parseWeek(where string, w map[string][]string) ([7][]span, error) {
	var week [7][]span
	if all, ok := w["all"]; ok {
		sp, err := parseSpans(where+".all", all)
		if err != nil {
			return week, err
		}
		for d := range week {
			week[d] = sp
		}
	}
	for name, spans := range w {
		if name == "all" {
			continue
		}
		d, ok := dayNames[strings.ToLower(name)]
		if !ok {
			return week, fmt.Errorf("%s: %q is not a day (mon..sun or all)", where, name)
		}
		sp, err := parseSpans(where+"."+name, spans)
		if err != nil {
			return week, err
		}
		week[d] = sp
	}
	return week, nil
}

// parseDuration accepts Go durations plus whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q: want a duration like 7d or 72h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a duration like 7d or 72h", s)
	}
	return d, nil
}

func fmtDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// Compile validates p and prepares it for use; errors name the profile and key.
func (p *Profile) Compile() error {
	where := "profile " + p.Name
	if p.Name == "" {
		return fmt.Errorf("profile: name is empty")
	}
	var err error
	if p.week, err = parseWeek(where+".windows", p.Windows); err != nil {
		return err
	}
	p.channels = map[analytics.Channel][7][]span{}
	for ch, w := range p.ChannelWindows {
		if !ch.Valid() {
			return fmt.Errorf("%s.channel_windows: %q is not voice, sms or whatsapp", where, ch)
		}
		if p.channels[ch], err = parseWeek(fmt.Sprintf("%s.channel_windows.%s", where, ch), w); err != nil {
			return err
		}
	}
	for i := range p.Caps {
		if err := p.Caps[i].compile(fmt.Sprintf("%s.caps[%d]", where, i)); err != nil {
			return err
		}
	}
	return nil
}

// compile parses and checks a configured cap; where names it in errors.
func (c *Cap) compile(where string) error {
	if err := c.compileChannels(where); err != nil {
		return err
	}
	switch c.Scope {
	case "", "debtor", "debt":
	default:
		return fmt.Errorf("%s: scope %q: want debtor or debt", where, c.Scope)
	}
	if err := c.compileDurations(where); err != nil {
		return err
	}
	if err := c.checkForm(where); err != nil {
		return err
	}
	switch c.Unless {
	case "", "agent_guaranteed":
	default:
		return fmt.Errorf("%s: unless %q: want agent_guaranteed", where, c.Unless)
	}
	return nil
}

func (c *Cap) compileChannels(where string) error {
	chans := c.Channels
	if c.Channel != "" {
		chans = append(chans, c.Channel)
	}
	if len(chans) > 0 {
		c.channelsParsed = map[analytics.Channel]bool{}
		for _, ch := range chans {
			if !ch.Valid() {
				return fmt.Errorf("%s: channel %q is not voice, sms or whatsapp", where, ch)
			}
			c.channelsParsed[ch] = true
		}
	}
	return nil
}

// compileDurations parses per, min_gap and quiet.
func (c *Cap) compileDurations(where string) error {
	if c.Per != "" {
		switch c.Per {
		case "day", "week":
			c.per = period{calendar: c.Per}
		default:
			d, err := parseDuration(c.Per)
			if err != nil {
				return fmt.Errorf("%s: per %w (or day, week)", where, err)
			}
			c.per = period{d: d}
		}
	}
	if c.MinGap != "" {
		d, err := parseDuration(c.MinGap)
		if err != nil {
			return fmt.Errorf("%s: min_gap %w", where, err)
		}
		c.minGap = d
	}
	if c.Quiet != "" {
		d, err := parseDuration(c.Quiet)
		if err != nil {
			return fmt.Errorf("%s: quiet %w", where, err)
		}
		c.quiet = d
	}
	return nil
}

// checkForm: a cap is exactly one of max+per, after+quiet,
// max_contacts+per, channels_per_week, or a bare min_gap.
func (c *Cap) checkForm(where string) error {
	forms := 0
	if c.Max > 0 {
		forms++
		if c.Per == "" {
			return fmt.Errorf("%s: max needs per", where)
		}
	}
	if c.After != "" {
		forms++
		switch c.After {
		case KindConversation, KindContact, KindAbandoned:
		default:
			return fmt.Errorf("%s: after %q: want conversation, contact or abandoned", where, c.After)
		}
		if c.quiet == 0 {
			return fmt.Errorf("%s: after needs quiet", where)
		}
	}
	if c.MaxContacts > 0 {
		forms++
		if c.Per == "" {
			return fmt.Errorf("%s: max_contacts needs per", where)
		}
	}
	if c.ChannelsPerWeek > 0 {
		forms++
	}
	if forms == 0 && c.minGap > 0 {
		forms++ // a bare min_gap between attempts
	}
	if forms != 1 {
		return fmt.Errorf("%s: want exactly one of max+per, after+quiet, max_contacts+per, channels_per_week, min_gap", where)
	}
	return nil
}

func (c *Cap) applies(ch analytics.Channel) bool {
	return c.channelsParsed == nil || c.channelsParsed[ch]
}

// windows returns the week of allowed spans for a channel.
func (p *Profile) windows(ch analytics.Channel) [7][]span {
	if w, ok := p.channels[ch]; ok {
		return w
	}
	return p.week
}
