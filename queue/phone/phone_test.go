package phone

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	good := []struct{ raw, region, want string }{
		{"55 1234 5678", "MX", "+525512345678"},
		{"(55) 1234-5678", "mx", "+525512345678"},
		{"+52 1 55 1234 5678", "MX", "+525512345678"}, // old mobile "1" is dropped by the plan
		{"0052 33 1234 5678", "CO", "+523312345678"},
		{"300 123 4567", "CO", "+573001234567"},
		{"9 8765 4321", "CL", "+56987654321"},
		{"(212) 555-0142", "US", "+12125550142"},
		{"020 7946 0018", "GB", "+442079460018"},
		{"987 654 321", "PE", "+51987654321"},
	}
	for _, tc := range good {
		got, err := Normalize(tc.raw, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q, %s) = %q, %v; want %q", tc.raw, tc.region, got, err, tc.want)
		}
	}
	for _, bad := range []struct{ raw, region string }{
		{"", "MX"}, {"12", "MX"}, {"hola", "CO"}, {"55 12", "MX"}, {"+99 123", "MX"}, {"300 123 4567", "ZZ"},
	} {
		if got, err := Normalize(bad.raw, bad.region); err == nil {
			t.Errorf("Normalize(%q, %s) = %q, want an error", bad.raw, bad.region, got)
		} else if bad.raw != "" && !strings.Contains(err.Error(), bad.raw) {
			t.Errorf("error %q does not name the input", err)
		}
	}
}

func TestTimeZones(t *testing.T) {
	if z := TimeZones("+573001234567"); !slices.Equal(z, []string{"America/Bogota"}) {
		t.Errorf("CO mobile zones %v", z)
	}
	if z := TimeZones("+12125550142"); !slices.Contains(z, "America/New_York") {
		t.Errorf("NYC zones %v", z)
	}
	if z := TimeZones("not a number"); z != nil {
		t.Errorf("garbage zones %v", z)
	}
	if r := Region("+56987654321"); r != "CL" {
		t.Errorf("region %q", r)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"55 1234 5678", "+573001234567", "00", "+", "(((", "0052"} {
		f.Add(s, "MX")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := Normalize(raw, region)
		if err == nil && (len(got) < 4 || got[0] != '+') {
			t.Fatalf("Normalize(%q, %q) = %q: not E.164", raw, region, got)
		}
	})
}
