package script

import (
	"strings"
	"testing"
)

func TestShippedScriptsLoadAndPlayOnlyRecordedPhrases(t *testing.T) {
	all, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"reminder-preventive", "reminder-overdue", "abandon-message", "voicemail-limited", "inbound-callback", "agent-promise"} {
		if all[name] == nil {
			t.Errorf("%s not shipped", name)
		}
	}
}

func TestValidationErrorsNameFileLineAndNode(t *testing.T) {
	base := "name: t\nstart: a\nnodes:\n"
	cases := []struct{ body, want string }{
		{"  a:\n    play: [p/x]\n", `t.yaml:4: node "a": next: empty`},
		{"  a:\n    play: [p/x]\n    next: b\n", `t.yaml:4: node "a": next goes to unknown node "b"`},
		{"  a:\n    menu: {options: {\"1\": nowhere}}\n", `node "a": menu option "1" goes to unknown node "nowhere"`},
		{"  a:\n    menu: {options: {\"12\": a}}\n", `option "12": want one key`},
		{"  a:\n    hangup: true\n    play: [p/x]\n", "more than one action"},
		{"  a:\n    plya: [p/x]\n", `t.yaml:5: node "a": unknown key "plya"`},
		{"  a:\n    play: [{say: money, value: balance}]\n    next: a\n", `say "money"`},
		{"  a:\n    play: [{say: amount, value: saldo}]\n    next: a\n", `"saldo" is not a field`},
		{"  a:\n    collect: {var: x, max: 2, min: 3, next: a}\n", "min <= max"},
		{"  a:\n    promise: {amount: balance, date: tomorrow, next: a, rejected: a}\n", `date "tomorrow"`},
		{"  a:\n    condition: {if: \"balance ~ 3\", then: a, else: a}\n", `if "balance ~ 3"`},
		{"  a:\n    menu: {options: {\"1\": a}, timeout: soon}\n", "menu"},
		{"  a:\n    optout: {channel: fax, next: a}\n", `channel "fax"`},
		{"  a:\n    goto: a\n    next: a\n", "chooses its own next node"},
	}
	for _, c := range cases {
		_, err := Parse("t.yaml", []byte(base+c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.body, err, c.want)
		}
	}
	for _, c := range []struct{ src, want string }{
		{"name: t\nnodes: {a: {hangup: true}}\n", "start: empty"},
		{"name: t\nstart: b\nnodes: {a: {hangup: true}}\n", `start "b": no such node`},
		{"name: t\nstart: a\nnodes: {a: {hangup: true}}\nextra: 1\n", `t.yaml:4: unknown key "extra"`},
		{"name: 'a b'\nstart: a\nnodes: {a: {hangup: true}}\n", "name"},
		{"name: t\nstart: a\nnodes: [1]\n", "nodes"},
		{"name: t\n  start: [\n", "t.yaml:"},
	} {
		_, err := Parse("t.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.src, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"reminder-overdue", "inbound-callback", "abandon-message"} {
		b, _ := shipped.ReadFile("shipped/" + name + ".yaml")
		f.Add(b)
	}
	f.Add([]byte("name: t\nstart: a\nnodes: {a: {menu: {options: {'1': a}}}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse("f.yaml", b)
		if err != nil {
			return
		}
		// A script that loads has every reference resolved.
		if s.Nodes[s.Start] == nil {
			t.Fatal("start node missing")
		}
		for _, n := range s.Nodes {
			for _, to := range []string{n.Next, n.Goto} {
				if to != "" && s.Nodes[to] == nil {
					t.Fatalf("dangling %q", to)
				}
			}
		}
	})
}

// An inbound script may say nothing about the account until a verify node
// succeeds: the loader refuses one that could, naming where.
func TestInboundScriptDisclosesNothingBeforeVerify(t *testing.T) {
	all, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if err := all["inbound-callback"].CheckInbound(); err != nil {
		t.Fatalf("shipped inbound script: %v", err)
	}
	if err := all["abandon-message"].CheckInbound(); err == nil || !strings.Contains(err.Error(), `shipped/abandon-message.yaml:7: node "message": an inbound script needs a verify node`) {
		t.Fatalf("an outbound script as the inbound one: %v", err)
	}
	head := "name: t\nstart: hello\nnodes:\n" +
		"  hello:\n    play: [p/inbound-welcome]\n    next: check\n" +
		"  check:\n    verify: {next: told, failed: sorry, locked: sorry}\n" +
		"  told:\n    play: [p/balance-is, {say: amount, value: balance}]\n    next: bye\n" +
		"  bye:\n    hangup: true\n"
	ok := head + "  sorry:\n    play: [p/verify-failed]\n    next: bye\n"
	if _, err := Parse("t.yaml", []byte(ok)); err != nil {
		t.Fatalf("verified disclosure refused: %v", err)
	}
	cases := []struct{ sorry, want string }{
		{"    play: [{say: amount, value: balance}]\n    next: bye\n",
			`t.yaml:14: node "sorry": says balance before the caller is verified (reached by hello>check>sorry without a verify node's next)`},
		{"    play: [p/verify-failed, {say: date, value: due_date}]\n    next: bye\n", `node "sorry": says due_date before`},
		{"    menu: {prompt: [{say: digits, value: account_id}], options: {'1': bye}}\n", `node "sorry": says account_id before`},
		{"    set: {total: balance}\n    next: say\n  say:\n    play: [{say: amount, value: total}]\n    next: bye\n",
			`t.yaml:17: node "say": says total before the caller is verified (reached by hello>check>sorry>say`},
		{"    play: [p/balance-is]\n    next: bye\n", `node "sorry": plays p/balance-is, which is not a public phrase`},
		{"    promise: {amount: balance, date: '+7', next: bye, rejected: bye}\n", `node "sorry": records a promise before`},
		{"    sms: {template: payment-link, next: bye}\n", `node "sorry": sends the payment-link text about the account before`},
		{"    condition: {if: 'days_past_due > 60', then: bye, else: bye}\n", `node "sorry": tests days_past_due before`},
		{"    goto: told\n", `node "told": plays p/balance-is, which is not a public phrase`},
	}
	for _, c := range cases {
		_, err := Parse("t.yaml", []byte(head+"  sorry:\n"+c.sorry))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.sorry, err, c.want)
		}
	}
	// A script's own phrase may be declared public.
	own := strings.Replace(ok, "p/inbound-welcome", "p/acme-welcome", 1)
	if _, err := Parse("t.yaml", []byte(own)); err == nil || !strings.Contains(err.Error(), `node "hello": plays p/acme-welcome`) {
		t.Fatalf("undeclared phrase: %v", err)
	}
	if _, err := Parse("t.yaml", []byte("public: [p/acme-welcome]\n"+own)); err != nil {
		t.Fatalf("declared phrase: %v", err)
	}
	// A verify node's own references are checked like any other.
	if _, err := Parse("t.yaml", []byte(strings.Replace(ok, "locked: sorry", "locked: gone", 1))); err == nil ||
		!strings.Contains(err.Error(), `node "check": verify locked goes to unknown node "gone"`) {
		t.Fatalf("dangling locked: %v", err)
	}
}

// Outbound, whoever answers may not be the debtor: the rule is the inbound
// line's. Every shipped script passes it but the one an agent hands an
// identified debtor to, which CheckOutbound refuses with the node and path;
// a script that discloses before a verify node does not load at all.
func TestOutboundScriptsDiscloseNothingBeforeVerify(t *testing.T) {
	all, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range all {
		err := s.CheckOutbound()
		if name == "agent-promise" {
			if s.IdentifiedBy != IdentifiedByAgent || err == nil ||
				!strings.Contains(err.Error(), `agent-promise.yaml:11: node "promise-how": plays p/promise-how, which is not a public phrase`) ||
				!strings.Contains(err.Error(), "(reached by promise-how without a verify node's next)") {
				t.Errorf("agent-promise: %q %v", s.IdentifiedBy, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"reminder-overdue", "reminder-preventive"} {
		if !all[name].Verifies() || !all[name].Nodes["wrong-party"].WrongParty || all[name].Nodes["limited"].WrongParty {
			t.Errorf("%s: no right-party check", name)
		}
	}
	// The reminder as it was shipped before: the balance at answer.
	old := "name: old\nstart: intro\nnodes:\n" +
		"  intro:\n    play: [p/overdue-intro, {say: amount, value: balance}]\n    next: menu\n" +
		"  menu:\n    menu: {prompt: [p/overdue-menu], options: {'9': bye}, fallback: bye}\n" +
		"  bye:\n    hangup: true\n"
	if _, err := Parse("old.yaml", []byte(old)); err == nil ||
		err.Error() != `old.yaml:4: node "intro": plays p/overdue-intro, which is not a public phrase (public ones name the company or offer help; declare your own under public:) before the caller is verified (reached by intro without a verify node's next)` {
		t.Fatalf("a disclosing outbound script: %v", err)
	}
	if _, err := Parse("old.yaml", []byte("public: [p/overdue-intro]\n"+old)); err == nil || !strings.Contains(err.Error(), `node "intro": says balance before`) {
		t.Fatalf("declared public, it still says the balance: %v", err)
	}
	s, err := Parse("old.yaml", []byte("identified_by: agent\n"+old))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckOutbound(); err == nil || !strings.Contains(err.Error(), `node "intro": plays p/overdue-intro`) {
		t.Fatalf("identified_by agent, as an outbound script: %v", err)
	}
	if _, err := Parse("old.yaml", []byte("identified_by: caller\n"+old)); err == nil || !strings.Contains(err.Error(), `old.yaml:1: identified_by: "caller": want agent`) {
		t.Fatalf("identified_by caller: %v", err)
	}
	if _, err := Parse("t.yaml", []byte("name: t\nstart: a\nnodes:\n  a:\n    wrong_party: maybe\n    hangup: true\n")); err == nil ||
		!strings.Contains(err.Error(), `node "a": wrong_party:`) {
		t.Fatalf("wrong_party maybe: %v", err)
	}
}
