package queue

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/marcador/marcador/analytics"
)

// AgentCode is an outcome an agent records for a call it took (the
// attempt's agent_code): what it means for the account and for the reports.
// The shipped codes (BuiltinCodes) are the same in every campaign; a
// campaign adds its own (Campaign.AgentCodes).
type AgentCode struct {
	Code string `json:"code"`
	// Final: nothing is left to ask, the account is done in the campaign
	// (a promise, a payment, a dispute, a deceased debtor).
	Final bool `json:"final,omitempty"`
	// RightParty: the agent spoke to the debtor (the attempt's
	// right_party).
	RightParty bool `json:"right_party,omitempty"`
	// Retry is when a call with this code is tried again (not final);
	// zero: retry.delays[<code>], else retry.delays.default, else an hour.
	Retry Duration `json:"retry,omitempty"`
}

// The shipped agent codes.
const (
	CodePromise    = "promise"            // a promise to pay (amount and date, checked against the promise policy)
	CodeCallback   = "callback"           // the debtor asked to be called at a time
	CodeRefused    = "refused"            // the debtor refused to pay
	CodeWrongParty = analytics.WrongParty // the number is not the debtor's (the IVR's right-party check says it too)
	CodeThirdParty = "third_party"        // someone who knows the debtor answered
	CodeDispute    = "dispute"            // the debtor disputes the debt
	CodePaid       = "paid"               // the debtor says it is paid
	CodeDeceased   = "deceased"           // the debtor has died
)

// BuiltinCodes are the shipped agent codes, in the order forms list them.
func BuiltinCodes() []AgentCode {
	return []AgentCode{
		{Code: CodePromise, Final: true, RightParty: true},
		{Code: CodeCallback, RightParty: true},
		{Code: CodeRefused, RightParty: true},
		{Code: CodeWrongParty},
		{Code: CodeThirdParty},
		{Code: CodeDispute, Final: true, RightParty: true},
		{Code: CodePaid, Final: true, RightParty: true},
		{Code: CodeDeceased, Final: true},
	}
}

// AgentCode finds a code in the shipped ones and then the campaign's own.
func (c Campaign) AgentCode(name string) (AgentCode, bool) {
	for _, set := range [][]AgentCode{BuiltinCodes(), c.AgentCodes} {
		if i := slices.IndexFunc(set, func(x AgentCode) bool { return x.Code == name }); i >= 0 {
			return set[i], true
		}
	}
	return AgentCode{}, false
}

// CodeNames lists every code the campaign's agents may send.
func (c Campaign) CodeNames() []string {
	var out []string
	for _, x := range append(BuiltinCodes(), c.AgentCodes...) {
		out = append(out, x.Code)
	}
	return out
}

// codeNameRe is the rule for a campaign's own codes: short, lower case,
// safe in a ClickHouse code column, a metric label and a URL.
var codeNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// checkAgentCodes validates a campaign's own codes.
func (c *Campaign) checkAgentCodes() error {
	seen := map[string]bool{}
	for _, b := range BuiltinCodes() {
		seen[b.Code] = true
	}
	for i := range c.AgentCodes {
		x := &c.AgentCodes[i]
		at := fmt.Sprintf("agent_codes[%d]", i)
		x.Code = strings.TrimSpace(x.Code)
		switch {
		case !codeNameRe.MatchString(x.Code):
			return &FieldError{Campaign: c.ID, Field: at + ".code", Reason: fmt.Sprintf("%.40q: want 1-32 of a-z 0-9 _ starting with a letter", x.Code)}
		case slices.ContainsFunc(BuiltinCodes(), func(b AgentCode) bool { return b.Code == x.Code }):
			return &FieldError{Campaign: c.ID, Field: at + ".code", Reason: fmt.Sprintf("%q is a shipped code (set its delay in retry.delays.%s)", x.Code, x.Code)}
		case seen[x.Code]:
			return &FieldError{Campaign: c.ID, Field: at + ".code", Reason: fmt.Sprintf("%q is listed twice", x.Code)}
		case x.Retry < 0 || time.Duration(x.Retry) > 90*24*time.Hour:
			return &FieldError{Campaign: c.ID, Field: at + ".retry", Reason: "want 0 to 90 days"}
		case x.Final && x.Retry != 0:
			return &FieldError{Campaign: c.ID, Field: at + ".retry", Reason: "a final code is not retried"}
		}
		seen[x.Code] = true
	}
	if len(c.AgentCodes) > 64 {
		return &FieldError{Campaign: c.ID, Field: "agent_codes", Reason: fmt.Sprintf("%d codes: at most 64", len(c.AgentCodes))}
	}
	return nil
}
