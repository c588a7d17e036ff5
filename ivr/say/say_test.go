package say

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestSpanish(t *testing.T) {
	amount := []struct{ v, cur, want string }{
		{"1", "MXN", "un peso"},
		{"21", "MXN", "veintiún pesos"},
		{"31", "COP", "treinta y un pesos"},
		{"100", "MXN", "cien pesos"},
		{"101", "MXN", "ciento un pesos"},
		{"1000", "MXN", "mil pesos"},
		{"1001", "MXN", "mil un pesos"},
		{"21000", "COP", "veintiún mil pesos"},
		{"101000", "COP", "ciento un mil pesos"},
		{"1000000", "COP", "un millón de pesos"},
		{"2000000", "COP", "dos millones de pesos"},
		{"1500000", "COP", "un millón quinientos mil pesos"},
		{"1250.50", "MXN", "mil doscientos cincuenta pesos con cincuenta centavos"},
		{"0.01", "MXN", "cero pesos con un centavo"},
		{"350.99", "PEN", "trescientos cincuenta soles con noventa y nueve céntimos"},
		{"45990", "CLP", "cuarenta y cinco mil novecientos noventa pesos"},
		{"999999999", "COP", "novecientos noventa y nueve millones novecientos noventa y nueve mil novecientos noventa y nueve pesos"},
	}
	for _, c := range amount {
		w, err := Amount("es", decimal.RequireFromString(c.v), c.cur)
		if err != nil || Text(w) != c.want {
			t.Errorf("%s %s: %q %v, want %q", c.v, c.cur, Text(w), err, c.want)
		}
	}
	numbers := map[int64]string{1: "uno", 21: "veintiuno", 100: "cien", 101: "ciento uno", 1000: "mil", 1001: "mil uno",
		1000000: "un millón", 2000000: "dos millones", 16: "dieciséis", 115: "ciento quince"}
	for n, want := range numbers {
		if w, _ := Number("es", n); Text(w) != want {
			t.Errorf("%d: %q, want %q", n, Text(w), want)
		}
	}
	dates := map[string]string{"2026-12-08": "el martes ocho de diciembre", "2026-12-01": "el martes primero de diciembre",
		"2027-01-21": "el jueves veintiuno de enero", "2026-11-29": "el domingo veintinueve de noviembre"}
	for d, want := range dates {
		tm, _ := time.Parse(time.DateOnly, d)
		if w, _ := Date("es", tm); Text(w) != want {
			t.Errorf("%s: %q, want %q", d, Text(w), want)
		}
	}
	if w, _ := Digits("es", "+57 300-1"); Text(w) != "cinco siete tres cero cero uno" {
		t.Errorf("digits: %q", Text(w))
	}
}

func TestEnglish(t *testing.T) {
	amount := []struct{ v, cur, want string }{
		{"1", "USD", "one dollar"},
		{"21", "USD", "twenty one dollars"},
		{"100", "USD", "one hundred dollars"},
		{"101", "USD", "one hundred one dollars"},
		{"1000", "GBP", "one thousand pounds"},
		{"1001", "GBP", "one thousand one pounds"},
		{"1000000", "USD", "one million dollars"},
		{"2000000", "USD", "two million dollars"},
		{"1250.50", "USD", "one thousand two hundred fifty dollars and fifty cents"},
		{"3.01", "GBP", "three pounds and one penny"},
		{"0.99", "USD", "zero dollars and ninety nine cents"},
	}
	for _, c := range amount {
		w, err := Amount("en", decimal.RequireFromString(c.v), c.cur)
		if err != nil || Text(w) != c.want {
			t.Errorf("%s %s: %q %v, want %q", c.v, c.cur, Text(w), err, c.want)
		}
	}
	dates := map[string]string{"2026-12-08": "Tuesday December eighth", "2026-12-01": "Tuesday December first",
		"2027-01-21": "Thursday January twenty first", "2026-11-30": "Monday November thirtieth", "2026-12-22": "Tuesday December twenty second"}
	for d, want := range dates {
		tm, _ := time.Parse(time.DateOnly, d)
		if w, _ := Date("en", tm); Text(w) != want {
			t.Errorf("%s: %q, want %q", d, Text(w), want)
		}
	}
}

func TestErrorsAndSnippets(t *testing.T) {
	if _, err := Amount("es", decimal.RequireFromString("-1"), "MXN"); err == nil {
		t.Error("negative amount said")
	}
	if _, err := Amount("es", decimal.RequireFromString("1"), "XXX"); err == nil {
		t.Error("unknown currency said")
	}
	if _, err := Amount("fr", decimal.RequireFromString("1"), "MXN"); err == nil {
		t.Error("unknown language said")
	}
	// Every word any rendering produces has a snippet to play.
	for _, lang := range Languages {
		have := map[string]bool{}
		for _, w := range Snippets(lang) {
			have[w] = true
		}
		for n := int64(0); n < 3_000_000; n += 997 {
			for _, cur := range []string{"MXN", "USD"} {
				w, _ := Amount(lang, decimal.NewFromInt(n).Add(decimal.New(n%100, -2)), cur)
				for _, x := range w {
					if !have[x] {
						t.Fatalf("%s: %q has no snippet (from %d %s)", lang, x, n, cur)
					}
				}
			}
		}
	}
	if Slug("veintiún") != "veintiun" || Slug("miércoles") != "miercoles" {
		t.Error("slug")
	}
}
