// Package importer turns uploaded contact lists (CSV or JSON) into accounts.
// Every problem with one row becomes a RowError for that row; the other rows
// still load. Only an unreadable stream or an unusable header fails the upload.
package importer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/phone"
)

// Options carry the campaign's defaults.
type Options struct {
	Country         string    // default region for numbers and Account.Country
	DefaultTimeZone string    // used when neither the row nor the number gives a zone
	Currency        string    // when the row has none
	Now             time.Time // for days_past_due when only a due date is given
}

// RowError is one rejected row. Row counts data rows from 1 in upload order
// (for CSV, the header is not counted: spreadsheet line = Row + 1).
type RowError struct {
	Row       int    `json:"row"`
	AccountID string `json:"account_id,omitempty"`
	Field     string `json:"field,omitempty"`
	Reason    string `json:"reason"`
}

func (e RowError) Error() string {
	id := ""
	if e.AccountID != "" {
		id = " (" + e.AccountID + ")"
	}
	if e.Field != "" {
		return fmt.Sprintf("row %d%s: %s: %s", e.Row, id, e.Field, e.Reason)
	}
	return fmt.Sprintf("row %d%s: %s", e.Row, id, e.Reason)
}

// Result is what an upload produced.
type Result struct {
	Accounts []queue.Account
	Errors   []RowError
}

// record is one row as field name → raw value, before validation.
type record struct {
	row    int
	fields map[string]string
	phones []string
	extra  map[string]string
}

func (r *record) setExtra(k, v string) {
	if r.extra == nil {
		r.extra = map[string]string{}
	}
	r.extra[k] = v
}

// addPhones adds the numbers that are not blank.
func (r *record) addPhones(numbers ...string) {
	for _, p := range numbers {
		if p = strings.TrimSpace(p); p != "" {
			r.phones = append(r.phones, p)
		}
	}
}

// loader builds an upload's records into its Result: an account, or the
// row's error while the other rows still load.
type loader struct {
	opt  Options
	seen map[string]int // account id -> the row it was first seen on
	res  Result
}

func newLoader(opt Options) *loader { return &loader{opt: opt, seen: map[string]int{}} }

func (l *loader) add(r record) {
	a, rerr := build(r, l.opt, l.seen)
	if rerr != nil {
		l.refuse(*rerr)
		return
	}
	l.res.Accounts = append(l.res.Accounts, a)
}

func (l *loader) refuse(e RowError) { l.res.Errors = append(l.res.Errors, e) }

// known are the recognised column names (after aliasing).
var known = map[string]bool{
	"account_id": true, "name": true, "national_id": true, "balance": true, "currency": true, "due_date": true,
	"days_past_due": true, "country": true, "time_zone": true, "language": true, "segment": true, "birth_date": true,
}

// canonical maps a header to its field name ("" for a phone column).
func canonical(h string) (name string, isPhone bool) {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.ReplaceAll(h, " ", "_")
	switch h {
	case "id", "account", "account_id", "cuenta":
		return "account_id", false
	case "phone", "phones", "telefono", "teléfono":
		return "", true
	case "timezone", "tz":
		return "time_zone", false
	case "dob", "date_of_birth", "fecha_nacimiento", "fecha_de_nacimiento":
		return "birth_date", false
	}
	if strings.HasPrefix(h, "phone") {
		if n, err := strconv.Atoi(h[len("phone"):]); err == nil && n >= 1 && n <= 9 {
			return "", true
		}
	}
	return h, false
}

// build validates one record into an account, or returns the row's error:
// the first step that refuses the row names its field.
func build(r record, opt Options, seen map[string]int) (queue.Account, *RowError) {
	b := &builder{r: r, opt: opt, id: strings.TrimSpace(r.fields["account_id"])}
	steps := []func() *RowError{b.checkUTF8, func() *RowError { return b.checkID(seen) }, b.identity, b.balance, b.dates, b.phones}
	for _, step := range steps {
		if e := step(); e != nil {
			return queue.Account{}, e
		}
	}
	if err := b.a.Validate(); err != nil {
		return queue.Account{}, b.fail("", "%v", err)
	}
	seen[b.id] = r.row
	return b.a, nil
}

// builder carries one record through build's steps into a.
type builder struct {
	r   record
	opt Options
	id  string
	a   queue.Account
}

func (b *builder) fail(field, format string, a ...any) *RowError {
	return &RowError{Row: b.r.row, AccountID: b.id, Field: field, Reason: fmt.Sprintf(format, a...)}
}

func (b *builder) checkUTF8() *RowError {
	const reason = "not valid UTF-8 (save the file as UTF-8)"
	for k, v := range b.r.fields {
		if !utf8.ValidString(v) {
			return b.fail(k, reason)
		}
	}
	for k, v := range b.r.extra {
		if !utf8.ValidString(v) || !utf8.ValidString(k) {
			return b.fail(k, reason)
		}
	}
	for _, p := range b.r.phones {
		if !utf8.ValidString(p) {
			return b.fail("phone", reason)
		}
	}
	return nil
}

func (b *builder) checkID(seen map[string]int) *RowError {
	switch {
	case b.id == "":
		return b.fail("account_id", "missing")
	case len(b.id) > analytics.MaxIDBytes:
		return b.fail("account_id", "longer than %d bytes", analytics.MaxIDBytes)
	case needsCleaning(b.id):
		return b.fail("account_id", "holds control or bidirectional-override characters")
	}
	if first, dup := seen[b.id]; dup {
		return b.fail("account_id", "duplicate of row %d in this upload (the first is kept)", first)
	}
	return nil
}

// identity fills who the debtor is and where: names, country, currency,
// time zone (the campaign's defaults where the row says nothing).
func (b *builder) identity() *RowError {
	f := b.r.fields
	b.a = queue.Account{
		ID: b.id, Name: cleanText(f["name"]), NationalID: cleanText(f["national_id"]),
		Country: strings.ToUpper(strings.TrimSpace(f["country"])), TimeZone: strings.TrimSpace(f["time_zone"]),
		Language: cleanText(f["language"]), Segment: cleanText(f["segment"]),
		Currency: strings.ToUpper(strings.TrimSpace(f["currency"])), Fields: cleanFields(b.r.extra),
	}
	a := &b.a
	if a.Country == "" {
		a.Country = strings.ToUpper(b.opt.Country)
	}
	if len(a.Country) != 2 {
		return b.fail("country", "%q is not an ISO 3166 two-letter code", a.Country)
	}
	if a.Currency == "" {
		a.Currency = strings.ToUpper(b.opt.Currency)
	}
	switch {
	case a.Currency == "":
		// The IVR cannot say an amount without one.
		return b.fail("currency", "missing: add a currency column or set the campaign's currency")
	case !analytics.ValidCurrency(a.Currency):
		return b.fail("currency", "%q is not an ISO 4217 currency code (e.g. MXN, COP, CLP, PEN, USD)", clipText(a.Currency))
	}
	if a.TimeZone != "" {
		if _, err := time.LoadLocation(a.TimeZone); err != nil || a.TimeZone == "Local" {
			return b.fail("time_zone", "%q is not an IANA time zone (e.g. America/Bogota)", a.TimeZone)
		}
	}
	return nil
}

func (b *builder) balance() *RowError {
	s := strings.TrimSpace(b.r.fields["balance"])
	if s == "" {
		return nil
	}
	v, err := parseAmount(s)
	if err != nil {
		return b.fail("balance", "%q is not an amount", s)
	}
	if v.IsNegative() {
		return b.fail("balance", "%q is negative", s)
	}
	// A promise of the full balance must fit the ledger (Decimal(18, 2)).
	var fe *analytics.FieldError
	if err := analytics.CheckMoney("balance", v); errors.As(err, &fe) {
		return b.fail("balance", "%q: %s", clipText(s), fe.Reason)
	}
	b.a.Balance = v
	return nil
}

// dates reads due_date (and the days past due it implies), birth_date, and
// days_past_due, which wins over the one computed from the due date.
func (b *builder) dates() *RowError {
	f, a, now := b.r.fields, &b.a, b.opt.Now
	if d := strings.TrimSpace(f["due_date"]); d != "" {
		t, err := parseDate(d)
		if err != nil {
			return b.fail("due_date", "%q: want YYYY-MM-DD or DD/MM/YYYY", clipText(d))
		}
		if day := t.Format(queue.DateLayout); day < minDueDate || day > maxDueDate {
			return b.fail("due_date", "%s: want %s to %s", day, minDueDate, maxDueDate)
		}
		a.DueDate = t.Format(queue.DateLayout)
		if !now.IsZero() {
			today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
			a.DaysPastDue = max(0, int(today.Sub(t).Hours()/24))
		}
	}
	if d := strings.TrimSpace(f["birth_date"]); d != "" {
		// What a caller of the callback line may key (DDMMYYYY) to prove who they are.
		t, err := parseDate(d)
		if err != nil {
			return b.fail("birth_date", "%q: want YYYY-MM-DD or DD/MM/YYYY", d)
		}
		if t.Year() < 1900 || !now.IsZero() && t.After(now) {
			return b.fail("birth_date", "%q: not a birth date (1900 to today)", d)
		}
		a.BirthDate = t.Format(queue.DateLayout)
	}
	if d := strings.TrimSpace(f["days_past_due"]); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > 36500 {
			return b.fail("days_past_due", "%q is not a whole number of days", d)
		}
		a.DaysPastDue = n
	}
	return nil
}

// phones normalises every number in the account's country and gives each
// its zones: the account's, else the number's, else the campaign's.
func (b *builder) phones() *RowError {
	a := &b.a
	if len(b.r.phones) == 0 {
		return b.fail("phone", "missing")
	}
	for i, raw := range b.r.phones {
		num, err := phone.Normalize(raw, a.Country)
		if err != nil {
			// One bad number rejects the row: the operator fixes the data
			// rather than us silently dialling only some of the debtor's phones.
			return b.fail(fmt.Sprintf("phone%d", i+1), "%v", err)
		}
		p := queue.Phone{Number: num}
		switch {
		case a.TimeZone != "":
			p.TimeZones = []string{a.TimeZone}
		default:
			p.TimeZones = phone.TimeZones(num)
			if len(p.TimeZones) == 0 && b.opt.DefaultTimeZone != "" {
				p.TimeZones = []string{b.opt.DefaultTimeZone}
			}
		}
		if slicesContainsNumber(a.Phones, num) {
			continue
		}
		a.Phones = append(a.Phones, p)
	}
	return nil
}

// Due dates are believed from 1990 (older debts are past any collection
// window; 0001-01-01 is an empty cell some export wrote) to 2100. In
// DateLayout, so they compare as strings.
const (
	minDueDate = "1990-01-01"
	maxDueDate = "2100-12-31"
)

func cleanFields(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if k = cleanText(k); k != "" {
			out[k] = cleanText(v)
		}
	}
	return out
}

func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func slicesContainsNumber(ps []queue.Phone, n string) bool {
	for _, p := range ps {
		if p.Number == n {
			return true
		}
	}
	return false
}

// parseAmount accepts the ways spreadsheets write amounts: "1250.50",
// "1,250.50", "1.250,50", "1250,50", "1.250.000", "$ 1,250". When both
// separators appear the last one is the decimal point; a lone separator
// followed by exactly three digits, or a repeated one, groups thousands.
func parseAmount(s string) (decimal.Decimal, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "$"))
	dot, comma := strings.LastIndex(s, "."), strings.LastIndex(s, ",")
	decimalSep := byte(0)
	switch {
	case dot >= 0 && comma >= 0:
		decimalSep = s[max(dot, comma)]
	case dot >= 0 || comma >= 0:
		i, sep := max(dot, comma), s[max(dot, comma)]
		if strings.Count(s, string(sep)) == 1 && len(s)-i-1 != 3 {
			decimalSep = sep
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == decimalSep:
			b.WriteByte('.')
		case c == '.' || c == ',' || c == ' ':
		default:
			b.WriteByte(c)
		}
	}
	return decimal.NewFromString(b.String())
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{queue.DateLayout, "02/01/2006", "2/1/2006", "02-01-2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q", s)
}
