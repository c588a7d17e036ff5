package compliance

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
)

// Request is one contact to decide.
type Request struct {
	Profile *Profile
	Channel analytics.Channel
	// Zones the debtor may be in; every one must allow the contact.
	Zones []*time.Location
	At    time.Time
	// Account scopes "debt" caps to this account's events.
	Account         string
	AgentGuaranteed bool
}

// Decision is the gate's answer, with the rule that decided it.
type Decision struct {
	Allowed bool
	Reason  string
	Rule    string
	// LocalTime is At in the debtor's (first) zone.
	LocalTime time.Time
	// NextAllowed is the earliest instant the contact may happen (At when
	// allowed; zero when no instant in the next 400 days is).
	NextAllowed time.Time
	Warnings    []string
}

// Event is one entry of a debtor's contact history.
type Event struct {
	At        time.Time
	Channel   analytics.Channel
	Kind      string // KindAttempt, KindContact, KindConversation, KindAbandoned
	Account   string
	AttemptID string
}

// Decide applies r.Profile to r.At given the debtor's history. It is pure:
// the Gate supplies history and makes the decision stick atomically.
func Decide(cal *Calendars, r Request, history []Event) Decision {
	if len(r.Zones) == 0 {
		r.Zones = []*time.Location{time.UTC}
	}
	d := Decision{LocalTime: r.At.In(r.Zones[0])}
	var blocked *violation
	if v := windowViolation(cal, r, r.At, &d.Warnings); v != nil {
		blocked = v
	} else if v := capViolation(r, r.At, history); v != nil {
		blocked = v
	}
	if blocked == nil {
		d.Allowed, d.Reason, d.Rule, d.NextAllowed = true, "allowed", "", r.At
		return d
	}
	d.Reason, d.Rule = blocked.reason, blocked.rule
	// The next instant every window and every cap allows. Caps only release
	// with time, windows only open: alternate until both agree.
	t := r.At
	for range 64 {
		n, ok := nextWindow(cal, r, t)
		if !ok {
			return d
		}
		t = n
		v := capViolation(r, t, history)
		if v == nil {
			d.NextAllowed = t
			return d
		}
		t = v.until
	}
	return d
}

type violation struct {
	rule, reason string
	until        time.Time // when this rule alone stops blocking
}

// windowViolation checks the local day and time in every zone.
func windowViolation(cal *Calendars, r Request, t time.Time, warnings *[]string) *violation {
	p := r.Profile
	for _, loc := range r.Zones {
		local := t.In(loc)
		if p.ClosedOnHolidays && p.Holidays != "" {
			if !cal.Has(p.Holidays, local.Year()) {
				if warnings != nil {
					*warnings = append(*warnings, fmt.Sprintf("no %s holiday calendar for %d: holidays were not checked", p.Holidays, local.Year()))
				}
			} else if name := cal.Holiday(p.Holidays, local); name != "" {
				return &violation{rule: "holiday", reason: fmt.Sprintf("%s is a holiday in %s (%s) in %s", local.Format("Mon 2006-01-02"), p.Holidays, name, loc)}
			}
		}
		spans := p.windows(r.Channel)[local.Weekday()]
		if len(spans) == 0 {
			return &violation{rule: "window", reason: fmt.Sprintf("no %s contacts on %s under profile %s (%s local)", r.Channel, local.Weekday(), p.Name, loc)}
		}
		sec := local.Hour()*3600 + local.Minute()*60 + local.Second()
		in := false
		for _, sp := range spans {
			if sec >= sp.from*60 && sec < sp.to*60 {
				in = true
				break
			}
		}
		if !in {
			return &violation{rule: "window", reason: fmt.Sprintf("%s local time in %s is outside the %s window %s on %s (profile %s)",
				local.Format("15:04"), loc, r.Channel, fmtSpans(spans), local.Weekday(), p.Name)}
		}
	}
	return nil
}

func fmtSpans(sp []span) string {
	var parts []string
	for _, s := range sp {
		parts = append(parts, fmt.Sprintf("%02d:%02d-%02d:%02d", s.from/60, s.from%60, s.to/60, s.to%60))
	}
	return strings.Join(parts, ", ")
}

// nextWindow is the earliest instant >= t allowed by the windows and
// holidays of every zone.
func nextWindow(cal *Calendars, r Request, t time.Time) (time.Time, bool) {
	for range 32 {
		moved := false
		for _, loc := range r.Zones {
			n, ok := nextWindowIn(cal, r, loc, t)
			if !ok {
				return time.Time{}, false
			}
			if n.After(t) {
				t, moved = n, true
			}
		}
		if !moved {
			return t, true
		}
	}
	return time.Time{}, false
}

func nextWindowIn(cal *Calendars, r Request, loc *time.Location, t time.Time) (time.Time, bool) {
	p := r.Profile
	one := Request{Profile: p, Channel: r.Channel, Zones: []*time.Location{loc}}
	local := t.In(loc)
	week := p.windows(r.Channel)
	for day := range 400 {
		d := time.Date(local.Year(), local.Month(), local.Day()+day, 12, 0, 0, 0, loc)
		for _, sp := range week[d.Weekday()] {
			start := time.Date(d.Year(), d.Month(), d.Day(), sp.from/60, sp.from%60, 0, 0, loc)
			end := time.Date(d.Year(), d.Month(), d.Day(), sp.to/60, sp.to%60, 0, 0, loc)
			cand := start
			if t.After(cand) {
				cand = t
			}
			if cand.Before(end) && windowViolation(cal, one, cand, nil) == nil {
				return cand, true
			}
		}
	}
	return time.Time{}, false
}

// capViolation evaluates every cap at t; it returns the one that blocks
// longest, so NextAllowed jumps past all of them at once.
func capViolation(r Request, t time.Time, history []Event) *violation {
	var worst *violation
	for i := range r.Profile.Caps {
		c := &r.Profile.Caps[i]
		v := c.check(r, t, history)
		if v != nil && (worst == nil || v.until.After(worst.until)) {
			worst = v
		}
	}
	return worst
}

func (c *Cap) describe() string {
	chans := "any channel"
	if c.channelsParsed != nil {
		var cs []string
		for ch := range c.channelsParsed {
			cs = append(cs, string(ch))
		}
		sort.Strings(cs)
		chans = strings.Join(cs, "+")
	}
	scope := "debtor"
	if c.Scope == "debt" {
		scope = "debt"
	}
	switch {
	case c.Max > 0:
		return fmt.Sprintf("cap: %d %s attempts %s per %s", c.Max, chans, c.per, scope)
	case c.After != "":
		s := fmt.Sprintf("quiet: no %s for %s after a %s (per %s)", chans, fmtDuration(c.quiet), c.After, scope)
		if c.Unless != "" {
			s += " unless " + c.Unless
		}
		return s
	case c.MaxContacts > 0:
		return fmt.Sprintf("cap: %d contacts %s per %s", c.MaxContacts, c.per, scope)
	case c.ChannelsPerWeek > 0:
		return fmt.Sprintf("cap: %d channel(s) per week after a contact", c.ChannelsPerWeek)
	default:
		return fmt.Sprintf("gap: %s between %s attempts per %s", fmtDuration(c.minGap), chans, scope)
	}
}

func (c *Cap) inScope(r Request, e Event) bool {
	return c.Scope != "debt" || r.Account == "" || e.Account == r.Account
}

// periodBounds is where the period containing t begins and where the next
// one begins (zero for a sliding window).
func periodBounds(p period, t time.Time, loc *time.Location) (from, next time.Time) {
	switch p.calendar {
	case "day":
		l := t.In(loc)
		from = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
		return from, time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
	case "week":
		l := t.In(loc)
		back := (int(l.Weekday()) + 6) % 7 // days since Monday
		from = time.Date(l.Year(), l.Month(), l.Day()-back, 0, 0, 0, 0, loc)
		return from, time.Date(l.Year(), l.Month(), l.Day()-back+7, 0, 0, 0, 0, loc)
	}
	return t.Add(-p.d), time.Time{}
}

// check says whether the cap stops a contact of r at t, given the debtor's
// history; one checker per kind of cap.
func (c *Cap) check(r Request, t time.Time, history []Event) *violation {
	switch {
	case c.Max > 0 || c.MaxContacts > 0:
		return c.checkCount(r, t, history)
	case c.After != "":
		return c.checkQuiet(r, t, history)
	case c.ChannelsPerWeek > 0:
		return c.checkChannels(r, t, history)
	case c.minGap > 0:
		return c.checkGap(r, t, history)
	}
	return nil
}

// checkCount: at most Max attempts (or MaxContacts contacts) per period.
func (c *Cap) checkCount(r Request, t time.Time, history []Event) *violation {
	if c.Max > 0 && !c.applies(r.Channel) {
		return nil
	}
	kind, max := KindAttempt, c.Max
	if c.MaxContacts > 0 {
		kind, max = KindContact, c.MaxContacts
	}
	from, next := periodBounds(c.per, t, r.Zones[0])
	var in []Event
	for _, e := range history {
		// A sliding window excludes its first instant; a calendar day or
		// week includes its midnight.
		started := e.At.After(from) || c.per.calendar != "" && e.At.Equal(from)
		if e.Kind == kind && started && !e.At.After(t) && c.inScope(r, e) &&
			(c.MaxContacts > 0 && c.channelsParsed == nil || c.applies(e.Channel)) {
			in = append(in, e)
		}
	}
	if len(in) < max {
		return nil
	}
	until := next
	if c.per.calendar == "" {
		sort.Slice(in, func(i, j int) bool { return in[i].At.Before(in[j].At) })
		until = in[len(in)-max].At.Add(c.per.d)
	}
	what := "attempts"
	if kind == KindContact {
		what = "contacts"
	}
	return &violation{rule: c.describe(), until: until,
		reason: fmt.Sprintf("%d %s already %s (limit %d)", len(in), what, periodPhrase(c.per), max)}
}

// checkQuiet: no contact for a quiet period after an event of kind After
// (unless an agent is guaranteed, where the cap says so).
func (c *Cap) checkQuiet(r Request, t time.Time, history []Event) *violation {
	if !c.applies(r.Channel) || c.Unless == "agent_guaranteed" && r.AgentGuaranteed {
		return nil
	}
	last := latest(history, t, c.quiet, func(e Event) bool { return e.Kind == c.After && c.inScope(r, e) })
	if last == nil {
		return nil
	}
	return &violation{rule: c.describe(), until: last.At.Add(c.quiet),
		reason: fmt.Sprintf("a %s at %s started a %s quiet period", c.After, last.At.In(r.Zones[0]).Format("2006-01-02 15:04 MST"), fmtDuration(c.quiet))}
}

// checkChannels: contacts this calendar week on at most ChannelsPerWeek
// channels.
func (c *Cap) checkChannels(r Request, t time.Time, history []Event) *violation {
	from, next := periodBounds(period{calendar: "week"}, t, r.Zones[0])
	used := map[analytics.Channel]bool{}
	for _, e := range history {
		if e.Kind == KindContact && !e.At.Before(from) && !e.At.After(t) && c.inScope(r, e) {
			used[e.Channel] = true
		}
	}
	if used[r.Channel] || len(used) < c.ChannelsPerWeek {
		return nil
	}
	var cs []string
	for ch := range used {
		cs = append(cs, string(ch))
	}
	sort.Strings(cs)
	return &violation{rule: c.describe(), until: next,
		reason: fmt.Sprintf("the debtor was already contacted this week by %s; no other channel until next week", strings.Join(cs, ", "))}
}

// checkGap: attempts on the cap's channels at least minGap apart.
func (c *Cap) checkGap(r Request, t time.Time, history []Event) *violation {
	if !c.applies(r.Channel) {
		return nil
	}
	last := latest(history, t, c.minGap, func(e Event) bool {
		return e.Kind == KindAttempt && c.applies(e.Channel) && c.inScope(r, e)
	})
	if last == nil {
		return nil
	}
	return &violation{rule: c.describe(), until: last.At.Add(c.minGap),
		reason: fmt.Sprintf("last %s attempt at %s is less than %s ago", last.Channel, last.At.In(r.Zones[0]).Format("2006-01-02 15:04 MST"), fmtDuration(c.minGap))}
}

// latest is the newest event of history that match accepts, at or before
// t and less than window before it; nil when there is none.
func latest(history []Event, t time.Time, window time.Duration, match func(Event) bool) *Event {
	var last *Event
	for i := range history {
		e := &history[i]
		if !e.At.After(t) && t.Sub(e.At) < window && match(*e) && (last == nil || e.At.After(last.At)) {
			last = e
		}
	}
	return last
}

func periodPhrase(p period) string {
	switch p.calendar {
	case "day":
		return "today"
	case "week":
		return "this week"
	}
	return "in the last " + fmtDuration(p.d)
}
