package analytics

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// A row is checked against its ClickHouse columns before the writer
// acknowledges it, because what ClickHouse cannot hold is either refused by
// the driver (a Decimal beyond 18 digits) or, worse, stored wrong without a
// word (a Date of 0001-01-01 wraps to 2042, 0.001 rounds to 0.00). These are
// the only checks of that kind: the API, the importer and the writer's
// delivery use them.
//
// Size caps are ours, not ClickHouse's (a String holds anything): an id or a
// code longer than its cap is a bug or an attack, and is refused. Free text
// that comes from outside (a carrier's reason phrase, a debtor's message, the
// IVR path of a long call) is clipped at its cap when the row is spooled
// instead, so a long text never costs the record of a contact.
const (
	// MaxIDBytes caps ids: attempt, campaign, account, promise, payment,
	// message sid, node, trunk, agent, template.
	MaxIDBytes = 128
	// MaxPhoneBytes caps phone: an E.164 number, or the SIP URI of an
	// operator's test call.
	MaxPhoneBytes = 256
	// MaxCodeBytes caps short codes: disposition, amd, status, message
	// status, method, direction, action, country.
	MaxCodeBytes = 64
	// MaxReferenceBytes caps a payment's external reference.
	MaxReferenceBytes = 256
	// MaxReasonBytes clips an attempt's reason.
	MaxReasonBytes = 1 << 10
	// MaxPathBytes clips an attempt's ivr_path and dtmf.
	MaxPathBytes = 4 << 10
	// MaxBodyBytes clips a message body (WhatsApp allows 4,096 characters
	// of up to 4 bytes each).
	MaxBodyBytes = 16 << 10
)

// Column ranges.
var (
	// MaxMoney is the largest magnitude Decimal(18, 2) holds.
	MaxMoney = decimal.New(1_000_000_000_000_000_000-1, -2) // 9999999999999999.99
	// MinDateTime and MaxDateTime bound DateTime (seconds since 1970 in a UInt32).
	MinDateTime = time.Unix(0, 0).UTC()
	MaxDateTime = time.Unix(math.MaxUint32, 0).UTC() // 2106-02-07 06:28:15 UTC
	// MinDate and MaxDate bound Date. Its two bytes reach 2149, but
	// ClickHouse 18.16 supports dates fully only up to 2105 (and
	// clickhouse-go refuses DateTime beyond 2105-12-31).
	MinDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxDate = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

// FieldError is a value refused for its column: Field is the column (as named
// in the schema and the API), Reason says why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// FieldOf returns the field an error refuses, or "".
func FieldOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// CheckMoney says whether d fits Decimal(18, 2): at most 16 digits before the
// point and 2 after it (0.001 is refused, not rounded to 0.00).
func CheckMoney(field string, d decimal.Decimal) error {
	if d.Sign() == 0 {
		return nil
	}
	// Look at the digits and the exponent before comparing: 1e999999999 must
	// not make us build a billion-digit number.
	digits, exp := int64(d.NumDigits()), int64(d.Exponent())
	if digits+exp > 16 {
		return fieldErr(field, "%s is out of range (at most %s)", short(d), MaxMoney)
	}
	if exp < -2 {
		if exp < -64 || !d.Equal(d.Truncate(2)) {
			return fieldErr(field, "%s has more than 2 decimal places", short(d))
		}
	}
	return nil
}

// short renders d for an error message without printing a thousand digits.
func short(d decimal.Decimal) string {
	if d.NumDigits() > 40 || d.Exponent() > 40 || d.Exponent() < -40 {
		return fmt.Sprintf("%se%d", d.Coefficient().String()[:min(20, len(d.Coefficient().String()))], d.Exponent())
	}
	return d.String()
}

// CheckDateTime says whether t fits DateTime. A zero t is "none" (stored as
// 1970-01-01 00:00:00) and fits unless required.
func CheckDateTime(field string, t time.Time, required bool) error {
	if t.IsZero() {
		if required {
			return fieldErr(field, "missing")
		}
		return nil
	}
	if t.Before(MinDateTime) || t.After(MaxDateTime) {
		return fieldErr(field, "%s is outside %s..%s", t.UTC().Format(time.RFC3339), MinDateTime.Format(time.RFC3339),
			MaxDateTime.Format(time.RFC3339))
	}
	return nil
}

// CheckDate says whether t's calendar date fits Date. A zero t is "none".
func CheckDate(field string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if d.Before(MinDate) || d.After(MaxDate) {
		return fieldErr(field, "%s is outside %s..%s", d.Format(time.DateOnly), MinDate.Format(time.DateOnly), MaxDate.Format(time.DateOnly))
	}
	return nil
}

// CheckString refuses s longer than max bytes, or not UTF-8.
func CheckString(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, "%d bytes, longer than %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "not valid UTF-8")
	}
	return nil
}

// CheckCurrency refuses a code that is not an active ISO 4217 code; "" is
// refused only when required.
func CheckCurrency(field, code string, required bool) error {
	if code == "" && !required {
		return nil
	}
	if !ValidCurrency(code) {
		return fieldErr(field, "%q is not an ISO 4217 currency code (e.g. MXN, COP, USD)", clip(code, 16))
	}
	return nil
}

// ClipText returns s cut to at most max bytes on a rune boundary, marked
// with "…" when cut.
func ClipText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	n := max - len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// checks runs checks in order and returns the first failure.
func checks(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ids checks each (field, value) pair against MaxIDBytes.
func ids(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := CheckString(pairs[i], pairs[i+1], MaxIDBytes); err != nil {
			return err
		}
	}
	return nil
}

// codes checks each (field, value) pair against MaxCodeBytes.
func codes(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := CheckString(pairs[i], pairs[i+1], MaxCodeBytes); err != nil {
			return err
		}
	}
	return nil
}
