// Package phone turns numbers as operators type them into E.164 and tells
// which time zones a number may ring in.
package phone

import (
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Normalize parses raw (spaces, dashes, dots, parentheses, a leading + or 00,
// national formats with trunk prefixes) for defaultRegion (ISO 3166, e.g.
// "MX") and returns it in E.164, or an error naming the input.
func Normalize(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("phone is empty")
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(defaultRegion))
	if err != nil {
		return "", fmt.Errorf("phone %q (region %s): %w", raw, defaultRegion, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		num = withoutMexicanMobileOne(num)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("phone %q (region %s): not a valid number", raw, defaultRegion)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// IsE164 reports whether s is a valid number already written in E.164 (+
// and digits, nothing to normalise): what a caller id must be.
func IsE164(s string) bool {
	n, err := Normalize(s, "")
	return err == nil && n == s
}

// TimeZones returns the IANA zones an E.164 number may be in, or nil when
// the numbering plan does not say.
func TimeZones(e164 string) []string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return nil
	}
	zones, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		return nil
	}
	var out []string
	for _, z := range zones {
		if z != "" && z != "Etc/Unknown" {
			out = append(out, z)
		}
	}
	return out
}

// Region returns the ISO country of an E.164 number ("" if unknown).
func Region(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}

// withoutMexicanMobileOne drops the "1" Mexico used to dial mobiles with
// (+52 1 55 ...), abolished in 2019 but still common in creditors' files.
func withoutMexicanMobileOne(num *phonenumbers.PhoneNumber) *phonenumbers.PhoneNumber {
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	if num.GetCountryCode() != 52 || len(nsn) != 11 || nsn[0] != '1' {
		return num
	}
	fixed, err := phonenumbers.Parse("+52"+nsn[1:], "MX")
	if err != nil {
		return num
	}
	return fixed
}
