package sms

import (
	"strings"
	"testing"
)

func TestSegments(t *testing.T) {
	for _, c := range []struct {
		text string
		enc  Encoding
		segs int
	}{
		{"", GSM7, 1},
		{strings.Repeat("a", 160), GSM7, 1},
		{strings.Repeat("a", 161), GSM7, 2},
		{strings.Repeat("a", 306), GSM7, 2},
		{strings.Repeat("a", 307), GSM7, 3},
		{strings.Repeat("€", 80), GSM7, 1},                                   // 160 septets
		{strings.Repeat("a", 152) + "€" + strings.Repeat("b", 152), GSM7, 3}, // the escape pair moves whole into segment 2
		{"Señor, ¿pagaré el 5? ¡Gracias! é ü", GSM7, 1},                      // all in GSM-7
		{"Paga aquí", UCS2, 1},                                               // í is not
		{strings.Repeat("a", 69) + "í", UCS2, 1},                             // 70
		{strings.Repeat("a", 70) + "í", UCS2, 2},                             // 71
		{strings.Repeat("á", 134), UCS2, 2},                                  // 2 × 67
		{strings.Repeat("á", 135), UCS2, 3},                                  //
		{strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 66), UCS2, 3},   // surrogate pair not split
	} {
		enc, segs := Segments(c.text)
		if enc != c.enc || segs != c.segs {
			t.Errorf("%.30q (%d runes): %s/%d, want %s/%d", c.text, len([]rune(c.text)), enc, segs, c.enc, c.segs)
		}
	}
}

func TestTransliterate(t *testing.T) {
	in := "Paga aquí tu crédito — “ahora”… Ángel Núñez, ¿sí? ¡Ya! Ç ø ü 😀"
	want := "Paga aqui tu crédito - \"ahora\"... Angel Nuñez, ¿si? ¡Ya! Ç ø ü ?"
	if got := Transliterate(in); got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	if enc, _ := Segments(Transliterate(in)); enc != GSM7 {
		t.Fatal("transliterated text is not GSM-7")
	}
}

func TestParseKeyword(t *testing.T) {
	for body, want := range map[string]Keyword{
		"STOP": KeywordOptOut, "stop": KeywordOptOut, " Stop please": KeywordOptOut, "UNSUBSCRIBE": KeywordOptOut,
		"baja": KeywordOptOut, "Baja.": KeywordOptOut, "¡ALTO!": KeywordOptOut, "cancelár": KeywordOptOut,
		"CANCELAR": KeywordOptOut, "Alto": KeywordOptOut,
		"pago": KeywordPayLink, "PAGO": KeywordPayLink, "link": KeywordPayLink, "Link?": KeywordPayLink,
		"start": KeywordOptIn, "Reactivar": KeywordOptIn, "ALTA": KeywordNone,
		"": KeywordNone, "hola, ya pagué": KeywordNone, "stopped by": KeywordNone, "no quiero pagar": KeywordNone,
	} {
		if got, _ := ParseKeyword(body); got != want {
			t.Errorf("%q: %q, want %q", body, got, want)
		}
	}
	if _, lang := ParseKeyword("baja"); lang != "es" {
		t.Errorf("baja: lang %q", lang)
	}
}

func FuzzParseKeyword(f *testing.F) {
	for _, s := range []string{"STOP", "¡baja!", "pago ya", "\xff\xfe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseKeyword(s)
		enc, n := Segments(s)
		if n < 1 || (enc != GSM7 && enc != UCS2) {
			t.Fatalf("%q: %s %d", s, enc, n)
		}
		if e, _ := Segments(Transliterate(s)); e != GSM7 {
			t.Fatalf("transliterated %q is %s", s, e)
		}
	})
}
