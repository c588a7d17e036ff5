package kpi

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/marcador/marcador/analytics"
)

// By is what a report's rows are: one per day, campaign, agent, hour of the
// day, segment or channel; "" is the total alone.
type By string

const (
	ByNone     By = ""
	ByDay      By = "day"
	ByCampaign By = "campaign"
	ByAgent    By = "agent"
	ByHour     By = "hour"
	BySegment  By = "segment"
	ByChannel  By = "channel"
)

// Bys lists the groupings, for help and errors.
func Bys() []By { return []By{ByDay, ByCampaign, ByAgent, ByHour, BySegment, ByChannel} }

// Filter selects what a report is about. Every list is "any of"; an empty
// list is no condition.
type Filter struct {
	Campaigns []string
	// From and To are calendar days in TZ, both included.
	From, To  string
	TZ        string
	Countries []string
	Segments  []string
	Channels  []analytics.Channel
	Agents    []string

	loc      *time.Location
	from, to time.Time // [from, to): the days' bounds, as instants
}

// MaxDays bounds a report's range.
const MaxDays = 800

// Params are a report's query parameters (the API's, and `marcador
// report`'s flags): campaign, from, to, tz, country, segment, channel,
// agent (each may repeat or hold a comma-separated list) and by.
var Params = []string{"campaign", "from", "to", "by", "tz", "country", "segment", "channel", "agent"}

// ParseQuery reads a filter and a grouping from query parameters (see
// Params). Defaults: tz UTC, to today in tz, from six days before to. An
// error is an *analytics.FieldError naming the parameter.
func ParseQuery(q url.Values, now time.Time) (Filter, By, error) {
	for name := range q {
		if !slices.Contains(Params, name) {
			return Filter{}, "", &analytics.FieldError{Field: name, Reason: "unknown parameter (want " + strings.Join(Params, ", ") + ")"}
		}
	}
	list := func(name string) []string {
		var out []string
		for _, v := range q[name] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		}
		return out
	}
	one := func(name string) (string, error) {
		if len(q[name]) > 1 {
			return "", &analytics.FieldError{Field: name, Reason: "given more than once"}
		}
		return strings.TrimSpace(q.Get(name)), nil
	}
	f := Filter{Campaigns: list("campaign"), Countries: list("country"), Segments: list("segment"), Agents: list("agent")}
	for _, c := range list("channel") {
		f.Channels = append(f.Channels, analytics.Channel(c))
	}
	var err error
	for _, p := range []struct {
		name string
		v    *string
	}{{"from", &f.From}, {"to", &f.To}, {"tz", &f.TZ}} {
		if *p.v, err = one(p.name); err != nil {
			return Filter{}, "", err
		}
	}
	by, err := one("by")
	if err != nil {
		return Filter{}, "", err
	}
	if by != "" && !slices.Contains(Bys(), By(by)) {
		return Filter{}, "", &analytics.FieldError{Field: "by", Reason: fmt.Sprintf("%q: want day, campaign, agent, hour, segment or channel", clipped(by))}
	}
	if err := f.Resolve(now); err != nil {
		return Filter{}, "", err
	}
	return f, By(by), nil
}

// Resolve checks f and fills its defaults (see ParseQuery); an error is an
// *analytics.FieldError naming the parameter.
func (f *Filter) Resolve(now time.Time) error {
	bad := func(field, format string, a ...any) error {
		return &analytics.FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
	}
	if f.TZ == "" {
		f.TZ = "UTC"
	}
	loc, err := zone(f.TZ)
	if err != nil {
		return bad("tz", "%q: want an IANA time zone such as America/Bogota", clipped(f.TZ))
	}
	f.loc = loc
	day := func(field, s string) (time.Time, error) {
		t, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			return t, bad(field, "%q: want a date, YYYY-MM-DD", clipped(s))
		}
		if t.Year() < 2000 || t.Year() > 2100 {
			return t, bad(field, "%s: want a year from 2000 to 2100", s)
		}
		return t, nil
	}
	today := now.In(loc)
	to := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	if f.To != "" {
		if to, err = day("to", f.To); err != nil {
			return err
		}
	}
	from := to.AddDate(0, 0, -6)
	if f.From != "" {
		if from, err = day("from", f.From); err != nil {
			return err
		}
	}
	if from.After(to) {
		return bad("from", "%s is after to (%s)", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	if to.Sub(from) > MaxDays*24*time.Hour {
		return bad("from", "the range is over %d days", MaxDays)
	}
	f.From, f.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
	f.from = from
	f.to = time.Date(to.Year(), to.Month(), to.Day()+1, 0, 0, 0, 0, loc)
	for _, l := range []struct {
		field string
		vals  []string
		max   int
	}{{"campaign", f.Campaigns, analytics.MaxIDBytes}, {"agent", f.Agents, analytics.MaxIDBytes},
		{"country", f.Countries, 64}, {"segment", f.Segments, 64}} {
		for _, v := range l.vals {
			if !utf8.ValidString(v) || len(v) > l.max || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return bad(l.field, "%q: want up to %d bytes of text", clipped(v), l.max)
			}
		}
	}
	for _, c := range f.Channels {
		if !c.Valid() {
			return bad("channel", "%q: want voice, sms or whatsapp", clipped(string(c)))
		}
	}
	return nil
}

// Range is the filter's days as instants: from the first day's start to the
// day after the last's.
func (f Filter) Range() (from, to time.Time) { return f.from, f.to }

// wholeHours says whether every hour bucket of the range falls on one local
// day and hour in the filter's zone (its offset stays a whole number of
// hours): then the hourly roll-ups answer exactly.
func (f Filter) wholeHours() bool {
	for t := f.from.Add(-24 * time.Hour); t.Before(f.to.Add(24 * time.Hour)); t = t.Add(6 * time.Hour) {
		if _, off := t.In(f.loc).Zone(); off%3600 != 0 {
			return false
		}
	}
	return true
}

func clipped(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
