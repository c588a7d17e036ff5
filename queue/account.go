package queue

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// DateLayout is how calendar dates (due dates, promise dates) are written.
const DateLayout = "2006-01-02"

// Phone is one of an account's numbers, in E.164, with the IANA time zones the
// debtor may be in when reached on it. A number whose prefix spans several zones
// lists them all; compliance requires every one of them to allow the contact.
type Phone struct {
	Number    string   `json:"number"`
	TimeZones []string `json:"time_zones,omitempty"`
}

// Account is one debtor's account as loaded into a campaign. Phones are kept in
// the order they should be tried.
type Account struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	NationalID  string            `json:"national_id,omitempty"`
	BirthDate   string            `json:"birth_date,omitempty"` // DateLayout; what a caller may key to prove who they are
	Phones      []Phone           `json:"phones"`
	Balance     decimal.Decimal   `json:"balance"`
	Currency    string            `json:"currency"`
	DueDate     string            `json:"due_date,omitempty"` // DateLayout
	DaysPastDue int               `json:"days_past_due"`
	Country     string            `json:"country"`             // ISO 3166-1 alpha-2
	TimeZone    string            `json:"time_zone,omitempty"` // as declared by the source, if any
	Language    string            `json:"language,omitempty"`  // BCP 47, e.g. "es", "en"
	Segment     string            `json:"segment,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
}

// Validate reports the first thing that makes the account unusable.
func (a *Account) Validate() error {
	switch {
	case a.ID == "":
		return fmt.Errorf("account id is empty")
	case len(a.ID) > 128:
		return fmt.Errorf("account id %.20q...: longer than 128 bytes", a.ID)
	case len(a.Phones) == 0:
		return fmt.Errorf("account %q: no phone", a.ID)
	}
	for i, p := range a.Phones {
		if len(p.Number) < 3 || p.Number[0] != '+' {
			return fmt.Errorf("account %q: phone %d %q is not E.164", a.ID, i+1, p.Number)
		}
	}
	if a.DueDate != "" {
		if _, err := time.Parse(DateLayout, a.DueDate); err != nil {
			return fmt.Errorf("account %q: due date %q: want YYYY-MM-DD", a.ID, a.DueDate)
		}
	}
	if a.BirthDate != "" {
		if t, err := time.Parse(DateLayout, a.BirthDate); err != nil || t.Year() < 1900 {
			return fmt.Errorf("account %q: birth date %q: want YYYY-MM-DD, 1900 or later", a.ID, a.BirthDate)
		}
	}
	if a.Balance.IsNegative() {
		return fmt.Errorf("account %q: balance %s is negative", a.ID, a.Balance)
	}
	return nil
}
