// Package script is the IVR script format: YAML files of named nodes (play,
// say, menu, collect, promise, sms, transfer, optout, callback, verify,
// condition, set, goto, hangup), validated at load with errors that name the
// file, line and node.
package script

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Script is a loaded, validated script.
type Script struct {
	Name        string
	Description string
	Start       string
	// Languages the script's phrases exist in (default es, en).
	Languages []string
	// Public are the script's own phrases that may be played to an inbound
	// caller before verification, besides PublicPhrases.
	Public []string
	Nodes  map[string]*Node
	File   string
}

// Item is one thing to play: a phrase or a value spoken with the say package.
type Item struct {
	Prompt string // a phrase name without language, e.g. "p/overdue-intro"
	Say    string // amount, date, number, digits
	Value  string // what to say: a field (balance, due_date, ...), a variable, or a literal
}

// Menu offers choices by key.
type Menu struct {
	Prompt   []Item            `yaml:"prompt"`
	Options  map[string]string `yaml:"options"` // key → node
	Timeout  time.Duration     `yaml:"timeout"`
	Retries  int               `yaml:"retries"`
	Invalid  []Item            `yaml:"invalid"`
	NoInput  []Item            `yaml:"no_input"`
	Fallback string            `yaml:"fallback"` // after the retries; default hang up
}

// Collect reads digits into a variable.
type Collect struct {
	Prompt     []Item        `yaml:"prompt"`
	Var        string        `yaml:"var"`
	Min        int           `yaml:"min"`
	Max        int           `yaml:"max"`
	Terminator string        `yaml:"terminator"` // default "#"
	Timeout    time.Duration `yaml:"timeout"`
	InterDigit time.Duration `yaml:"inter_digit"`
	Retries    int           `yaml:"retries"`
	Invalid    []Item        `yaml:"invalid"`
	Fallback   string        `yaml:"fallback"`
	Next       string        `yaml:"next"`
}

// Promise records a promise to pay, checked against the campaign's policy.
type Promise struct {
	// Amount is "balance" or a variable holding whole currency units.
	Amount string `yaml:"amount"`
	// Date is "+N" (days from today) or a variable holding DDMM.
	Date     string `yaml:"date"`
	Next     string `yaml:"next"`
	Rejected string `yaml:"rejected"`
}

// SMS sends (or, without a sender, records) a template.
type SMS struct {
	Template string `yaml:"template"`
	Channel  string `yaml:"channel"` // sms (default) or whatsapp
	Next     string `yaml:"next"`
}

// Transfer hands the call to the campaign's agent queue.
type Transfer struct {
	Queue    string        `yaml:"queue"`
	Timeout  time.Duration `yaml:"timeout"`
	Fallback string        `yaml:"fallback"` // when no agent takes it
}

// OptOut lists the number as do-not-contact.
type OptOut struct {
	Channel string `yaml:"channel"` // voice (default), sms, whatsapp, all
	Next    string `yaml:"next"`
}

// Callback asks for a call back to the account's number on file (the
// caller's verified account, else the accounts holding the calling number).
type Callback struct {
	Next string `yaml:"next"`
}

// Verify has an inbound caller prove they are the debtor before the script
// says anything about the account. The question depends on the line's
// method (VerifyMethods); a caller whose number is on no account, or who
// does not answer for it, also keys an account or id number. Failed tries
// are counted per calling number and source across calls.
type Verify struct {
	Next       string        `yaml:"next"`        // the caller is verified
	Failed     string        `yaml:"failed"`      // every try of this call failed
	Locked     string        `yaml:"locked"`      // too many failures from this number or source: no try
	Retries    int           `yaml:"retries"`     // further tries after a failed one
	Timeout    time.Duration `yaml:"timeout"`     // wait for the first key (default 8s)
	InterDigit time.Duration `yaml:"inter_digit"` // wait between keys (default 4s)
}

// VerifyMethods are what an inbound caller may be asked to prove who they
// are, each with the phrase that asks for it.
var VerifyMethods = map[string]string{
	"national_id_last4": "p/verify-id-last4",   // the last four digits of the national id
	"birth_date":        "p/verify-birth-date", // DDMMYYYY
	"account_number":    "p/verify-account",    // the account number's digits, then #
}

// Phrases a verify node plays besides the question.
const (
	PhraseIdentify = "p/inbound-identify" // "key your account or id number"
	PhraseNoMatch  = "p/verify-no-match"  // a try failed
	PhraseNoInput  = "p/no-input"
)

// PublicPhrases may be played to an inbound caller before verification:
// they name the company or offer help, and say nothing about an account or
// a debt (a script adds its own under public:).
var PublicPhrases = map[string]bool{
	"p/inbound-welcome": true, PhraseIdentify: true, PhraseNoMatch: true, PhraseNoInput: true,
	"p/verify-id-last4": true, "p/verify-birth-date": true, "p/verify-account": true,
	"p/verify-failed": true, "p/verify-locked": true, "p/help-menu": true, "p/callback": true,
	"p/transfer": true, "p/no-agent": true, "p/optout": true, "p/invalid": true, "p/thanks": true, "goodbye": true,
}

// Condition branches on an account field: "days_past_due > 30".
type Condition struct {
	If   string `yaml:"if"`
	Then string `yaml:"then"`
	Else string `yaml:"else"`

	Field, Op, Value string
}

// Node is one step; exactly one action (set may accompany any).
type Node struct {
	ID        string
	Line      int
	Play      []Item
	Menu      *Menu
	Collect   *Collect
	Promise   *Promise
	SMS       *SMS
	Transfer  *Transfer
	OptOut    *OptOut
	Callback  *Callback
	Verify    *Verify
	Condition *Condition
	Goto      string
	Hangup    bool
	Set       map[string]string
	Next      string
}

// Fields are the account values a script may say, set or test.
var Fields = map[string]bool{"balance": true, "due_date": true, "days_past_due": true, "segment": true, "name": true,
	"currency": true, "callback_number": true, "account_id": true, "promise.amount": true, "promise.date": true, "today": true}

// AccountFields are the Fields that come from the debtor's account: an
// inbound script may not say or test them before the caller is verified.
var AccountFields = map[string]bool{"balance": true, "due_date": true, "days_past_due": true, "segment": true, "name": true,
	"currency": true, "account_id": true, "promise.amount": true, "promise.date": true}

//go:embed shipped/*.yaml
var shipped embed.FS

// Shipped loads the scripts that come with Marcador.
func Shipped() (map[string]*Script, error) {
	out := map[string]*Script{}
	err := fs.WalkDir(shipped, "shipped", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := shipped.ReadFile(p)
		if err != nil {
			return err
		}
		s, err := Parse(p, b)
		if err != nil {
			return err
		}
		out[s.Name] = s
		return nil
	})
	return out, err
}

// LoadDir loads every *.yaml in dir; a script named like a shipped one replaces it.
func LoadDir(dir string) (map[string]*Script, error) {
	out, err := Shipped()
	if err != nil || dir == "" {
		return out, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("script: %w", err)
		}
		s, err := Parse(f, b)
		if err != nil {
			return nil, err
		}
		out[s.Name] = s
	}
	return out, nil
}

// Error is a validation error at a place in a file.
type Error struct {
	File string
	Line int
	Node string
	Msg  string
}

func (e *Error) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("%s:%d: node %q: %s", e.File, e.Line, e.Node, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

var nodeKeys = map[string]bool{"play": true, "say": true, "menu": true, "collect": true, "promise": true, "sms": true,
	"transfer": true, "optout": true, "callback": true, "verify": true, "condition": true, "goto": true, "hangup": true,
	"set": true, "next": true}

var (
	idRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	varRe    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	promptRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_/-]{0,127}$`)
	condRe   = regexp.MustCompile(`^\s*([a-z_.]+)\s*(==|!=|>=|<=|>|<)\s*(\S+)\s*$`)
	keyRe    = regexp.MustCompile(`^[0-9*#]$`)
	daysRe   = regexp.MustCompile(`^\+[0-9]{1,3}$`)
)

// Parse loads one script; file names it in errors.
func Parse(file string, b []byte) (*Script, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &Error{File: file, Line: yamlLine(err), Msg: err.Error()}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: 1, Msg: "want a mapping with name, start and nodes"}
	}
	root := doc.Content[0]
	s := &Script{File: file, Nodes: map[string]*Node{}}
	var nodesNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "name":
			s.Name = v.Value
		case "description":
			s.Description = v.Value
		case "start":
			s.Start = v.Value
		case "languages":
			if err := v.Decode(&s.Languages); err != nil {
				return nil, &Error{File: file, Line: v.Line, Msg: "languages: want a list like [es, en]"}
			}
		case "public":
			if err := v.Decode(&s.Public); err != nil {
				return nil, &Error{File: file, Line: v.Line, Msg: "public: want a list of phrase names like [p/my-welcome]"}
			}
		case "nodes":
			nodesNode = v
		default:
			return nil, &Error{File: file, Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want name, description, start, languages, public, nodes)", k.Value)}
		}
	}
	if !idRe.MatchString(s.Name) {
		return nil, &Error{File: file, Line: root.Line, Msg: fmt.Sprintf("name %q: want letters, digits, - and _", s.Name)}
	}
	if len(s.Languages) == 0 {
		s.Languages = []string{"es", "en"}
	}
	if nodesNode == nil || nodesNode.Kind != yaml.MappingNode || len(nodesNode.Content) == 0 {
		return nil, &Error{File: file, Line: root.Line, Msg: "nodes: want a mapping of node id to node"}
	}
	for i := 0; i+1 < len(nodesNode.Content); i += 2 {
		k, v := nodesNode.Content[i], nodesNode.Content[i+1]
		if !idRe.MatchString(k.Value) {
			return nil, &Error{File: file, Line: k.Line, Msg: fmt.Sprintf("node id %q: want letters, digits, - and _", k.Value)}
		}
		if _, dup := s.Nodes[k.Value]; dup {
			return nil, &Error{File: file, Line: k.Line, Node: k.Value, Msg: "defined twice"}
		}
		n, err := parseNode(file, k.Value, k.Line, v)
		if err != nil {
			return nil, err
		}
		s.Nodes[k.Value] = n
	}
	if s.Start == "" {
		return nil, &Error{File: file, Line: root.Line, Msg: "start: empty (name the first node)"}
	}
	if s.Nodes[s.Start] == nil {
		return nil, &Error{File: file, Line: root.Line, Msg: fmt.Sprintf("start %q: no such node", s.Start)}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.Verifies() {
		if err := s.checkDisclosure(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func yamlLine(err error) int {
	m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(err.Error())
	if m == nil {
		return 1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func parseNode(file, id string, line int, v *yaml.Node) (*Node, error) {
	fail := func(l int, format string, a ...any) error {
		return &Error{File: file, Line: l, Node: id, Msg: fmt.Sprintf(format, a...)}
	}
	if v.Kind != yaml.MappingNode {
		return nil, fail(v.Line, "want a mapping (play, menu, collect, ...)")
	}
	n := &Node{ID: id, Line: line}
	actions := 0
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if !nodeKeys[k.Value] {
			return nil, fail(k.Line, "unknown key %q", k.Value)
		}
		var err error
		switch k.Value {
		case "play":
			actions++
			n.Play, err = parseItems(val)
		case "say":
			actions++
			var it Item
			it, err = parseItem(val)
			n.Play = []Item{it}
			if err == nil && it.Say == "" {
				err = errors.New("say: want {say: amount|date|number|digits, value: ...}")
			}
		case "menu":
			actions++
			n.Menu = &Menu{}
			err = decodeStrict(val, n.Menu, "prompt", "options", "timeout", "retries", "invalid", "no_input", "fallback")
			if err == nil {
				err = fixItems(val, map[string]*[]Item{"prompt": &n.Menu.Prompt, "invalid": &n.Menu.Invalid, "no_input": &n.Menu.NoInput})
			}
		case "collect":
			actions++
			n.Collect = &Collect{}
			err = decodeStrict(val, n.Collect, "prompt", "var", "min", "max", "terminator", "timeout", "inter_digit", "retries", "invalid", "fallback", "next")
			if err == nil {
				err = fixItems(val, map[string]*[]Item{"prompt": &n.Collect.Prompt, "invalid": &n.Collect.Invalid})
			}
		case "promise":
			actions++
			n.Promise = &Promise{}
			err = decodeStrict(val, n.Promise, "amount", "date", "next", "rejected")
		case "sms":
			actions++
			n.SMS = &SMS{}
			err = decodeStrict(val, n.SMS, "template", "channel", "next")
		case "transfer":
			actions++
			n.Transfer = &Transfer{}
			err = decodeStrict(val, n.Transfer, "queue", "timeout", "fallback")
		case "optout":
			actions++
			n.OptOut = &OptOut{}
			err = decodeStrict(val, n.OptOut, "channel", "next")
		case "callback":
			actions++
			n.Callback = &Callback{}
			err = decodeStrict(val, n.Callback, "next")
		case "verify":
			actions++
			n.Verify = &Verify{}
			err = decodeStrict(val, n.Verify, "next", "failed", "locked", "retries", "timeout", "inter_digit")
		case "condition":
			actions++
			n.Condition = &Condition{}
			err = decodeStrict(val, n.Condition, "if", "then", "else")
		case "goto":
			actions++
			n.Goto = val.Value
		case "hangup":
			actions++
			err = val.Decode(&n.Hangup)
		case "set":
			err = val.Decode(&n.Set)
		case "next":
			n.Next = val.Value
		}
		if err != nil {
			return nil, fail(val.Line, "%s: %v", k.Value, err)
		}
	}
	if actions > 1 {
		return nil, fail(line, "more than one action (play, say, menu, collect, promise, sms, transfer, optout, callback, verify, condition, goto, hangup)")
	}
	if actions == 0 && n.Set == nil {
		return nil, fail(line, "no action")
	}
	return n, nil
}

// decodeStrict decodes a mapping, refusing keys not in allowed.
func decodeStrict(v *yaml.Node, out any, allowed ...string) error {
	if v.Kind != yaml.MappingNode {
		return errors.New("want a mapping")
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	for i := 0; i < len(v.Content); i += 2 {
		if !ok[v.Content[i].Value] {
			return fmt.Errorf("unknown key %q (line %d)", v.Content[i].Value, v.Content[i].Line)
		}
	}
	// Items have their own syntax; decode everything else through a copy
	// without them.
	c := *v
	c.Content = nil
	for i := 0; i+1 < len(v.Content); i += 2 {
		switch v.Content[i].Value {
		case "prompt", "invalid", "no_input":
			continue
		}
		c.Content = append(c.Content, v.Content[i], v.Content[i+1])
	}
	return c.Decode(out)
}

func fixItems(v *yaml.Node, into map[string]*[]Item) error {
	for i := 0; i+1 < len(v.Content); i += 2 {
		if dst, ok := into[v.Content[i].Value]; ok {
			items, err := parseItems(v.Content[i+1])
			if err != nil {
				return fmt.Errorf("%s: %w", v.Content[i].Value, err)
			}
			*dst = items
		}
	}
	return nil
}

func parseItems(v *yaml.Node) ([]Item, error) {
	if v.Kind != yaml.SequenceNode {
		it, err := parseItem(v)
		return []Item{it}, err
	}
	var out []Item
	for _, c := range v.Content {
		it, err := parseItem(c)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

func parseItem(v *yaml.Node) (Item, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if !promptRe.MatchString(v.Value) {
			return Item{}, fmt.Errorf("prompt %q: want a phrase name like p/overdue-intro (line %d)", v.Value, v.Line)
		}
		return Item{Prompt: v.Value}, nil
	case yaml.MappingNode:
		var it struct {
			Say   string `yaml:"say"`
			Value string `yaml:"value"`
		}
		for i := 0; i < len(v.Content); i += 2 {
			if k := v.Content[i].Value; k != "say" && k != "value" {
				return Item{}, fmt.Errorf("unknown key %q in a say item (line %d)", k, v.Content[i].Line)
			}
		}
		if err := v.Decode(&it); err != nil {
			return Item{}, err
		}
		switch it.Say {
		case "amount", "date", "number", "digits":
		default:
			return Item{}, fmt.Errorf("say %q: want amount, date, number or digits (line %d)", it.Say, v.Line)
		}
		if it.Value == "" {
			return Item{}, fmt.Errorf("say %s: value is empty (line %d)", it.Say, v.Line)
		}
		return Item{Say: it.Say, Value: it.Value}, nil
	}
	return Item{}, fmt.Errorf("want a phrase name or {say, value} (line %d)", v.Line)
}

// check validates references between nodes, variables and values.
func (s *Script) check() error {
	vars := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Collect != nil {
			vars[n.Collect.Var] = true
		}
		for k := range n.Set {
			vars[k] = true
		}
	}
	ids := make([]string, 0, len(s.Nodes))
	for id := range s.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := s.Nodes[id]
		fail := func(format string, a ...any) error {
			return &Error{File: s.File, Line: n.Line, Node: id, Msg: fmt.Sprintf(format, a...)}
		}
		ref := func(what, to string, required bool) error {
			if to == "" {
				if required {
					return fail("%s: empty", what)
				}
				return nil
			}
			if s.Nodes[to] == nil {
				return fail("%s goes to unknown node %q", what, to)
			}
			return nil
		}
		value := func(what, v string) error {
			if Fields[v] || vars[v] || daysRe.MatchString(v) || regexp.MustCompile(`^[0-9.]+$`).MatchString(v) {
				return nil
			}
			return fail("%s: %q is not a field (%s), a variable set by this script, or a literal", what, v, fieldList())
		}
		items := func(what string, its []Item) error {
			for _, it := range its {
				if it.Say != "" {
					if err := value(what+" say "+it.Say, it.Value); err != nil {
						return err
					}
				}
			}
			return nil
		}
		for k, v := range n.Set {
			if !varRe.MatchString(k) {
				return fail("set: variable %q: want lower-case letters, digits and _", k)
			}
			if err := value("set "+k, v); err != nil {
				return err
			}
		}
		if err := items("play", n.Play); err != nil {
			return err
		}
		terminal := false
		switch {
		case n.Menu != nil:
			m := n.Menu
			if len(m.Options) == 0 {
				return fail("menu: no options")
			}
			for key, to := range m.Options {
				if !keyRe.MatchString(key) {
					return fail("menu: option %q: want one key 0-9, * or #", key)
				}
				if err := ref(fmt.Sprintf("menu option %q", key), to, true); err != nil {
					return err
				}
			}
			if m.Retries < 0 || m.Retries > 9 || m.Timeout < 0 || m.Timeout > time.Minute {
				return fail("menu: retries 0-9, timeout up to 1m")
			}
			if err := ref("menu fallback", m.Fallback, false); err != nil {
				return err
			}
			if err := items("menu prompt", m.Prompt); err != nil {
				return err
			}
			terminal = true
		case n.Collect != nil:
			c := n.Collect
			if !varRe.MatchString(c.Var) {
				return fail("collect: var %q: want lower-case letters, digits and _", c.Var)
			}
			if c.Max < 1 || c.Max > 32 || c.Min < 0 || c.Min > c.Max {
				return fail("collect: want 0 <= min <= max <= 32 (min %d, max %d)", c.Min, c.Max)
			}
			if c.Terminator != "" && c.Terminator != "#" && c.Terminator != "*" {
				return fail("collect: terminator %q: want # or *", c.Terminator)
			}
			if err := ref("collect next", c.Next, true); err != nil {
				return err
			}
			if err := ref("collect fallback", c.Fallback, false); err != nil {
				return err
			}
			terminal = true
		case n.Promise != nil:
			p := n.Promise
			if p.Amount != "balance" && !vars[p.Amount] {
				return fail("promise: amount %q: want balance or a variable the script collects", p.Amount)
			}
			if !daysRe.MatchString(p.Date) && !vars[p.Date] {
				return fail("promise: date %q: want +N (days from today) or a variable holding DDMM", p.Date)
			}
			if err := ref("promise next", p.Next, true); err != nil {
				return err
			}
			if err := ref("promise rejected", p.Rejected, true); err != nil {
				return err
			}
			terminal = true
		case n.SMS != nil:
			if n.SMS.Template == "" {
				return fail("sms: template is empty")
			}
			if ch := n.SMS.Channel; ch != "" && ch != "sms" && ch != "whatsapp" {
				return fail("sms: channel %q: want sms or whatsapp", ch)
			}
			if err := ref("sms next", n.SMS.Next, true); err != nil {
				return err
			}
			terminal = true
		case n.Transfer != nil:
			if err := ref("transfer fallback", n.Transfer.Fallback, true); err != nil {
				return err
			}
			terminal = true
		case n.OptOut != nil:
			switch n.OptOut.Channel {
			case "", "voice", "sms", "whatsapp", "all":
			default:
				return fail("optout: channel %q: want voice, sms, whatsapp or all", n.OptOut.Channel)
			}
			if err := ref("optout next", n.OptOut.Next, true); err != nil {
				return err
			}
			terminal = true
		case n.Callback != nil:
			if err := ref("callback next", n.Callback.Next, true); err != nil {
				return err
			}
			terminal = true
		case n.Verify != nil:
			v := n.Verify
			for _, e := range []struct{ what, to string }{{"verify next", v.Next}, {"verify failed", v.Failed}, {"verify locked", v.Locked}} {
				if err := ref(e.what, e.to, true); err != nil {
					return err
				}
			}
			if v.Retries < 0 || v.Retries > 9 || v.Timeout < 0 || v.Timeout > time.Minute || v.InterDigit < 0 || v.InterDigit > time.Minute {
				return fail("verify: retries 0-9, timeout and inter_digit up to 1m")
			}
			terminal = true
		case n.Condition != nil:
			c := n.Condition
			m := condRe.FindStringSubmatch(c.If)
			if m == nil || !Fields[m[1]] && !vars[m[1]] {
				return fail("condition: if %q: want \"field op value\", e.g. \"days_past_due > 30\" (fields: %s)", c.If, fieldList())
			}
			c.Field, c.Op, c.Value = m[1], m[2], m[3]
			if err := ref("condition then", c.Then, true); err != nil {
				return err
			}
			if err := ref("condition else", c.Else, true); err != nil {
				return err
			}
			terminal = true
		case n.Goto != "":
			if err := ref("goto", n.Goto, true); err != nil {
				return err
			}
			terminal = true
		case n.Hangup:
			terminal = true
		}
		if terminal && n.Next != "" {
			return fail("next: this node chooses its own next node")
		}
		if !terminal {
			if n.Next == "" {
				return fail("next: empty (say where to go, or hangup: true)")
			}
			if err := ref("next", n.Next, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldList() string {
	var f []string
	for k := range Fields {
		f = append(f, k)
	}
	sort.Strings(f)
	return strings.Join(f, ", ")
}

// Prompts lists every phrase the script plays (without language).
func (s *Script) Prompts() []string {
	seen := map[string]bool{}
	var out []string
	add := func(its []Item) {
		for _, it := range its {
			if it.Prompt != "" && !seen[it.Prompt] {
				seen[it.Prompt] = true
				out = append(out, it.Prompt)
			}
		}
	}
	for _, n := range s.Nodes {
		add(n.Play)
		if n.Menu != nil {
			add(n.Menu.Prompt)
			add(n.Menu.Invalid)
			add(n.Menu.NoInput)
		}
		if n.Collect != nil {
			add(n.Collect.Prompt)
			add(n.Collect.Invalid)
		}
		if n.Verify != nil {
			// The question depends on the line's method: every one must be recorded.
			for _, p := range VerifyMethods {
				add([]Item{{Prompt: p}})
			}
			add([]Item{{Prompt: PhraseIdentify}, {Prompt: PhraseNoMatch}, {Prompt: PhraseNoInput}})
		}
	}
	sort.Strings(out)
	return out
}
