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

var (
	idRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	varRe    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	promptRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_/-]{0,127}$`)
	condRe   = regexp.MustCompile(`^\s*([a-z_.]+)\s*(==|!=|>=|<=|>|<)\s*(\S+)\s*$`)
	keyRe    = regexp.MustCompile(`^[0-9*#]$`)
	daysRe   = regexp.MustCompile(`^\+[0-9]{1,3}$`)
	// literalRe is a number a script may say or set as is.
	literalRe = regexp.MustCompile(`^[0-9.]+$`)
	// yamlLineRe finds the line in a YAML syntax error.
	yamlLineRe = regexp.MustCompile(`line (\d+)`)
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
		case "identified_by":
			if v.Value != IdentifiedByAgent {
				return nil, &Error{File: file, Line: v.Line, Msg: fmt.Sprintf("identified_by: %q: want agent (a script only an agent hands a debtor to)", v.Value)}
			}
			s.IdentifiedBy = v.Value
		case "nodes":
			nodesNode = v
		default:
			return nil, &Error{File: file, Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want name, description, start, languages, public, identified_by, nodes)", k.Value)}
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
	// Whoever answers or calls may not be the debtor: nothing may disclose
	// the account before a verify node's next, but in a script an agent
	// hands an identified debtor to.
	if s.IdentifiedBy == "" {
		if err := s.CheckOutbound(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func yamlLine(err error) int {
	m := yamlLineRe.FindStringSubmatch(err.Error())
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
		var err error
		switch k.Value {
		case "set":
			err = val.Decode(&n.Set)
		case "next":
			n.Next = val.Value
		case "wrong_party":
			err = val.Decode(&n.WrongParty)
		default:
			decode, ok := nodeActions[k.Value]
			if !ok {
				return nil, fail(k.Line, "unknown key %q", k.Value)
			}
			actions++
			err = decode(n, val)
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

// nodeActions decode each action key of a node into its field; a node has
// one action at most, besides set and next.
var nodeActions = map[string]func(n *Node, v *yaml.Node) error{
	"play": func(n *Node, v *yaml.Node) (err error) {
		n.Play, err = parseItems(v)
		return err
	},
	"say": func(n *Node, v *yaml.Node) error {
		it, err := parseItem(v)
		n.Play = []Item{it}
		if err == nil && it.Say == "" {
			err = errors.New("say: want {say: amount|date|number|digits, value: ...}")
		}
		return err
	},
	"menu": func(n *Node, v *yaml.Node) error {
		n.Menu = &Menu{}
		if err := decodeStrict(v, n.Menu, "prompt", "options", "timeout", "retries", "invalid", "no_input", "fallback"); err != nil {
			return err
		}
		return fixItems(v, map[string]*[]Item{"prompt": &n.Menu.Prompt, "invalid": &n.Menu.Invalid, "no_input": &n.Menu.NoInput})
	},
	"collect": func(n *Node, v *yaml.Node) error {
		n.Collect = &Collect{}
		if err := decodeStrict(v, n.Collect, "prompt", "var", "min", "max", "terminator", "timeout", "inter_digit", "retries", "invalid", "fallback", "next"); err != nil {
			return err
		}
		return fixItems(v, map[string]*[]Item{"prompt": &n.Collect.Prompt, "invalid": &n.Collect.Invalid})
	},
	"promise": func(n *Node, v *yaml.Node) error {
		n.Promise = &Promise{}
		return decodeStrict(v, n.Promise, "amount", "date", "next", "rejected")
	},
	"sms": func(n *Node, v *yaml.Node) error {
		n.SMS = &SMS{}
		return decodeStrict(v, n.SMS, "template", "channel", "next")
	},
	"transfer": func(n *Node, v *yaml.Node) error {
		n.Transfer = &Transfer{}
		return decodeStrict(v, n.Transfer, "queue", "timeout", "fallback")
	},
	"optout": func(n *Node, v *yaml.Node) error {
		n.OptOut = &OptOut{}
		return decodeStrict(v, n.OptOut, "channel", "next")
	},
	"callback": func(n *Node, v *yaml.Node) error {
		n.Callback = &Callback{}
		return decodeStrict(v, n.Callback, "next")
	},
	"verify": func(n *Node, v *yaml.Node) error {
		n.Verify = &Verify{}
		return decodeStrict(v, n.Verify, "next", "failed", "locked", "retries", "timeout", "inter_digit")
	},
	"condition": func(n *Node, v *yaml.Node) error {
		n.Condition = &Condition{}
		return decodeStrict(v, n.Condition, "if", "then", "else")
	},
	"goto": func(n *Node, v *yaml.Node) error {
		n.Goto = v.Value
		return nil
	},
	"hangup": func(n *Node, v *yaml.Node) error { return v.Decode(&n.Hangup) },
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
