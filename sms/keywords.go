package sms

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Keyword is what an inbound text asks for.
type Keyword string

const (
	KeywordNone    Keyword = ""        // a conversation message for agents
	KeywordOptOut  Keyword = "optout"  // stop messaging this number on this channel
	KeywordPayLink Keyword = "paylink" // send the payment link
	KeywordOptIn   Keyword = "optin"   // undo the number's own opt-out by text
)

var keywords = map[string]struct {
	kw   Keyword
	lang string
}{
	"STOP": {KeywordOptOut, "en"}, "STOPALL": {KeywordOptOut, "en"}, "UNSUBSCRIBE": {KeywordOptOut, "en"},
	"CANCEL": {KeywordOptOut, "en"}, "END": {KeywordOptOut, "en"}, "QUIT": {KeywordOptOut, "en"},
	"BAJA": {KeywordOptOut, "es"}, "ALTO": {KeywordOptOut, "es"}, "CANCELAR": {KeywordOptOut, "es"},
	"PARAR": {KeywordOptOut, "es"},
	"PAGO":  {KeywordPayLink, "es"}, "PAGAR": {KeywordPayLink, "es"}, "LINK": {KeywordPayLink, "en"},
	"PAY": {KeywordPayLink, "en"}, "ENLACE": {KeywordPayLink, "es"},
	// Not ALTA: one letter from ALTO, a typo must not re-subscribe anyone.
	"START": {KeywordOptIn, "en"}, "UNSTOP": {KeywordOptIn, "en"}, "REACTIVAR": {KeywordOptIn, "es"},
}

// ParseKeyword reads an inbound text's keyword: its first word, in any case,
// accents and surrounding punctuation ignored ("Baja.", "¡ALTO!", "cancelár",
// "stop please"). lang is the keyword's language ("es" or "en"), a hint for
// the reply when the sender is not known.
func ParseKeyword(body string) (kw Keyword, lang string) {
	fields := strings.Fields(body)
	if len(fields) == 0 {
		return KeywordNone, ""
	}
	w := strings.TrimFunc(fold(fields[0]), func(r rune) bool { return !unicode.IsLetter(r) })
	if k, ok := keywords[w]; ok {
		return k.kw, k.lang
	}
	return KeywordNone, ""
}

// fold upper-cases s and strips its accents.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}
