package script

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

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
