package sms

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/queue"
)

func TestMoney(t *testing.T) {
	for _, c := range []struct{ v, cur, want string }{
		{"1250.5", "MXN", "$1,250.50 MXN"}, {"125000", "CLP", "$125.000 CLP"}, {"1250000", "COP", "$1.250.000 COP"},
		{"80", "PEN", "S/ 80.00 PEN"}, {"12", "GBP", "£12.00 GBP"}, {"999.999", "USD", "$1,000.00 USD"}, {"0", "", "$0.00"},
	} {
		if got := Money(decimal.RequireFromString(c.v), c.cur); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.v, c.cur, got, c.want)
		}
	}
}

func TestShippedTemplates(t *testing.T) {
	ts, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	acct := queue.Account{ID: "MX-000481", Name: "Ana Pérez", Balance: decimal.RequireFromString("1250.50"), Currency: "MXN"}
	d := NewData(acct, "Financiera Sol", "https://pay.example/p/abc", "+525512340000")
	bare := NewData(acct, "", "", "")
	d.PromiseAmount, d.PromiseDate = "$500.00 MXN", "15/12/2026"
	bare.PromiseAmount, bare.PromiseDate = d.PromiseAmount, d.PromiseDate
	for _, lang := range []string{"es", "en"} {
		for _, name := range []string{"missed-call", "payment-link", "promise-reminder", "optout-confirm", "optin-confirm", "paylink-reply", "paylink-unknown"} {
			tp, err := ts.Get(lang, name)
			if err != nil {
				t.Fatal(err)
			}
			r, err := tp.Render(d, false)
			if err != nil {
				t.Fatal(err)
			}
			b, err := tp.Render(bare, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range []string{r.Body, b.Body} {
				if strings.Contains(body, "  ") || strings.Contains(body, "<no value>") || strings.Contains(body, "..") ||
					strings.Contains(body, " .") || strings.HasPrefix(body, ":") {
					t.Errorf("%s/%s: %q", lang, name, body)
				}
			}
		}
	}
	tp, _ := ts.Get("es", "missed-call")
	r, _ := tp.Render(d, false)
	if r.Encoding != UCS2 || !strings.Contains(r.Body, "$1,250.50 MXN") || !strings.Contains(r.Body, "…0481") {
		t.Fatalf("es missed-call: %+v", r)
	}
	g, _ := tp.Render(d, true)
	if g.Encoding != GSM7 || g.Segments >= r.Segments {
		t.Fatalf("transliterated: %s %d segments (UCS-2 had %d): %q", g.Encoding, g.Segments, r.Segments, g.Body)
	}
	if _, err := ts.Get("fr", "missed-call"); !errors.Is(err, ErrNoTemplate) {
		t.Fatalf("fr: %v", err)
	}
}

func TestTemplatesDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "es.yaml"), []byte(`
missed-call:
  body: "Hola {{.FirstName}}"
  content_sid: HX0123456789abcdef0123456789abcdef
  variables: {"1": "{{.FirstName}}", "2": "{{.Balance}}"}
`), 0o644)
	ts, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := ts.Get("es", "missed-call")
	r, err := tp.Render(NewData(queue.Account{ID: "1", Name: "Luis", Balance: decimal.NewFromInt(5), Currency: "MXN"}, "", "", ""), false)
	if err != nil || r.Body != "Hola Luis" || r.ContentSID == "" || r.ContentVariables != `{"1":"Luis","2":"$5.00 MXN"}` {
		t.Fatalf("%+v %v", r, err)
	}
	os.WriteFile(filepath.Join(dir, "es.yaml"), []byte("bad: \"{{.Nope}}\"\n"), 0o644)
	if _, err := LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "es.yaml:1") {
		t.Fatalf("unknown field: %v", err)
	}
}

// A template that writes the link unguarded cannot go out without one; a
// campaign without pay_url is refused when it would send it.
func TestTemplatesKnownAndNeedsLink(t *testing.T) {
	dir := t.TempDir()
	custom := "guarded: \"{{with .Link}}Paga: {{.}}{{end}} Hola\"\n" +
		"if-else: \"{{if .Link}}{{.Link}}{{else}}llámanos{{end}}\"\n" +
		"else-link: \"{{if .Company}}hola{{else}}{{.Link}}{{end}}\"\n" +
		"piped: \"{{printf \\\"%s\\\" .Link}}\"\n" +
		"wa: {content_sid: HX0123, variables: {\"1\": \"{{.Link}}\"}}\n"
	if err := os.WriteFile(filepath.Join(dir, "es.yaml"), []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lang, name  string
		known, link bool
	}{
		{"es", "payment-link", true, true}, {"en", "payment-link", true, true}, {"es", "paylink-reply", true, true},
		{"es", "missed-call", true, false}, {"es", "promise-reminder", true, false}, {"es", "optout-confirm", true, false},
		{"es", "guarded", true, false}, {"es", "if-else", true, false}, {"es", "else-link", true, true},
		{"es", "piped", true, true}, {"es", "wa", true, true},
		{"en", "guarded", false, false}, {"es", "nope", false, false},
	} {
		if known, link := ts.Known(c.lang, c.name); known != c.known || link != c.link {
			t.Errorf("%s/%s: known %v needs link %v, want %v %v", c.lang, c.name, known, link, c.known, c.link)
		}
	}
}
