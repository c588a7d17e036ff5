package script

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

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
