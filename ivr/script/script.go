// Package script is the IVR script format: YAML files of named nodes (play,
// say, menu, collect, promise, sms, transfer, optout, callback, verify,
// condition, set, goto, hangup), validated at load with errors that name the
// file, line and node.
package script

import (
	"sort"
	"time"
)

// Script is a loaded, validated script.
type Script struct {
	Name        string
	Description string
	Start       string
	// Languages the script's phrases exist in (default es, en).
	Languages []string
	// Public are the script's own phrases that may be played to an inbound
	// caller before verification, besides the shipped public phrases.
	Public []string
	// IdentifiedBy is "agent" for a script only an agent hands a debtor to
	// (a transfer to the IVR): the agent has spoken with the debtor, so it
	// may disclose from its start. Such a script is no campaign's script,
	// abandon or machine message (CheckOutbound refuses it there).
	IdentifiedBy string
	Nodes        map[string]*Node
	File         string
}

// IdentifiedByAgent is the one value of identified_by.
const IdentifiedByAgent = "agent"

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
// method (VerifyPhrase); a caller whose number is on no account, or who
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

// verifyMethods are what an inbound caller may be asked to prove who they
// are, each with the phrase that asks for it. Unexported so no caller can
// change it: VerifyPhrase reads it.
var verifyMethods = map[string]string{
	"national_id_last4": "p/verify-id-last4",   // the last four digits of the national id
	"birth_date":        "p/verify-birth-date", // DDMMYYYY
	"account_number":    "p/verify-account",    // the account number's digits, then #
}

// VerifyPhrase is the phrase that asks an inbound caller for method
// (national_id_last4, birth_date, account_number); ok is false for any other.
func VerifyPhrase(method string) (phrase string, ok bool) {
	phrase, ok = verifyMethods[method]
	return phrase, ok
}

// Phrases a verify node plays besides the question.
const (
	PhraseIdentify = "p/inbound-identify" // "key your account or id number"
	PhraseNoMatch  = "p/verify-no-match"  // a try failed
	PhraseNoInput  = "p/no-input"
)

// publicPhrases may be played to an inbound caller before verification:
// they name the company or offer help, and say nothing about an account or
// a debt (a script adds its own under public:).
var publicPhrases = map[string]bool{
	"p/inbound-welcome": true, PhraseIdentify: true, PhraseNoMatch: true, PhraseNoInput: true,
	"p/verify-id-last4": true, "p/verify-birth-date": true, "p/verify-account": true,
	"p/verify-failed": true, "p/verify-locked": true, "p/help-menu": true, "p/callback": true,
	"p/transfer": true, "p/no-agent": true, "p/optout": true, "p/invalid": true, "p/thanks": true, "goodbye": true,
	// The outbound right-party check and the messages whoever answers may
	// hear: the company's name and a number to call, never what it is about
	// (under Reg F even the debtor's name with "debt" tells a third party).
	"p/rpc-greeting": true, "p/rpc-wrong-party": true, "p/limited": true, "p/abandon": true,
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
	// WrongParty marks a node reached when whoever answered said they are
	// not the debtor (the right-party check's "press 2"): the call is
	// recorded wrong_party, not as an unverified answer.
	WrongParty bool
}

// fields are the account values a script may say, set or test.
var fields = map[string]bool{"balance": true, "due_date": true, "days_past_due": true, "segment": true, "name": true,
	"currency": true, "callback_number": true, "account_id": true, "promise.amount": true, "promise.date": true, "today": true}

// accountFields are the fields that come from the debtor's account: an
// inbound script may not say or test them before the caller is verified.
var accountFields = map[string]bool{"balance": true, "due_date": true, "days_past_due": true, "segment": true, "name": true,
	"currency": true, "account_id": true, "promise.amount": true, "promise.date": true}

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
			for _, p := range verifyMethods {
				add([]Item{{Prompt: p}})
			}
			add([]Item{{Prompt: PhraseIdentify}, {Prompt: PhraseNoMatch}, {Prompt: PhraseNoInput}})
		}
	}
	sort.Strings(out)
	return out
}
