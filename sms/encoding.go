package sms

import (
	"strings"
	"unicode"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"
)

// Encoding is how a text travels in an SMS (3GPP TS 23.038).
type Encoding string

const (
	GSM7 Encoding = "GSM-7" // 160 characters in one segment, 153 per segment when split
	UCS2 Encoding = "UCS-2" // 70 in one segment, 67 per segment when split
)

// gsmBasic is the GSM 03.38 default alphabet; gsmExtended the characters
// reached through its escape, each costing two septets.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtended = "^{}\\[~]|€\f"
)

func gsmSeptets(r rune) int {
	switch {
	case strings.ContainsRune(gsmBasic, r):
		return 1
	case strings.ContainsRune(gsmExtended, r):
		return 2
	}
	return 0
}

// Segments says how text is encoded and how many segments it is billed as.
// Spanish "á", "í", "ó", "ú" are not in GSM-7, so one of them makes the
// whole message UCS-2 (70-character segments).
func Segments(text string) (Encoding, int) {
	if text == "" {
		return GSM7, 1
	}
	units := make([]int, 0, len(text))
	enc := GSM7
	for _, r := range text {
		n := gsmSeptets(r)
		if n == 0 {
			enc = UCS2
			break
		}
		units = append(units, n)
	}
	single, multi := 160, 153
	if enc == UCS2 {
		single, multi = 70, 67
		units = units[:0]
		for _, r := range text {
			units = append(units, len(utf16.Encode([]rune{r}))) // a surrogate pair is 2 and never split
		}
	}
	total := 0
	for _, u := range units {
		total += u
	}
	if total <= single {
		return enc, 1
	}
	// Split greedily; an escape pair or a surrogate pair stays in one segment.
	segs, used := 1, 0
	for _, u := range units {
		if used+u > multi {
			segs++
			used = 0
		}
		used += u
	}
	return enc, segs
}

// translit replaces characters outside GSM-7 that accent stripping alone
// does not map.
var translit = map[rune]string{
	'‘': "'", '’': "'", '‚': "'", '“': "\"", '”': "\"", '„': "\"", '«': "\"", '»': "\"",
	'–': "-", '—': "-", '−': "-", '…': "...", '•': "-", '\u00a0': " ", '\t': " ",
	'ª': "a", 'º': "o", '°': "o", '¢': "c", '₡': "C", 'ç': "c", 'Œ': "OE", 'œ': "oe",
}

// Transliterate rewrites text to stay within GSM-7: accents GSM-7 lacks are
// dropped (á→a, Í→I, ú→u, while é, ñ, ü, ¿ and ¡ are kept), typographic
// quotes and dashes become plain ones, and anything still outside the
// alphabet becomes "?".
func Transliterate(text string) string {
	var b strings.Builder
	for _, r := range text {
		if gsmSeptets(r) > 0 {
			b.WriteRune(r)
			continue
		}
		if s, ok := translit[r]; ok {
			b.WriteString(s)
			continue
		}
		base := ""
		for _, d := range norm.NFD.String(string(r)) {
			if !unicode.Is(unicode.Mn, d) {
				base += string(d)
			}
		}
		if base != "" && base != string(r) && allGSM(base) {
			b.WriteString(base)
			continue
		}
		b.WriteByte('?')
	}
	return b.String()
}

func allGSM(s string) bool {
	for _, r := range s {
		if gsmSeptets(r) == 0 {
			return false
		}
	}
	return true
}
