package ivr

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Check says what puts a promise of amount due on due (a calendar date, as
// today is: midnight UTC of the debtor's day) outside the policy for an
// account owing balance: field "amount" or "date" and the reason, or ""
// when it is inside. The one rule for promises keyed in the IVR and those
// agents record.
func (p Policy) Check(balance, amount decimal.Decimal, due, today time.Time) (field, reason string) {
	p = p.withDefaults()
	least := p.MinAmount
	if pct := balance.Mul(p.MinPercent).Div(decimal.NewFromInt(100)); pct.GreaterThan(least) {
		least = pct
	}
	switch last := today.AddDate(0, 0, p.MaxDays); {
	case !amount.IsPositive():
		return "amount", "must be more than 0"
	case amount.LessThan(least):
		return "amount", fmt.Sprintf("%s is below the policy's least of %s", amount.StringFixed(2), least.StringFixed(2))
	case balance.IsPositive() && amount.GreaterThan(balance):
		return "amount", fmt.Sprintf("%s is more than the balance of %s", amount.StringFixed(2), balance.StringFixed(2))
	case due.Before(today):
		return "date", fmt.Sprintf("%s is in the past", due.Format(time.DateOnly))
	case due.After(last):
		return "date", fmt.Sprintf("%s is after the policy's latest date, %s (%d days)", due.Format(time.DateOnly), last.Format(time.DateOnly), p.MaxDays)
	}
	return "", ""
}
