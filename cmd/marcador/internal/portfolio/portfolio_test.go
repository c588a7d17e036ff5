package portfolio

import (
	"reflect"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestDeterministic(t *testing.T) {
	a := Generate(Options{N: 300, Seed: 7, Now: now})
	b := Generate(Options{N: 300, Seed: 7, Now: now})
	c := Generate(Options{N: 300, Seed: 8, Now: now})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different portfolio")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seed, same portfolio")
	}
}

func TestAccountsAreValidAndRealistic(t *testing.T) {
	accts := Generate(Options{N: 2000, Seed: 1, Now: now})
	if len(accts) != 2000 {
		t.Fatalf("got %d", len(accts))
	}
	per := map[string]int{}
	ids := map[string]bool{}
	for _, a := range accts {
		if err := a.Validate(); err != nil {
			t.Fatal(err)
		}
		if ids[a.ID] {
			t.Fatalf("duplicate id %s", a.ID)
		}
		ids[a.ID] = true
		per[a.Country]++
		for _, p := range a.Phones {
			num, err := phonenumbers.Parse(p.Number, "")
			if err != nil || !phonenumbers.IsValidNumber(num) || phonenumbers.GetRegionCodeForNumber(num) != a.Country {
				t.Fatalf("%s: phone %s not a valid %s number", a.ID, p.Number, a.Country)
			}
			if phonenumbers.GetNumberType(num) != phonenumbers.MOBILE && phonenumbers.GetNumberType(num) != phonenumbers.FIXED_LINE_OR_MOBILE {
				t.Fatalf("%s: phone %s is not a mobile", a.ID, p.Number)
			}
		}
		due, err := time.Parse("2006-01-02", a.DueDate)
		if err != nil {
			t.Fatal(err)
		}
		want := max(0, int(now.Truncate(24*time.Hour).Sub(due).Hours()/24))
		if a.DaysPastDue != want || a.Segment != Segment(a.DaysPastDue) {
			t.Fatalf("%s: due %s dpd %d (want %d) segment %s", a.ID, a.DueDate, a.DaysPastDue, want, a.Segment)
		}
		if !a.Balance.IsPositive() {
			t.Fatalf("%s: balance %s", a.ID, a.Balance)
		}
		if a.Country == "CL" {
			checkRUT(t, a.NationalID)
		}
	}
	for _, c := range []string{"MX", "CO", "CL"} {
		if per[c] < 600 || per[c] > 700 {
			t.Errorf("%s has %d of 2000", c, per[c])
		}
	}
}

func checkRUT(t *testing.T, rut string) {
	t.Helper()
	n, dv := 0, ""
	for i, c := range rut {
		switch {
		case c >= '0' && c <= '9' && i < len(rut)-2:
			n = n*10 + int(c-'0')
		case c == '-':
			dv = rut[i+1:]
		}
	}
	if rutCheck(n) != dv {
		t.Fatalf("RUT %s: check digit %s, want %s", rut, dv, rutCheck(n))
	}
}

func TestRUTKnownValues(t *testing.T) {
	// Published examples: 12.345.678-5, 11.111.111-1, 6-K.
	for n, want := range map[int]string{12345678: "5", 11111111: "1", 6: "K"} {
		if got := rutCheck(n); got != want {
			t.Errorf("rutCheck(%d) = %s, want %s", n, got, want)
		}
	}
	if s := formatRUT(12345678); s != "12.345.678-5" {
		t.Errorf("formatRUT = %s", s)
	}
}
