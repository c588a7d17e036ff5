// Package say turns amounts, dates, numbers and digits into the words a
// caller hears, in Spanish or English, with the grammar each language wants
// ("veintiún pesos", "un millón de pesos", "December eighth"). Each word is
// a recorded snippet named <lang>/w/<slug>; Slug gives the name.
package say

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Languages are the ones with snippet sets.
var Languages = []string{"es", "en"}

// Amount says money: "mil doscientos cincuenta pesos con cincuenta centavos".
func Amount(lang string, amount decimal.Decimal, currency string) ([]string, error) {
	if amount.IsNegative() {
		return nil, fmt.Errorf("say: negative amount %s", amount)
	}
	units := amount.Truncate(0)
	cents := amount.Sub(units).Shift(2).Round(0).IntPart()
	if cents == 100 {
		units, cents = units.Add(decimal.NewFromInt(1)), 0
	}
	if !units.IsInteger() || units.GreaterThan(decimal.NewFromInt(999_999_999_999)) {
		return nil, fmt.Errorf("say: amount %s out of range", amount)
	}
	n := units.IntPart()
	cur, ok := currencies[lang][strings.ToUpper(currency)]
	if !ok {
		return nil, fmt.Errorf("say: no %s words for currency %q", lang, currency)
	}
	var w []string
	switch lang {
	case "es":
		w = esCardinal(n, true)
		if n != 0 && n%1_000_000 == 0 {
			w = append(w, "de") // "un millón de pesos"
		}
	case "en":
		w = enCardinal(n)
	default:
		return nil, fmt.Errorf("say: language %q: want es or en", lang)
	}
	w = append(w, plural(cur.unit, n))
	if cents > 0 && cur.cent[0] != "" {
		sep := "con"
		if lang == "en" {
			sep = "and"
		}
		w = append(w, sep)
		if lang == "es" {
			w = append(w, esCardinal(cents, true)...)
		} else {
			w = append(w, enCardinal(cents)...)
		}
		w = append(w, plural(cur.cent, cents))
	}
	return w, nil
}

type currencyWords struct{ unit, cent [2]string } // singular, plural

var currencies = map[string]map[string]currencyWords{
	"es": {
		"MXN": {[2]string{"peso", "pesos"}, [2]string{"centavo", "centavos"}},
		"COP": {[2]string{"peso", "pesos"}, [2]string{"centavo", "centavos"}},
		"CLP": {[2]string{"peso", "pesos"}, [2]string{"", ""}}, // no cents in use
		"PEN": {[2]string{"sol", "soles"}, [2]string{"céntimo", "céntimos"}},
		"USD": {[2]string{"dólar", "dólares"}, [2]string{"centavo", "centavos"}},
	},
	"en": {
		"USD": {[2]string{"dollar", "dollars"}, [2]string{"cent", "cents"}},
		"GBP": {[2]string{"pound", "pounds"}, [2]string{"penny", "pence"}},
		"MXN": {[2]string{"peso", "pesos"}, [2]string{"centavo", "centavos"}},
		"COP": {[2]string{"peso", "pesos"}, [2]string{"centavo", "centavos"}},
		"CLP": {[2]string{"peso", "pesos"}, [2]string{"", ""}},
		"PEN": {[2]string{"sol", "soles"}, [2]string{"centimo", "centimos"}},
	},
}

func plural(w [2]string, n int64) string {
	if n == 1 {
		return w[0]
	}
	return w[1]
}

// Number says a whole number ("veintiuno", "twenty one").
func Number(lang string, n int64) ([]string, error) {
	if n < 0 || n > 999_999_999_999 {
		return nil, fmt.Errorf("say: number %d out of range", n)
	}
	switch lang {
	case "es":
		return esCardinal(n, false), nil
	case "en":
		return enCardinal(n), nil
	}
	return nil, fmt.Errorf("say: language %q: want es or en", lang)
}

// Digits says each digit of s ("3", "0", "0" → "tres cero cero").
func Digits(lang string, s string) ([]string, error) {
	var w []string
	for _, r := range s {
		if r < '0' || r > '9' {
			continue // separators in phone numbers
		}
		d, err := Number(lang, int64(r-'0'))
		if err != nil {
			return nil, err
		}
		w = append(w, d...)
	}
	if len(w) == 0 {
		return nil, fmt.Errorf("say: %q has no digits", s)
	}
	return w, nil
}

// Date says a calendar date with its weekday: "el martes ocho de
// diciembre", "Tuesday December eighth".
func Date(lang string, d time.Time) ([]string, error) {
	switch lang {
	case "es":
		day := esCardinal(int64(d.Day()), false)
		if d.Day() == 1 {
			day = []string{"primero"}
		}
		w := []string{"el", esWeekdays[d.Weekday()]}
		w = append(w, day...)
		return append(w, "de", esMonths[d.Month()-1]), nil
	case "en":
		return append([]string{enWeekdays[d.Weekday()], enMonths[d.Month()-1]}, enOrdinal(d.Day())...), nil
	}
	return nil, fmt.Errorf("say: language %q: want es or en", lang)
}

// Text joins words for logs and tests.
func Text(words []string) string { return strings.Join(words, " ") }

// Slug is a word's snippet file name: lower case ASCII ("veintiún" →
// "veintiun"); names Windows reserves for devices ("con") get a "_", since
// go:embed refuses them.
func Slug(word string) string {
	r := strings.NewReplacer("á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ü", "u", "ñ", "n", " ", "_", "-", "_")
	s := r.Replace(strings.ToLower(word))
	switch s {
	case "con", "prn", "aux", "nul":
		s += "_"
	}
	return s
}

// Snippets lists every word a language can say, for generating recordings.
func Snippets(lang string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(ws ...string) {
		for _, w := range ws {
			if w != "" && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	switch lang {
	case "es":
		for n := int64(0); n < 100; n++ {
			add(esCardinal(n, false)...)
			add(esCardinal(n, true)...)
		}
		for h := int64(100); h < 1000; h += 100 {
			add(esCardinal(h, false)...)
			add(esCardinal(h+1, false)...)
		}
		add("mil", "millón", "millones", "de", "con", "el", "primero")
		add(esWeekdays[:]...)
		add(esMonths[:]...)
	case "en":
		for n := int64(0); n < 100; n++ {
			add(enCardinal(n)...)
		}
		add("hundred", "thousand", "million", "billion", "and")
		for d := 1; d <= 31; d++ {
			add(enOrdinal(d)...)
		}
		add(enWeekdays[:]...)
		add(enMonths[:]...)
	}
	for _, c := range currencies[lang] {
		add(c.unit[0], c.unit[1], c.cent[0], c.cent[1])
	}
	return out
}

var (
	esWeekdays = [7]string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"}
	esMonths   = [12]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}
	enWeekdays = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	enMonths   = [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

var esUnits = [30]string{"cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez",
	"once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve", "veinte",
	"veintiuno", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis", "veintisiete", "veintiocho", "veintinueve"}
var esTens = [10]string{"", "", "", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"}
var esHundreds = [10]string{"", "ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos", "seiscientos", "setecientos", "ochocientos", "novecientos"}

// esCardinal says n; apocope shortens a final "uno" before a noun ("un
// peso", "veintiún pesos", "treinta y un pesos"), as it always is before
// "mil" and "millón".
func esCardinal(n int64, apocope bool) []string {
	if n == 0 {
		return []string{"cero"}
	}
	var w []string
	if m := n / 1_000_000; m > 0 {
		if m == 1 {
			w = append(w, "un", "millón")
		} else {
			w = append(w, esBelowMillion(m, true)...)
			w = append(w, "millones")
		}
		n %= 1_000_000
	}
	if n > 0 {
		w = append(w, esBelowMillion(n, apocope)...)
	}
	return w
}

func esBelowMillion(n int64, apocope bool) []string {
	var w []string
	if t := n / 1000; t > 0 {
		if t > 1 {
			w = append(w, esBelowThousand(t, true)...)
		}
		w = append(w, "mil")
		n %= 1000
	}
	if n > 0 {
		w = append(w, esBelowThousand(n, apocope)...)
	}
	return w
}

func esBelowThousand(n int64, apocope bool) []string {
	var w []string
	if h := n / 100; h > 0 {
		if n == 100 {
			return []string{"cien"}
		}
		w = append(w, esHundreds[h])
		n %= 100
	}
	switch {
	case n == 0:
	case n < 30:
		word := esUnits[n]
		if apocope {
			switch n {
			case 1:
				word = "un"
			case 21:
				word = "veintiún"
			}
		}
		w = append(w, word)
	default:
		w = append(w, esTens[n/10])
		if u := n % 10; u > 0 {
			word := esUnits[u]
			if apocope && u == 1 {
				word = "un"
			}
			w = append(w, "y", word)
		}
	}
	return w
}

var enUnits = [20]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
var enTens = [10]string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}

func enCardinal(n int64) []string {
	if n == 0 {
		return []string{"zero"}
	}
	var w []string
	for _, g := range []struct {
		size int64
		name string
	}{{1_000_000_000, "billion"}, {1_000_000, "million"}, {1000, "thousand"}} {
		if q := n / g.size; q > 0 {
			w = append(w, enBelowThousand(q)...)
			w = append(w, g.name)
			n %= g.size
		}
	}
	return append(w, enBelowThousand(n)...)
}

func enBelowThousand(n int64) []string {
	var w []string
	if h := n / 100; h > 0 {
		w = append(w, enUnits[h], "hundred")
		n %= 100
	}
	switch {
	case n == 0:
	case n < 20:
		w = append(w, enUnits[n])
	default:
		w = append(w, enTens[n/10])
		if u := n % 10; u > 0 {
			w = append(w, enUnits[u])
		}
	}
	return w
}

var enOrdinals = map[int]string{1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth",
	9: "ninth", 10: "tenth", 11: "eleventh", 12: "twelfth", 13: "thirteenth", 14: "fourteenth", 15: "fifteenth", 16: "sixteenth",
	17: "seventeenth", 18: "eighteenth", 19: "nineteenth", 20: "twentieth", 30: "thirtieth"}

func enOrdinal(d int) []string {
	if w, ok := enOrdinals[d]; ok {
		return []string{w}
	}
	return []string{enTens[d/10], enOrdinals[d%10]}
}
