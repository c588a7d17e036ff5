package ivr

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestPolicyCheck(t *testing.T) {
	today := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	pol := Policy{MaxDays: 15, MinAmount: decimal.NewFromInt(100), MinPercent: decimal.NewFromInt(10)}
	bal := decimal.NewFromInt(5000)
	d := func(n int) time.Time { return today.AddDate(0, 0, n) }
	cases := []struct {
		amount       string
		due          time.Time
		field, words string
	}{
		{"5000", d(0), "", ""},
		{"500", d(15), "", ""},
		{"0", d(1), "amount", "more than 0"},
		{"499.99", d(1), "amount", "below the policy's least of 500.00"},
		{"5000.01", d(1), "amount", "more than the balance"},
		{"600", d(-1), "date", "in the past"},
		{"600", d(16), "date", "after the policy's latest date, 2026-12-09 (15 days)"},
	}
	for _, c := range cases {
		field, reason := pol.Check(bal, decimal.RequireFromString(c.amount), c.due, today)
		if field != c.field || !strings.Contains(reason, c.words) {
			t.Errorf("%s on %s: %s %q, want %s %q", c.amount, c.due.Format(time.DateOnly), field, reason, c.field, c.words)
		}
	}
	// Defaults: 15 days, no least amount.
	if f, _ := (Policy{}).Check(bal, decimal.NewFromInt(1), d(15), today); f != "" {
		t.Errorf("default policy refused: %s", f)
	}
}
