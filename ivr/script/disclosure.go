package script

import (
	"fmt"
	"sort"
	"strings"
)

// Verifies says the script identifies inbound callers: it has a verify node.
func (s *Script) Verifies() bool {
	for _, n := range s.Nodes {
		if n.Verify != nil {
			return true
		}
	}
	return false
}

// CheckInbound says whether the script may answer the callback line, where
// the caller id proves nothing: it must verify the caller, and nothing it
// does before a verify node's next may disclose the account (see
// checkDisclosure).
func (s *Script) CheckInbound() error {
	if !s.Verifies() {
		return &Error{File: s.File, Line: s.Nodes[s.Start].Line, Node: s.Start,
			Msg: "an inbound script needs a verify node before it says anything about the account (the caller id proves nothing)"}
	}
	return s.checkDisclosure()
}

// CheckOutbound says whether the script may be played to whoever answers an
// outbound call (a campaign's script, abandon or machine message): the
// number dialled may reach a relative, a roommate or a stranger, so the
// rule is the inbound line's (checkDisclosure). A script that says nothing
// about the account needs no verify node; one that does must put a
// right-party check and a verify node first. Parse applies it to every
// script but one an agent hands an identified debtor to (identified_by:
// agent), which this refuses, naming the node and the path.
func (s *Script) CheckOutbound() error { return s.checkDisclosure() }

// checkDisclosure walks every node reachable from start without passing a
// verify node's next: none of them may say or test an account field (or a
// variable set from one), play a phrase that is not public, record a
// promise or send a text. Telling a third party about a debt is what
// collections law forbids, and a caller who has not verified may be one.
func (s *Script) checkDisclosure() error {
	public := map[string]bool{}
	for p := range publicPhrases {
		public[p] = true
	}
	for _, p := range s.Public {
		if !promptRe.MatchString(p) {
			return &Error{File: s.File, Line: 1, Msg: fmt.Sprintf("public: %q is not a phrase name like p/my-welcome", p)}
		}
		public[p] = true
	}
	tainted := s.accountVars()
	from := map[string]string{s.Start: ""} // node → the node it was reached from
	queue := []string{s.Start}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		n := s.Nodes[id]
		if msg := discloses(n, public, tainted); msg != "" {
			var path []string
			for at := id; at != ""; at = from[at] {
				path = append(path, at)
			}
			for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
				path[i], path[j] = path[j], path[i]
			}
			return &Error{File: s.File, Line: n.Line, Node: id, Msg: fmt.Sprintf("%s before the caller is verified (reached by %s without a verify node's next)",
				msg, strings.Join(path, ">"))}
		}
		for _, to := range unverifiedNext(n) {
			if _, seen := from[to]; !seen {
				from[to] = id
				queue = append(queue, to)
			}
		}
	}
	return nil
}

// accountVars are the variables set, anywhere in the script, from an
// account field or from another such variable.
func (s *Script) accountVars() map[string]bool {
	out := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, n := range s.Nodes {
			for k, v := range n.Set {
				if !out[k] && (accountFields[v] || out[v]) {
					out[k], changed = true, true
				}
			}
		}
	}
	return out
}

// discloses says what n would reveal to an unverified caller, or "".
func discloses(n *Node, public, tainted map[string]bool) string {
	items := [][]Item{n.Play}
	if m := n.Menu; m != nil {
		items = append(items, m.Prompt, m.Invalid, m.NoInput)
	}
	if c := n.Collect; c != nil {
		items = append(items, c.Prompt, c.Invalid)
	}
	for _, its := range items {
		for _, it := range its {
			switch {
			case it.Prompt != "" && !public[it.Prompt]:
				return fmt.Sprintf("plays %s, which is not a public phrase (public ones name the company or offer help; declare your own under public:)", it.Prompt)
			case it.Say != "" && (accountFields[it.Value] || tainted[it.Value]):
				return fmt.Sprintf("says %s", it.Value)
			}
		}
	}
	switch {
	case n.Promise != nil:
		return "records a promise"
	case n.SMS != nil:
		return fmt.Sprintf("sends the %s text about the account", n.SMS.Template)
	case n.Condition != nil && (accountFields[n.Condition.Field] || tainted[n.Condition.Field]):
		return fmt.Sprintf("tests %s", n.Condition.Field)
	}
	return ""
}

// unverifiedNext are the nodes n may lead to while the caller is still
// unverified: every successor except a verify node's next.
func unverifiedNext(n *Node) []string {
	var out []string
	add := func(to ...string) {
		for _, t := range to {
			if t != "" {
				out = append(out, t)
			}
		}
	}
	switch {
	case n.Menu != nil:
		keys := make([]string, 0, len(n.Menu.Options))
		for k := range n.Menu.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(n.Menu.Options[k])
		}
		add(n.Menu.Fallback)
	case n.Collect != nil:
		add(n.Collect.Next, n.Collect.Fallback)
	case n.Promise != nil:
		add(n.Promise.Next, n.Promise.Rejected)
	case n.SMS != nil:
		add(n.SMS.Next)
	case n.Transfer != nil:
		add(n.Transfer.Fallback)
	case n.OptOut != nil:
		add(n.OptOut.Next)
	case n.Callback != nil:
		add(n.Callback.Next)
	case n.Verify != nil:
		add(n.Verify.Failed, n.Verify.Locked)
	case n.Condition != nil:
		add(n.Condition.Then, n.Condition.Else)
	case n.Goto != "":
		add(n.Goto)
	}
	add(n.Next)
	return out
}
