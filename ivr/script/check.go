package script

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// checker validates one node's references to other nodes, variables and
// values; vars are the variables the whole script sets (collect, set), since
// a node may use one set by a node that runs before it.
type checker struct {
	s    *Script
	vars map[string]bool
	n    *Node
}

// check validates references between nodes, variables and values: one
// validator per node kind, nodes in id order so the first error is stable.
func (s *Script) check() error {
	c := &checker{s: s, vars: s.setVars()}
	ids := make([]string, 0, len(s.Nodes))
	for id := range s.Nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c.n = s.Nodes[id]
		if err := c.node(); err != nil {
			return err
		}
	}
	return nil
}

// setVars are the variables some node of the script sets.
func (s *Script) setVars() map[string]bool {
	vars := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Collect != nil {
			vars[n.Collect.Var] = true
		}
		for k := range n.Set {
			vars[k] = true
		}
	}
	return vars
}

// node checks what any node may carry (set, play), its action, and that a
// node names its next node exactly when its action does not choose one.
func (c *checker) node() error {
	n := c.n
	if err := c.set(n.Set); err != nil {
		return err
	}
	if err := c.items("play", n.Play); err != nil {
		return err
	}
	terminal, err := c.action()
	if err != nil {
		return err
	}
	if terminal {
		if n.Next != "" {
			return c.fail("next: this node chooses its own next node")
		}
		return nil
	}
	if n.Next == "" {
		return c.fail("next: empty (say where to go, or hangup: true)")
	}
	return c.ref("next", n.Next, true)
}

// action runs the validator of the node's action (parseNode allows one at
// most) and says whether that action chooses the next node itself.
func (c *checker) action() (terminal bool, err error) {
	n := c.n
	switch {
	case n.Menu != nil:
		return true, c.menu(n.Menu)
	case n.Collect != nil:
		return true, c.collect(n.Collect)
	case n.Promise != nil:
		return true, c.promise(n.Promise)
	case n.SMS != nil:
		return true, c.sms(n.SMS)
	case n.Transfer != nil:
		return true, c.ref("transfer fallback", n.Transfer.Fallback, true)
	case n.OptOut != nil:
		return true, c.optOut(n.OptOut)
	case n.Callback != nil:
		return true, c.ref("callback next", n.Callback.Next, true)
	case n.Verify != nil:
		return true, c.verify(n.Verify)
	case n.Condition != nil:
		return true, c.condition(n.Condition)
	case n.Goto != "":
		return true, c.ref("goto", n.Goto, true)
	case n.Hangup:
		return true, nil
	}
	return false, nil // play, say or set alone: next says where to go
}

func (c *checker) set(set map[string]string) error {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !varRe.MatchString(k) {
			return c.fail("set: variable %q: want lower-case letters, digits and _", k)
		}
		if err := c.value("set "+k, set[k]); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) menu(m *Menu) error {
	if len(m.Options) == 0 {
		return c.fail("menu: no options")
	}
	keys := make([]string, 0, len(m.Options))
	for k := range m.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if !keyRe.MatchString(key) {
			return c.fail("menu: option %q: want one key 0-9, * or #", key)
		}
		if err := c.ref(fmt.Sprintf("menu option %q", key), m.Options[key], true); err != nil {
			return err
		}
	}
	if m.Retries < 0 || m.Retries > 9 || m.Timeout < 0 || m.Timeout > time.Minute {
		return c.fail("menu: retries 0-9, timeout up to 1m")
	}
	if err := c.ref("menu fallback", m.Fallback, false); err != nil {
		return err
	}
	return c.items("menu prompt", m.Prompt)
}

func (c *checker) collect(col *Collect) error {
	if !varRe.MatchString(col.Var) {
		return c.fail("collect: var %q: want lower-case letters, digits and _", col.Var)
	}
	if col.Max < 1 || col.Max > 32 || col.Min < 0 || col.Min > col.Max {
		return c.fail("collect: want 0 <= min <= max <= 32 (min %d, max %d)", col.Min, col.Max)
	}
	if col.Terminator != "" && col.Terminator != "#" && col.Terminator != "*" {
		return c.fail("collect: terminator %q: want # or *", col.Terminator)
	}
	if err := c.ref("collect next", col.Next, true); err != nil {
		return err
	}
	return c.ref("collect fallback", col.Fallback, false)
}

func (c *checker) promise(p *Promise) error {
	if p.Amount != "balance" && !c.vars[p.Amount] {
		return c.fail("promise: amount %q: want balance or a variable the script collects", p.Amount)
	}
	if !daysRe.MatchString(p.Date) && !c.vars[p.Date] {
		return c.fail("promise: date %q: want +N (days from today) or a variable holding DDMM", p.Date)
	}
	if err := c.ref("promise next", p.Next, true); err != nil {
		return err
	}
	return c.ref("promise rejected", p.Rejected, true)
}

func (c *checker) sms(m *SMS) error {
	if m.Template == "" {
		return c.fail("sms: template is empty")
	}
	if ch := m.Channel; ch != "" && ch != "sms" && ch != "whatsapp" {
		return c.fail("sms: channel %q: want sms or whatsapp", ch)
	}
	return c.ref("sms next", m.Next, true)
}

func (c *checker) optOut(o *OptOut) error {
	switch o.Channel {
	case "", "voice", "sms", "whatsapp", "all":
	default:
		return c.fail("optout: channel %q: want voice, sms, whatsapp or all", o.Channel)
	}
	return c.ref("optout next", o.Next, true)
}

func (c *checker) verify(v *Verify) error {
	for _, e := range []struct{ what, to string }{{"verify next", v.Next}, {"verify failed", v.Failed}, {"verify locked", v.Locked}} {
		if err := c.ref(e.what, e.to, true); err != nil {
			return err
		}
	}
	if v.Retries < 0 || v.Retries > 9 || v.Timeout < 0 || v.Timeout > time.Minute || v.InterDigit < 0 || v.InterDigit > time.Minute {
		return c.fail("verify: retries 0-9, timeout and inter_digit up to 1m")
	}
	return nil
}

// condition also splits If into Field, Op and Value for the interpreter.
func (c *checker) condition(cond *Condition) error {
	m := condRe.FindStringSubmatch(cond.If)
	if m == nil || !fields[m[1]] && !c.vars[m[1]] {
		return c.fail("condition: if %q: want \"field op value\", e.g. \"days_past_due > 30\" (fields: %s)", cond.If, fieldList())
	}
	cond.Field, cond.Op, cond.Value = m[1], m[2], m[3]
	if err := c.ref("condition then", cond.Then, true); err != nil {
		return err
	}
	return c.ref("condition else", cond.Else, true)
}

func (c *checker) fail(format string, a ...any) error {
	return &Error{File: c.s.File, Line: c.n.Line, Node: c.n.ID, Msg: fmt.Sprintf(format, a...)}
}

// ref checks that to names a node of the script; what says which reference
// it is in the error.
func (c *checker) ref(what, to string, required bool) error {
	if to == "" {
		if required {
			return c.fail("%s: empty", what)
		}
		return nil
	}
	if c.s.Nodes[to] == nil {
		return c.fail("%s goes to unknown node %q", what, to)
	}
	return nil
}

// value checks what a say item or a set names: a field, a variable the
// script sets, +N days or a number.
func (c *checker) value(what, v string) error {
	if fields[v] || c.vars[v] || daysRe.MatchString(v) || literalRe.MatchString(v) {
		return nil
	}
	return c.fail("%s: %q is not a field (%s), a variable set by this script, or a literal", what, v, fieldList())
}

func (c *checker) items(what string, its []Item) error {
	for _, it := range its {
		if it.Say != "" {
			if err := c.value(what+" say "+it.Say, it.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func fieldList() string {
	f := make([]string, 0, len(fields))
	for k := range fields {
		f = append(f, k)
	}
	sort.Strings(f)
	return strings.Join(f, ", ")
}
