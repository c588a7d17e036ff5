package sms

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/marcador/marcador/queue"
)

//go:embed templates/*.yaml
var shipped embed.FS

// Data is what a template can say.
type Data struct {
	Name, FirstName string
	Company         string
	AccountTail     string // the account id's last 4 characters, e.g. "…4821"
	Balance         string // formatted with its currency, e.g. "$1,250.50 MXN"
	DueDate         string // dd/mm/yyyy
	DaysPastDue     int
	Link            string // the signed payment link, when the campaign has one
	CallbackNumber  string
	PromiseAmount   string
	PromiseDate     string
	Fields          map[string]string // the account's extra columns
}

// NewData fills Data from an account.
func NewData(a queue.Account, company, link, callback string) Data {
	first := a.Name
	if f := strings.Fields(a.Name); len(f) > 0 {
		first = f[0]
	}
	tail := a.ID
	if len(tail) > 4 {
		tail = "…" + tail[len(tail)-4:]
	}
	d := Data{Name: a.Name, FirstName: first, Company: company, AccountTail: tail,
		Balance: Money(a.Balance, a.Currency), DaysPastDue: a.DaysPastDue, Link: link, CallbackNumber: callback,
		Fields: a.Fields}
	if t, err := time.Parse(queue.DateLayout, a.DueDate); err == nil {
		d.DueDate = t.Format("02/01/2006")
	}
	return d
}

// Money formats an amount the way debtors of that currency read it:
// "$1,250.50 MXN", "$125.000 CLP", "$1.250.000 COP", "S/ 80.00 PEN", "£12.00 GBP".
func Money(v decimal.Decimal, currency string) string {
	thou, dec, places, sym := ",", ".", int32(2), "$"
	switch currency {
	case "CLP":
		thou, places = ".", 0
	case "COP":
		thou, dec, places = ".", ",", 0
	case "PEN":
		sym = "S/ "
	case "GBP":
		sym = "£"
	case "EUR":
		sym = "€"
	}
	s := v.StringFixed(places)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(thou)
		}
		b.WriteRune(r)
	}
	out := sym + b.String()
	if frac != "" {
		out += dec + frac
	}
	if neg {
		out = "-" + out
	}
	if currency != "" {
		out += " " + currency
	}
	return out
}

// Template is one named message in one language.
type Template struct {
	Name, Lang string
	body       *template.Template
	// ContentSID names an approved WhatsApp template; Variables are its
	// numbered placeholders, each a text/template.
	ContentSID string
	variables  map[string]*template.Template
	// needsLink: the template says .Link outside {{with .Link}} or {{if
	// .Link}}, so without a payment link its text makes no sense.
	needsLink bool
}

type templateSpec struct {
	Body       string            `yaml:"body"`
	ContentSID string            `yaml:"content_sid"`
	Variables  map[string]string `yaml:"variables"`
}

// Templates are the loaded templates by language and name.
type Templates struct {
	byLang map[string]map[string]*Template
}

// LoadTemplates reads the shipped templates, then dir's <lang>.yaml files
// (dir may be ""), whose entries replace shipped ones of the same name. Each
// template is parsed and tried on sample data, so a mistake fails at start.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{byLang: map[string]map[string]*Template{}}
	err := fs.WalkDir(shipped, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := shipped.ReadFile(p)
		if err != nil {
			return err
		}
		return t.add(p, strings.TrimSuffix(filepath.Base(p), ".yaml"), b)
	})
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return t, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("sms templates %s: %w", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("sms templates: %w", err)
		}
		if err := t.add(f, strings.TrimSuffix(filepath.Base(f), ".yaml"), b); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Templates) add(file, lang string, b []byte) error {
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("sms templates %s: %w", file, err)
	}
	if t.byLang[lang] == nil {
		t.byLang[lang] = map[string]*Template{}
	}
	sample := NewData(queue.Account{ID: "ACC-0001", Name: "Ana Pérez", Balance: decimal.RequireFromString("1250.50"),
		Currency: "MXN", DueDate: "2026-12-01", Fields: map[string]string{}}, "Financiera", "https://pay.example/x", "+525500000000")
	sample.PromiseAmount, sample.PromiseDate = "$500.00 MXN", "15/12/2026"
	for name, node := range raw {
		var spec templateSpec
		if node.Kind == yaml.ScalarNode {
			spec.Body = node.Value
		} else if err := node.Decode(&spec); err != nil {
			return fmt.Errorf("sms templates %s:%d: %s: %w", file, node.Line, name, err)
		}
		if spec.Body == "" && spec.ContentSID == "" {
			return fmt.Errorf("sms templates %s:%d: %s: neither body nor content_sid", file, node.Line, name)
		}
		tp := &Template{Name: name, Lang: lang, ContentSID: spec.ContentSID, variables: map[string]*template.Template{}}
		var err error
		if tp.body, err = template.New(name).Option("missingkey=error").Parse(spec.Body); err != nil {
			return fmt.Errorf("sms templates %s:%d: %w", file, node.Line, err)
		}
		for k, v := range spec.Variables {
			if tp.variables[k], err = template.New(name + "." + k).Option("missingkey=error").Parse(v); err != nil {
				return fmt.Errorf("sms templates %s:%d: %s variable %s: %w", file, node.Line, name, k, err)
			}
		}
		tp.needsLink = saysLink(tp.body.Root, false)
		for _, v := range tp.variables {
			tp.needsLink = tp.needsLink || saysLink(v.Root, false)
		}
		if _, err := tp.Render(sample, false); err != nil {
			return fmt.Errorf("sms templates %s:%d: %w", file, node.Line, err)
		}
		t.byLang[lang][name] = tp
	}
	return nil
}

// ErrNoTemplate is returned for a name with no version in the language.
var ErrNoTemplate = errors.New("no such template")

// Get returns name in lang.
func (t *Templates) Get(lang, name string) (*Template, error) {
	if tp := t.byLang[lang][name]; tp != nil {
		return tp, nil
	}
	return nil, fmt.Errorf("sms template %q in %q: %w", name, lang, ErrNoTemplate)
}

// Known says whether name exists in lang, and whether some language's
// version of it cannot be sent without a payment link.
func (t *Templates) Known(lang, name string) (known, needsLink bool) {
	_, known = t.byLang[lang][name]
	for _, byName := range t.byLang {
		if tp := byName[name]; tp != nil && tp.needsLink {
			needsLink = true
		}
	}
	return known, needsLink
}

// saysLink reports whether n writes .Link where no enclosing {{with}} or
// {{if}} on .Link guards it.
func saysLink(n parse.Node, guarded bool) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if saysLink(c, guarded) {
				return true
			}
		}
	case *parse.ActionNode:
		return !guarded && pipeSaysLink(n.Pipe)
	case *parse.IfNode:
		return branchSaysLink(&n.BranchNode, guarded)
	case *parse.WithNode:
		return branchSaysLink(&n.BranchNode, guarded)
	case *parse.RangeNode:
		return branchSaysLink(&n.BranchNode, guarded)
	}
	return false
}

func branchSaysLink(b *parse.BranchNode, guarded bool) bool {
	return saysLink(b.List, guarded || pipeSaysLink(b.Pipe)) || saysLink(b.ElseList, guarded)
}

func pipeSaysLink(p *parse.PipeNode) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Cmds {
		for _, arg := range c.Args {
			switch a := arg.(type) {
			case *parse.FieldNode:
				if len(a.Ident) > 0 && a.Ident[0] == "Link" {
					return true
				}
			case *parse.PipeNode:
				if pipeSaysLink(a) {
					return true
				}
			}
		}
	}
	return false
}

// Names lists every template name in lang.
func (t *Templates) Names(lang string) []string {
	var out []string
	for n := range t.byLang[lang] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Rendered is a template filled in for one debtor.
type Rendered struct {
	Template         string   `json:"template"`
	Lang             string   `json:"lang"`
	Body             string   `json:"body"`
	Encoding         Encoding `json:"encoding"`
	Segments         int      `json:"segments"`
	Chars            int      `json:"chars"`
	ContentSID       string   `json:"content_sid,omitempty"`
	ContentVariables string   `json:"content_variables,omitempty"`
}

// Render fills the template in; gsm transliterates the body to stay in
// GSM-7 (160-character segments).
func (tp *Template) Render(d Data, gsm bool) (Rendered, error) {
	var buf bytes.Buffer
	if err := tp.body.Execute(&buf, d); err != nil {
		return Rendered{}, fmt.Errorf("sms template %s (%s): %w", tp.Name, tp.Lang, err)
	}
	body := strings.Join(strings.Fields(buf.String()), " ") // YAML folding leaves stray spaces
	if gsm {
		body = Transliterate(body)
	}
	enc, segs := Segments(body)
	r := Rendered{Template: tp.Name, Lang: tp.Lang, Body: body, Encoding: enc, Segments: segs,
		Chars: len([]rune(body)), ContentSID: tp.ContentSID}
	if tp.ContentSID != "" {
		vars := map[string]string{}
		for k, v := range tp.variables {
			buf.Reset()
			if err := v.Execute(&buf, d); err != nil {
				return Rendered{}, fmt.Errorf("sms template %s (%s) variable %s: %w", tp.Name, tp.Lang, k, err)
			}
			vars[k] = buf.String()
		}
		b, _ := json.Marshal(vars)
		r.ContentVariables = string(b)
	}
	return r, nil
}
