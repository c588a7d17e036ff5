package compliance

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/marcador/marcador/analytics"
)

func calendars(t *testing.T) *Calendars {
	t.Helper()
	c, err := LoadCalendars("", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func zone(t *testing.T, names ...string) []*time.Location {
	t.Helper()
	var out []*time.Location
	for _, n := range names {
		l, err := time.LoadLocation(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// at parses a local wall time in the first zone.
func at(t *testing.T, zones []*time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, zones[0])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type tc struct {
	name    string
	when    string // local wall time in the first zone
	ch      analytics.Channel
	allowed bool
	rule    string // substring of the blocking rule
	next    string // expected next allowed, local wall time ("" to skip)
	hist    []Event
	account string
	agent   bool
}

func run(t *testing.T, profile string, zones []*time.Location, cases []tc) {
	t.Helper()
	cal := calendars(t)
	p := Builtin()[profile]
	for _, c := range cases {
		ch := c.ch
		if ch == "" {
			ch = analytics.Voice
		}
		acct := c.account
		if acct == "" {
			acct = "A1"
		}
		d := Decide(cal, Request{Profile: p, Channel: ch, Zones: zones, At: at(t, zones, c.when), Account: acct, AgentGuaranteed: c.agent}, c.hist)
		if d.Allowed != c.allowed {
			t.Errorf("%s %s (%s): allowed=%v, want %v: %s [%s]", profile, c.name, c.when, d.Allowed, c.allowed, d.Reason, d.Rule)
			continue
		}
		if !c.allowed && !strings.Contains(d.Rule, c.rule) {
			t.Errorf("%s %s: rule %q, want %q (%s)", profile, c.name, d.Rule, c.rule, d.Reason)
		}
		if c.next != "" {
			want := at(t, zones, c.next)
			if !d.NextAllowed.Equal(want) {
				t.Errorf("%s %s: next allowed %s, want %s (%s)", profile, c.name, d.NextAllowed.In(zones[0]).Format("Mon 2006-01-02 15:04 MST"),
					want.Format("Mon 2006-01-02 15:04 MST"), d.Reason)
			}
		}
	}
}

func ev(t *testing.T, zones []*time.Location, when string, ch analytics.Channel, kind, account string) Event {
	return Event{At: at(t, zones, when), Channel: ch, Kind: kind, Account: account}
}

func TestUS(t *testing.T) {
	z := zone(t, "America/New_York")
	week := func(n int) []Event { // n attempts on consecutive days from Mon 2026-11-16 10:00
		var h []Event
		for i := range n {
			h = append(h, Event{At: at(t, z, "2026-11-16 10:00").AddDate(0, 0, i), Channel: analytics.Voice, Kind: KindAttempt, Account: "A1"})
		}
		return h
	}
	run(t, "US", z, []tc{
		{name: "a minute before 08:00", when: "2026-11-24 07:59", rule: "window", next: "2026-11-24 08:00"},
		{name: "a minute after 08:00", when: "2026-11-24 08:01", allowed: true},
		{name: "a minute before 21:00", when: "2026-11-24 20:59", allowed: true},
		{name: "a minute after 21:00", when: "2026-11-24 21:01", rule: "window", next: "2026-11-25 08:00"},
		{name: "Sunday is a calling day", when: "2026-11-22 10:00", allowed: true},
		{name: "Thanksgiving is not restricted", when: "2026-11-26 10:00", allowed: true},
		{name: "DST starts: 07:59 EDT", when: "2026-03-08 07:59", rule: "window", next: "2026-03-08 08:00"},
		{name: "DST starts: 08:01 EDT", when: "2026-03-08 08:01", allowed: true},
		{name: "DST starts: 01:30 EST, before the switch", when: "2026-03-08 01:30", rule: "window", next: "2026-03-08 08:00"},
		{name: "DST ends: 07:59 EST", when: "2026-11-01 07:59", rule: "window", next: "2026-11-01 08:00"},
		{name: "DST ends: 08:01 EST", when: "2026-11-01 08:01", allowed: true},
		{name: "6 calls in 7 days", when: "2026-11-22 12:00", allowed: true, hist: week(6)},
		{name: "7 calls in 7 days", when: "2026-11-22 12:00", rule: "7 voice attempts", next: "2026-11-23 10:00", hist: week(7)},
		{name: "7-in-7 released as the window slides", when: "2026-11-23 10:01", allowed: true, hist: week(7)},
		{name: "7-in-7 is per debt", when: "2026-11-22 12:00", allowed: true, hist: week(7), account: "A2"},
		{name: "a conversation starts 7 quiet days", when: "2026-11-23 09:00", rule: "after a conversation", next: "2026-11-27 15:30",
			hist: []Event{ev(t, z, "2026-11-20 15:30", analytics.Voice, KindConversation, "A1")}},
		{name: "quiet period over", when: "2026-11-27 15:31", allowed: true,
			hist: []Event{ev(t, z, "2026-11-20 15:30", analytics.Voice, KindConversation, "A1")}},
		{name: "quiet period is per debt", when: "2026-11-23 09:00", allowed: true, account: "A2",
			hist: []Event{ev(t, z, "2026-11-20 15:30", analytics.Voice, KindConversation, "A1")}},
		{name: "quiet period is for calls; a text may go", when: "2026-11-23 09:00", ch: analytics.SMS, allowed: true,
			hist: []Event{ev(t, z, "2026-11-20 15:30", analytics.Voice, KindConversation, "A1")}},
	})
}

func TestUSMultiZoneNumber(t *testing.T) {
	// A number that may be in New York or Chicago must suit both.
	z := zone(t, "America/New_York", "America/Chicago")
	run(t, "US", z, []tc{
		{name: "08:30 in New York is 07:30 in Chicago", when: "2026-11-24 08:30", rule: "window", next: "2026-11-24 09:00"},
		{name: "09:01 New York", when: "2026-11-24 09:01", allowed: true},
		{name: "20:59 New York", when: "2026-11-24 20:59", allowed: true},
		{name: "21:01 New York, 20:01 Chicago", when: "2026-11-24 21:01", rule: "window", next: "2026-11-25 09:00"},
	})
}

func TestUK(t *testing.T) {
	z := zone(t, "Europe/London")
	abandoned := []Event{ev(t, z, "2026-11-20 10:00", analytics.Voice, KindAbandoned, "A1")}
	run(t, "UK", z, []tc{
		{name: "07:59", when: "2026-11-24 07:59", rule: "window", next: "2026-11-24 08:00"},
		{name: "08:01", when: "2026-11-24 08:01", allowed: true},
		{name: "BST starts: 07:59 BST", when: "2026-03-29 07:59", rule: "window", next: "2026-03-29 08:00"},
		{name: "BST starts: 08:01 BST", when: "2026-03-29 08:01", allowed: true},
		{name: "BST ends: 07:59 GMT", when: "2026-10-25 07:59", rule: "window", next: "2026-10-25 08:00"},
		{name: "71 h after an abandoned call", when: "2026-11-23 09:00", rule: "after a abandoned", next: "2026-11-23 10:00", hist: abandoned},
		{name: "72 h after: callable", when: "2026-11-23 10:01", allowed: true, hist: abandoned},
		{name: "with an agent guaranteed", when: "2026-11-21 10:00", allowed: true, agent: true, hist: abandoned},
		{name: "per number, any account", when: "2026-11-21 10:00", account: "A2", rule: "abandoned", hist: abandoned},
	})
	// The 72 h rule holds in hours across the clock change.
	zz := zone(t, "Europe/London")
	run(t, "UK", zz, []tc{
		{name: "abandon before BST ends", when: "2026-10-27 10:59", rule: "abandoned", next: "2026-10-27 11:00",
			hist: []Event{ev(t, zz, "2026-10-24 12:00", analytics.Voice, KindAbandoned, "A1")}}, // 12:00 BST = 11:00 GMT
	})
}

func TestCO(t *testing.T) {
	z := zone(t, "America/Bogota")
	contactMon := []Event{ev(t, z, "2026-11-23 09:00", analytics.Voice, KindAttempt, "A1"), ev(t, z, "2026-11-23 09:01", analytics.Voice, KindContact, "A1")}
	run(t, "CO", z, []tc{
		{name: "weekday 06:59", when: "2026-11-24 06:59", rule: "window", next: "2026-11-24 07:00"},
		{name: "weekday 07:01", when: "2026-11-24 07:01", allowed: true},
		{name: "weekday 18:59", when: "2026-11-24 18:59", allowed: true},
		{name: "weekday 19:01", when: "2026-11-24 19:01", rule: "window", next: "2026-11-25 07:00"},
		{name: "Saturday 07:59", when: "2026-11-28 07:59", rule: "window", next: "2026-11-28 08:00"},
		{name: "Saturday 08:01", when: "2026-11-28 08:01", allowed: true},
		{name: "Saturday 14:59", when: "2026-11-28 14:59", allowed: true},
		{name: "Saturday 15:01", when: "2026-11-28 15:01", rule: "window", next: "2026-11-30 07:00"},
		{name: "Sunday", when: "2026-11-29 10:00", rule: "window", next: "2026-11-30 07:00"},
		{name: "Inmaculada Concepción", when: "2026-12-08 10:00", rule: "holiday", next: "2026-12-09 07:00"},
		{name: "Emiliani: Cartagena moved to Monday the 16th", when: "2026-11-16 10:00", rule: "holiday", next: "2026-11-17 07:00"},
		{name: "the 11th itself is a working day", when: "2026-11-11 10:00", allowed: true},
		{name: "Friday before Christmas weekend", when: "2026-12-24 18:00", allowed: true},
		{name: "Christmas then a weekend", when: "2026-12-25 09:00", rule: "holiday", next: "2026-12-26 08:00"},
		{name: "2027 calendar: Reyes moved to Monday Jan 11", when: "2027-01-11 09:00", rule: "holiday", next: "2027-01-12 07:00"},
		{name: "after a contact, nothing more today", when: "2026-11-23 15:00", rule: "1 contacts per day", next: "2026-11-24 07:00", hist: contactMon},
		{name: "the next day, the same channel", when: "2026-11-24 08:00", allowed: true, hist: contactMon},
		{name: "the same week, another channel", when: "2026-11-25 10:00", ch: analytics.SMS, rule: "channel(s) per week", next: "2026-11-30 07:00", hist: contactMon},
		{name: "the next week, another channel", when: "2026-11-30 07:30", ch: analytics.SMS, allowed: true, hist: contactMon},
		{name: "attempts without contact do not count", when: "2026-11-23 15:00", allowed: true,
			hist: []Event{ev(t, z, "2026-11-23 09:00", analytics.Voice, KindAttempt, "A1")}},
	})
}

func TestMX(t *testing.T) {
	z := zone(t, "America/Mexico_City")
	run(t, "MX", z, []tc{
		{name: "06:59", when: "2026-11-24 06:59", rule: "window", next: "2026-11-24 07:00"},
		{name: "07:01", when: "2026-11-24 07:01", allowed: true},
		{name: "21:59", when: "2026-11-24 21:59", allowed: true},
		{name: "22:01", when: "2026-11-24 22:01", rule: "window", next: "2026-11-25 07:00"},
		{name: "Sunday", when: "2026-11-29 12:00", allowed: true},
		{name: "Revolution day is not restricted", when: "2026-11-16 12:00", allowed: true},
	})
}

func TestCL(t *testing.T) {
	z := zone(t, "America/Santiago")
	run(t, "CL", z, []tc{
		{name: "Saturday 19:59", when: "2026-11-28 19:59", allowed: true},
		{name: "Saturday 20:01", when: "2026-11-28 20:01", rule: "window", next: "2026-11-30 08:00"},
		{name: "Sunday", when: "2026-11-29 10:00", rule: "window", next: "2026-11-30 08:00"},
		{name: "07:59", when: "2026-11-24 07:59", rule: "window", next: "2026-11-24 08:00"},
		{name: "Inmaculada Concepción", when: "2026-12-08 10:00", rule: "holiday", next: "2026-12-09 08:00"},
		{name: "one call a week", when: "2026-11-26 10:00", rule: "1 voice attempts per week", next: "2026-11-30 08:00",
			hist: []Event{ev(t, z, "2026-11-23 10:00", analytics.Voice, KindAttempt, "A1")}},
		{name: "the next week", when: "2026-11-30 08:01", allowed: true,
			hist: []Event{ev(t, z, "2026-11-23 10:00", analytics.Voice, KindAttempt, "A1")}},
		{name: "texts two days apart", when: "2026-11-24 12:00", ch: analytics.SMS, rule: "gap", next: "2026-11-25 10:00",
			hist: []Event{ev(t, z, "2026-11-23 10:00", analytics.SMS, KindAttempt, "A1")}},
		{name: "two texts a week", when: "2026-11-27 12:00", ch: analytics.WhatsApp, rule: "2 sms+whatsapp attempts per week", next: "2026-11-30 08:00",
			hist: []Event{ev(t, z, "2026-11-23 10:00", analytics.SMS, KindAttempt, "A1"), ev(t, z, "2026-11-25 10:00", analytics.WhatsApp, KindAttempt, "A1")}},
	})
}

func TestPE(t *testing.T) {
	z := zone(t, "America/Lima")
	run(t, "PE", z, []tc{
		{name: "Friday 19:59", when: "2026-11-27 19:59", allowed: true},
		{name: "Friday 20:01", when: "2026-11-27 20:01", rule: "window", next: "2026-11-30 07:00"},
		{name: "Saturday", when: "2026-11-28 10:00", rule: "window", next: "2026-11-30 07:00"},
		{name: "Fiestas Patrias", when: "2026-07-28 10:00", rule: "holiday", next: "2026-07-30 07:00"},
		{name: "Monday 06:59", when: "2026-11-30 06:59", rule: "window", next: "2026-11-30 07:00"},
	})
}

func TestMissingHolidayYearWarns(t *testing.T) {
	z := zone(t, "America/Bogota")
	d := Decide(calendars(t), Request{Profile: Builtin()["CO"], Channel: analytics.Voice, Zones: z, At: at(t, z, "2028-03-01 10:00")}, nil)
	if !d.Allowed || len(d.Warnings) == 0 || !strings.Contains(d.Warnings[0], "no CO holiday calendar for 2028") {
		t.Fatalf("decision %+v", d)
	}
	if missing := calendars(t).CheckCoverage(Builtin(), at(t, z, "2027-06-01 10:00")); len(missing) != 6 {
		t.Fatalf("missing calendars for 2028: %v", missing)
	}
}

func TestCustomProfile(t *testing.T) {
	src := `
name: ACME-CO
holidays: CO
closed_on_holidays: true
windows: {all: ["09:00-12:00", "14:00-18:00"], sun: []}
channel_windows: {sms: {all: ["10:00-17:00"]}}
caps:
  - {channel: voice, max: 2, per: 24h}
  - {channels: [sms, whatsapp], max: 2, per: week, min_gap: 2d}
`
	var p Profile
	if err := yaml.Unmarshal([]byte(src), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Compile(); err != nil {
		t.Fatal(err)
	}
	z := zone(t, "America/Bogota")
	cal := calendars(t)
	d := Decide(cal, Request{Profile: &p, Channel: analytics.Voice, Zones: z, At: at(t, z, "2026-11-24 12:30")}, nil)
	if d.Allowed || !d.NextAllowed.Equal(at(t, z, "2026-11-24 14:00")) {
		t.Fatalf("lunch gap: %+v", d)
	}
	d = Decide(cal, Request{Profile: &p, Channel: analytics.SMS, Zones: z, At: at(t, z, "2026-11-24 09:30")}, nil)
	if d.Allowed || !d.NextAllowed.Equal(at(t, z, "2026-11-24 10:00")) {
		t.Fatalf("sms window: %+v", d)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"name: x\nwindows: {mon: ['9-17']}", "HH:MM-HH:MM"},
		{"name: x\nwindows: {funday: ['09:00-17:00']}", "not a day"},
		{"name: x\ncaps: [{max: 2}]", "max needs per"},
		{"name: x\ncaps: [{max: 2, per: fortnight}]", "per"},
		{"name: x\ncaps: [{after: lunch, quiet: 1h}]", "after \"lunch\""},
		{"name: x\ncaps: [{channel: fax, max: 1, per: day}]", "fax"},
		{"name: x\ncaps: [{max: 1, per: day, max_contacts: 1}]", "exactly one"},
		{"name: x\ncaps: [{after: abandoned, quiet: 72h, unless: always}]", "unless"},
	} {
		var q Profile
		if err := yaml.Unmarshal([]byte(bad.yaml), &q); err != nil {
			t.Fatal(err)
		}
		if err := q.Compile(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

func TestShippedCalendarsCoverEveryProfile(t *testing.T) {
	cal := calendars(t)
	for _, c := range []string{"CO", "MX", "CL", "PE", "US", "UK"} {
		for _, y := range []int{2026, 2027} {
			if !cal.Has(c, y) {
				t.Errorf("no %s %d calendar", c, y)
			}
		}
	}
	if n := len(cal.days["CO"]); n != 36 {
		t.Errorf("CO has %d holidays in 2026-2027, want 18 a year", n)
	}
}
