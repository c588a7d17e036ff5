package contact

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/redistest"
)

// The clock is 2026-11-29 (a Sunday) 03:30 UTC: Saturday evening in the
// Americas, Sunday morning in Europe, so both the hour and the ISO weekday
// show which zone the row was read in.
var testNow = time.Date(2026, 11, 29, 3, 30, 0, 0, time.UTC)

const (
	mexicoCity = "+525512345678" // the number says America/Mexico_City (UTC-6)
	bogota     = "+573001234567" // America/Bogota (UTC-5)
	noZone     = "+882350000000" // an international network: the number says no zone
)

func TestStart(t *testing.T) {
	b := Builder{Node: "node-7", Now: func() time.Time { return testNow }}
	for _, tc := range []struct {
		name            string
		c               queue.Campaign
		acct            queue.Account
		number          string
		ch              analytics.Channel
		zone            string // the first zone, "" for none
		hour, weekday   uint8
		country         string
		subjectDefault  string
		subjectTimeZone string
	}{
		{name: "the number's zone", c: queue.Campaign{ID: "c1", TimeZone: "Europe/Madrid"},
			acct: queue.Account{ID: "A1", Currency: "MXN", Country: "MX", Segment: "early"}, number: mexicoCity, ch: analytics.Voice,
			zone: "America/Mexico_City", hour: 21, weekday: 6, country: "MX", subjectDefault: "Europe/Madrid"},
		{name: "the account's declared zone wins over the number's",
			c:      queue.Campaign{ID: "c1", TimeZone: "America/Mexico_City"},
			acct:   queue.Account{ID: "A2", Currency: "COP", Country: "CO", TimeZone: "Europe/Madrid", NationalID: "CC-9"},
			number: bogota, ch: analytics.SMS, zone: "Europe/Madrid", hour: 4, weekday: 7, country: "CO",
			subjectDefault: "America/Mexico_City", subjectTimeZone: "Europe/Madrid"},
		{name: "the campaign's zone when the number says none", c: queue.Campaign{ID: "c2", TimeZone: "America/Bogota"},
			acct: queue.Account{ID: "A3"}, number: noZone, ch: analytics.WhatsApp, zone: "America/Bogota", hour: 22, weekday: 6,
			country: "001", subjectDefault: "America/Bogota"},
		{name: "nothing says: local time unknown", c: queue.Campaign{ID: "c3"}, acct: queue.Account{ID: "A4"},
			number: noZone, ch: analytics.Voice, country: "001"},
		{name: "an unknown zone name is no zone", c: queue.Campaign{ID: "c3"}, acct: queue.Account{ID: "A5", TimeZone: "Mars/Olympus"},
			number: mexicoCity, ch: analytics.Voice, country: "MX", subjectTimeZone: "Mars/Olympus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.Start(tc.c, tc.acct, tc.number, tc.ch)
			r := a.Row
			if r.AttemptID == "" || r.CampaignID != tc.c.ID || r.AccountID != tc.acct.ID || r.Phone != tc.number ||
				r.Channel != tc.ch || r.NodeID != "node-7" || !r.StartedAt.Equal(testNow) || r.Currency != tc.acct.Currency ||
				r.Country != tc.country || r.Segment != tc.acct.Segment {
				t.Errorf("row %+v", r)
			}
			if r.LocalHour != tc.hour || r.LocalWeekday != tc.weekday {
				t.Errorf("local time %d/%d, want %d/%d", r.LocalHour, r.LocalWeekday, tc.hour, tc.weekday)
			}
			first := ""
			if len(a.Zones) > 0 {
				first = a.Zones[0].String()
			}
			if first != tc.zone {
				t.Errorf("first zone %q, want %q", first, tc.zone)
			}
			want := compliance.Subject{Phone: tc.number, Account: tc.acct.ID, NationalID: tc.acct.NationalID, Country: tc.acct.Country,
				TimeZone: tc.subjectTimeZone, DefaultZone: tc.subjectDefault, Campaign: tc.c.ID}
			if a.Subject != want {
				t.Errorf("subject %+v, want %+v", a.Subject, want)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("row not writable: %v", err)
			}
		})
	}
}

// Each attempt gets its own id; the clock is read at each start.
func TestStartReadsTheClockEachTime(t *testing.T) {
	now := testNow
	b := Builder{Now: func() time.Time { return now }}
	a1 := b.Start(queue.Campaign{ID: "c"}, queue.Account{ID: "A"}, mexicoCity, analytics.Voice)
	now = now.Add(3 * time.Hour)
	a2 := b.Start(queue.Campaign{ID: "c"}, queue.Account{ID: "A"}, mexicoCity, analytics.Voice)
	if a1.Row.AttemptID == a2.Row.AttemptID || !a2.Row.StartedAt.Equal(testNow.Add(3*time.Hour)) || a2.Row.LocalHour != 0 ||
		a2.Row.LocalWeekday != 7 {
		t.Fatalf("second start %+v (first %s)", a2.Row, a1.Row.AttemptID)
	}
	if def := (Builder{}).Start(queue.Campaign{ID: "c"}, queue.Account{ID: "A"}, mexicoCity, analytics.Voice); time.Since(def.Row.StartedAt) > time.Minute {
		t.Fatalf("no clock: started at %s, want now", def.Row.StartedAt)
	}
}

// An inbound call starts about nobody; once the caller proves who they
// are, the same attempt (id, start) is theirs, in their zone.
func TestAssign(t *testing.T) {
	b := Builder{Node: "n", Now: func() time.Time { return testNow }}
	line := queue.Campaign{ID: "inbound"}
	a := b.Start(line, queue.Account{}, noZone, analytics.Voice)
	if a.Row.CampaignID != "inbound" || a.Row.AccountID != "" || a.Row.LocalWeekday != 0 || len(a.Zones) != 0 {
		t.Fatalf("before verifying: %+v", a.Row)
	}
	id := a.Row.AttemptID
	c := queue.Campaign{ID: "c9", TimeZone: "America/Santiago"}
	acct := queue.Account{ID: "CL-1", Currency: "CLP", Country: "CL", NationalID: "12345678-9"}
	a.Assign(c, acct)
	if a.Row.AttemptID != id || !a.Row.StartedAt.Equal(testNow) || a.Row.CampaignID != "c9" || a.Row.AccountID != "CL-1" ||
		a.Row.Currency != "CLP" || a.Subject.NationalID != "12345678-9" || a.Subject.Phone != noZone {
		t.Fatalf("after verifying: %+v %+v", a.Row, a.Subject)
	}
	// 03:30 UTC is 00:30 Sunday in Santiago (UTC-3 in November).
	if a.Row.LocalHour != 0 || a.Row.LocalWeekday != 7 || a.Zones[0].String() != "America/Santiago" {
		t.Fatalf("local time %d/%d in %v", a.Row.LocalHour, a.Row.LocalWeekday, a.Zones)
	}
	// Assigned back to nobody, the local time is unknown again.
	a.Assign(line, queue.Account{})
	if a.Row.LocalHour != 0 || a.Row.LocalWeekday != 0 {
		t.Fatalf("unassigned local time %d/%d", a.Row.LocalHour, a.Row.LocalWeekday)
	}
}

func TestZones(t *testing.T) {
	for _, tc := range []struct {
		c      queue.Campaign
		acct   queue.Account
		number string
		want   string
	}{
		{queue.Campaign{TimeZone: "America/Lima"}, queue.Account{TimeZone: "America/Bogota"}, mexicoCity, "America/Bogota"},
		{queue.Campaign{TimeZone: "America/Lima"}, queue.Account{}, mexicoCity, "America/Mexico_City"},
		{queue.Campaign{TimeZone: "America/Lima"}, queue.Account{}, noZone, "America/Lima"},
		{queue.Campaign{}, queue.Account{}, noZone, ""},
	} {
		got := ""
		if z := Zones(tc.c, tc.acct, tc.number); len(z) > 0 {
			got = z[0].String()
		}
		if got != tc.want {
			t.Errorf("Zones(%+v, %+v, %s) = %q, want %q", tc.c, tc.acct, tc.number, got, tc.want)
		}
	}
}

func TestPick(t *testing.T) {
	ctx := context.Background()
	cal, err := compliance.LoadCalendars("", nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := compliance.NewGate(compliance.GateOptions{Client: redistest.Client(t), Calendars: cal, Profiles: compliance.Builtin(),
		Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	run := hex.EncodeToString(b)
	camp, other := "pick-"+run, "other-"+run
	num := func(i int) string { return fmt.Sprintf("+5255%s%02d", fmt.Sprint(time.Now().UnixNano()%1e6), i) }
	p1, p2, p3 := num(1), num(2), num(3)
	phones := []queue.Phone{{Number: p1}, {Number: p2}, {Number: p3}}
	// p1 is on the global voice list, p3 on this campaign's voice list; p2
	// only on the global SMS list.
	for _, e := range []compliance.DNCEntry{
		{Phone: p1, Channel: "voice", Reason: "test"},
		{Phone: p3, Channel: "voice", Campaign: camp, Reason: "test"},
		{Phone: p2, Channel: "sms", Reason: "test"},
	} {
		if err := g.AddDNC(ctx, e); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.RemoveDNC(context.Background(), e) })
	}
	for _, tc := range []struct {
		name     string
		campaign string
		phones   []queue.Phone
		ch       analytics.Channel
		n        int
		want     string
		listed   bool
	}{
		{"first attempt skips the globally listed first phone", camp, phones, analytics.Voice, 1, p2, false},
		{"second attempt starts at the second phone", camp, phones, analytics.Voice, 2, p2, false},
		{"third attempt skips the campaign's listing and wraps around", camp, phones, analytics.Voice, 3, p2, false},
		{"the fourth attempt is the first again", camp, phones, analytics.Voice, 4, p2, false},
		{"another campaign's list does not apply", other, phones, analytics.Voice, 3, p3, false},
		{"lists are per channel", camp, phones, analytics.SMS, 1, p1, false},
		{"an sms listing skips to the next phone", camp, phones, analytics.SMS, 2, p3, false},
		{"every phone listed: the rotation's phone, listed", camp, []queue.Phone{{Number: p1}, {Number: p3}}, analytics.Voice, 2, p3, true},
		{"one phone, listed", camp, []queue.Phone{{Number: p1}}, analytics.Voice, 1, p1, true},
		{"no phone at all", camp, nil, analytics.Voice, 1, "", true},
		{"attempt 0 counts as the first", camp, phones, analytics.SMS, 0, p1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, listed := Pick(ctx, g, tc.campaign, tc.phones, tc.ch, tc.n)
			if got != tc.want || listed != tc.listed {
				t.Errorf("Pick = %s, %v; want %s, %v", got, listed, tc.want, tc.listed)
			}
		})
	}
}

// A phone whose listing cannot be read is not contacted.
func TestPickFailsClosed(t *testing.T) {
	cal, _ := compliance.LoadCalendars("", nil)
	g, err := compliance.NewGate(compliance.GateOptions{Client: redistest.Client(t), Calendars: cal, Profiles: compliance.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // every lookup fails
	if got, listed := Pick(ctx, g, "c", []queue.Phone{{Number: mexicoCity}, {Number: bogota}}, analytics.Voice, 1); got != mexicoCity || !listed {
		t.Fatalf("Pick with failing lookups = %s, %v; want %s, listed", got, listed, mexicoCity)
	}
}

func TestLanguage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		account  string
		campaign string
		defaults []string
		want     string
	}{
		{"the account's language first", "en", "es", []string{"es"}, "en"},
		{"then the campaign's", "", "en", []string{"es"}, "en"},
		{"an account language Marcador does not speak is skipped", "fr", "en", nil, "en"},
		{"regional tags are not guessed", "es-MX", "en", nil, "en"},
		{"then the caller's default", "", "", []string{"en"}, "en"},
		{"defaults in order, unspoken ones skipped", "", "", []string{"", "pt", "en", "es"}, "en"},
		{"nothing says: Spanish", "", "", nil, queue.DefaultLanguage},
		{"a campaign in a language not spoken falls through", "", "de", []string{"en"}, "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Language(queue.Campaign{Language: tc.campaign}, queue.Account{Language: tc.account}, tc.defaults...)
			if got != tc.want {
				t.Errorf("Language = %q, want %q", got, tc.want)
			}
		})
	}
}
