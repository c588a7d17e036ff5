package script

import "testing"

// Each validator refuses its bad script with its own precise error: one
// case per rule, node "a" at line 4, "end" a node every case may go to.
func TestEachValidatorRefusesItsRule(t *testing.T) {
	const fieldList = "account_id, balance, callback_number, currency, days_past_due, due_date, name, promise.amount, promise.date, segment, today"
	const at = `t.yaml:4: node "a": `
	cases := []struct{ rule, node, want string }{
		// any node
		{"set variable name", "set: {X: balance}\n    next: end", `set: variable "X": want lower-case letters, digits and _`},
		{"set value", "set: {x: saldo}\n    next: end", `set x: "saldo" is not a field (` + fieldList + `), a variable set by this script, or a literal`},
		{"play say value", "play: [{say: amount, value: saldo}]\n    next: end", `play say amount: "saldo" is not a field (` + fieldList + `), a variable set by this script, or a literal`},
		{"next empty", "play: [p/x]", `next: empty (say where to go, or hangup: true)`},
		{"next unknown", "play: [p/x]\n    next: nowhere", `next goes to unknown node "nowhere"`},
		{"next on an action that chooses", "goto: end\n    next: end", `next: this node chooses its own next node`},
		// menu
		{"menu options", "menu: {prompt: [p/x]}", `menu: no options`},
		{"menu key", "menu: {options: {'12': end}}", `menu: option "12": want one key 0-9, * or #`},
		{"menu option node", "menu: {options: {'1': nowhere}}", `menu option "1" goes to unknown node "nowhere"`},
		{"menu option empty", "menu: {options: {'1': ''}}", `menu option "1": empty`},
		{"menu retries", "menu: {options: {'1': end}, retries: 10}", `menu: retries 0-9, timeout up to 1m`},
		{"menu timeout", "menu: {options: {'1': end}, timeout: 2m}", `menu: retries 0-9, timeout up to 1m`},
		{"menu fallback", "menu: {options: {'1': end}, fallback: nowhere}", `menu fallback goes to unknown node "nowhere"`},
		{"menu prompt say", "menu: {options: {'1': end}, prompt: [{say: date, value: fecha}]}", `menu prompt say date: "fecha" is not a field (` + fieldList + `), a variable set by this script, or a literal`},
		// collect
		{"collect var", "collect: {var: X, max: 4, next: end}", `collect: var "X": want lower-case letters, digits and _`},
		{"collect max", "collect: {var: x, max: 33, next: end}", `collect: want 0 <= min <= max <= 32 (min 0, max 33)`},
		{"collect min", "collect: {var: x, min: 3, max: 2, next: end}", `collect: want 0 <= min <= max <= 32 (min 3, max 2)`},
		{"collect terminator", "collect: {var: x, max: 4, terminator: '0', next: end}", `collect: terminator "0": want # or *`},
		{"collect next", "collect: {var: x, max: 4}", `collect next: empty`},
		{"collect fallback", "collect: {var: x, max: 4, next: end, fallback: nowhere}", `collect fallback goes to unknown node "nowhere"`},
		// promise
		{"promise amount", "promise: {amount: all, date: '+3', next: end, rejected: end}", `promise: amount "all": want balance or a variable the script collects`},
		{"promise date", "promise: {amount: balance, date: tomorrow, next: end, rejected: end}", `promise: date "tomorrow": want +N (days from today) or a variable holding DDMM`},
		{"promise next", "promise: {amount: balance, date: '+3', rejected: end}", `promise next: empty`},
		{"promise rejected", "promise: {amount: balance, date: '+3', next: end, rejected: nowhere}", `promise rejected goes to unknown node "nowhere"`},
		// sms
		{"sms template", "sms: {next: end}", `sms: template is empty`},
		{"sms channel", "sms: {template: payment-link, channel: fax, next: end}", `sms: channel "fax": want sms or whatsapp`},
		{"sms next", "sms: {template: payment-link, next: nowhere}", `sms next goes to unknown node "nowhere"`},
		// transfer
		{"transfer fallback", "transfer: {queue: agents}", `transfer fallback: empty`},
		// optout
		{"optout channel", "optout: {channel: fax, next: end}", `optout: channel "fax": want voice, sms, whatsapp or all`},
		{"optout next", "optout: {channel: all}", `optout next: empty`},
		// callback
		{"callback next", "callback: {next: nowhere}", `callback next goes to unknown node "nowhere"`},
		// verify
		{"verify next", "verify: {failed: end, locked: end}", `verify next: empty`},
		{"verify failed", "verify: {next: end, failed: nowhere, locked: end}", `verify failed goes to unknown node "nowhere"`},
		{"verify locked", "verify: {next: end, failed: end}", `verify locked: empty`},
		{"verify retries", "verify: {next: end, failed: end, locked: end, retries: -1}", `verify: retries 0-9, timeout and inter_digit up to 1m`},
		{"verify inter_digit", "verify: {next: end, failed: end, locked: end, inter_digit: 61s}", `verify: retries 0-9, timeout and inter_digit up to 1m`},
		// condition
		{"condition syntax", "condition: {if: 'balance ~ 3', then: end, else: end}", `condition: if "balance ~ 3": want "field op value", e.g. "days_past_due > 30" (fields: ` + fieldList + `)`},
		{"condition field", "condition: {if: 'saldo > 3', then: end, else: end}", `condition: if "saldo > 3": want "field op value", e.g. "days_past_due > 30" (fields: ` + fieldList + `)`},
		{"condition then", "condition: {if: 'balance > 3', else: end}", `condition then: empty`},
		{"condition else", "condition: {if: 'balance > 3', then: end, else: nowhere}", `condition else goes to unknown node "nowhere"`},
		// goto
		{"goto", "goto: nowhere", `goto goes to unknown node "nowhere"`},
	}
	for _, c := range cases {
		src := "name: t\nstart: a\nnodes:\n  a:\n    " + c.node + "\n  end:\n    hangup: true\n"
		_, err := Parse("t.yaml", []byte(src))
		if err == nil || err.Error() != at+c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.rule, err, at+c.want)
		}
	}
}

// The same script passes every validator when its values are right: the
// cases above fail for their rule alone.
func TestValidatorsAcceptAGoodNodeOfEachKind(t *testing.T) {
	src := `name: t
start: v
nodes:
  v:
    verify: {next: a, failed: end, locked: end, retries: 0, inter_digit: 1m}
  a:
    set: {x: balance, y: '+3', z: '12.5'}
    play: [p/x, {say: amount, value: x}]
    next: m
  m:
    menu: {options: {'1': c, '*': p, '#': s}, retries: 9, timeout: 1m, fallback: t, prompt: [{say: date, value: due_date}]}
  c:
    collect: {var: day, min: 0, max: 32, terminator: '*', next: d, fallback: end}
  d:
    condition: {if: 'day >= 10', then: p, else: cb}
  p:
    promise: {amount: balance, date: day, next: s, rejected: o}
  s:
    sms: {template: payment-link, channel: whatsapp, next: o}
  o:
    optout: {channel: all, next: t}
  t:
    transfer: {fallback: cb}
  cb:
    callback: {next: g}
  g:
    goto: end
  end:
    hangup: true
`
	s, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Nodes["d"].Condition; c.Field != "day" || c.Op != ">=" || c.Value != "10" {
		t.Fatalf("condition split into %q %q %q", c.Field, c.Op, c.Value)
	}
}

func TestVerifyPhrase(t *testing.T) {
	for method, want := range map[string]string{"national_id_last4": "p/verify-id-last4", "birth_date": "p/verify-birth-date", "account_number": "p/verify-account"} {
		if got, ok := VerifyPhrase(method); !ok || got != want {
			t.Errorf("%s: %q %v, want %q", method, got, ok, want)
		}
	}
	if _, ok := VerifyPhrase("pin"); ok {
		t.Error("an unknown method has a phrase")
	}
}
