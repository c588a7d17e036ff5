package baresiptest

import (
	"fmt"
	"strings"
)

// Account is a SIP account the phone registers with a registrar, answering
// its digest challenge with the password (baresip 1.0 answers MD5 only).
type Account struct {
	User     string
	Password string
	// Registrar is host:port of the registrar.
	Registrar string
	// Regint is the registration interval baresip asks for (its Expires),
	// seconds; default 60. It refreshes before the granted expiry.
	Regint int
}

// AOR is the account's address of record, as baresip names the account.
func (a Account) AOR() string { return "sip:" + a.User + "@" + a.Registrar }

// Register adds the account to the running phone (baresip's uanew); the
// phone registers at once and keeps its registration fresh. Wait for
// REGISTER_OK or REGISTER_FAIL events to learn how it went. Calls to the
// account are auto-answered.
func (p *Phone) Register(a Account) error {
	if a.Regint == 0 {
		a.Regint = 60
	}
	if strings.ContainsAny(a.Password, ";\"<> ") {
		return fmt.Errorf("baresip account %s: the password must not hold ; \" < > or spaces", a.AOR())
	}
	return p.Command("uanew", fmt.Sprintf("<%s>;auth_pass=%s;regint=%d;answermode=auto;audio_codecs=PCMU,PCMA",
		a.AOR(), a.Password, a.Regint))
}

// Unregister removes the account (baresip's uadel), which un-REGISTERs it
// (Expires: 0) first.
func (p *Phone) Unregister(a Account) error { return p.Command("uadel", a.AOR()) }
