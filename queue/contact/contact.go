// Package contact starts contact attempts, the same way for every channel
// and every caller (the campaign runner, the inbound line, the SMS sender,
// the operator's test call): the attempt row with whom it reaches and in
// which time zones (Builder), the phone to reach them on (Pick), and the
// language to speak to them in (Language).
package contact

import (
	"context"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/compliance"
	"github.com/marcador/marcador/queue/phone"
)

// Attempt is a contact attempt being made: its row, whom it reaches (for the
// compliance gate), and the debtor's time zones.
type Attempt struct {
	Row     analytics.Attempt
	Subject compliance.Subject
	// Zones are the debtor's possible zones, the first one the row's local
	// time is read in; empty when neither the account, the number nor the
	// campaign says.
	Zones []*time.Location
}

// Builder starts the attempts of one node on one clock.
type Builder struct {
	Node string
	// Now is the attempts' clock (their start, the debtor's local hour and
	// weekday); default time.Now.
	Now func() time.Time
}

// Start begins an attempt on ch to number about account acct of campaign c:
// a new attempt id, started now, in the account's currency and segment,
// the number's country, and the debtor's local hour and weekday. Callers add what only
// they know (trunk, attempt number, template).
func (b Builder) Start(c queue.Campaign, acct queue.Account, number string, ch analytics.Channel) Attempt {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	a := Attempt{Row: analytics.Attempt{AttemptID: analytics.NewAttemptID(), Phone: number, Channel: ch, NodeID: b.Node,
		StartedAt: now(), Country: Country(number)}}
	a.Assign(c, acct)
	return a
}

// Country is the country a contact at number counts in (the attempt's
// row, and a promise made on it): the number's region.
func Country(number string) string { return phone.Region(number) }

// Assign makes the attempt one about account acct of campaign c (an inbound
// call once the caller proved who they are): the row's ids, currency and
// segment, the subject, the zones and the local time at the row's
// StartedAt.
func (a *Attempt) Assign(c queue.Campaign, acct queue.Account) {
	a.Row.CampaignID, a.Row.AccountID, a.Row.Currency, a.Row.Segment = c.ID, acct.ID, acct.Currency, acct.Segment
	a.Subject = Subject(c, acct, a.Row.Phone)
	a.Zones, _ = compliance.Zones(a.Subject) // none: the local time stays unknown (weekday 0)
	a.Row.LocalHour, a.Row.LocalWeekday = 0, 0
	if len(a.Zones) > 0 {
		a.Row.SetLocalTime(a.Zones[0])
	}
}

// Subject is whom a contact at number about account acct of campaign c
// reaches, as the compliance gate counts and explains it.
func Subject(c queue.Campaign, acct queue.Account, number string) compliance.Subject {
	return compliance.Subject{Phone: number, Account: acct.ID, NationalID: acct.NationalID, Country: acct.Country,
		TimeZone: acct.TimeZone, DefaultZone: c.TimeZone, Campaign: c.ID}
}

// Zones are the debtor's possible time zones when reached at number (the
// account's declared zone, else the number's, else the campaign's); nil when
// none is known.
func Zones(c queue.Campaign, acct queue.Account, number string) []*time.Location {
	zones, _ := compliance.Zones(Subject(c, acct, number))
	return zones
}

// Pick returns the phone for an account's attempt number n (1 for the
// first) on ch: phones are tried in rotation from the n-th on, skipping
// those on a do-not-contact list for ch (the global one or campaign's), so
// each attempt moves on to the next number. A phone whose listing cannot be
// read is skipped too: a number is contacted only when known not to be
// listed. listed says no phone may be contacted (or there is none); number
// is then the one the rotation would have used, for the record.
func Pick(ctx context.Context, gate *compliance.Gate, campaign string, phones []queue.Phone, ch analytics.Channel, n int) (number string, listed bool) {
	k := len(phones)
	if k == 0 {
		return "", true
	}
	first := (max(n, 1) - 1) % k
	for i := range k {
		p := phones[(first+i)%k].Number
		if _, on, err := gate.LookupDNC(ctx, p, ch, campaign); err == nil && !on {
			return p, false
		}
	}
	return phones[first].Number, true
}

// Language is what the debtor hears and reads: the account's language when
// Marcador speaks it, else the campaign's, else the first of defaults it
// speaks, else queue.DefaultLanguage.
func Language(c queue.Campaign, acct queue.Account, defaults ...string) string {
	for _, l := range append([]string{acct.Language, c.Language}, defaults...) {
		if queue.Speaks(l) {
			return l
		}
	}
	return queue.DefaultLanguage
}
