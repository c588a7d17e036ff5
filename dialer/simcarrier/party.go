package simcarrier

import (
	"hash/fnv"
	"strings"
)

// Party is who picks up a person's phone, as an outbound reminder's
// right-party check sees it ("press 1 if you are the person we are
// calling, 2 if not", then the proof).
type Party string

const (
	// Debtor presses 1, keys their proof (Options.Proof), then their keys.
	Debtor Party = "debtor"
	// WrongParty (a relative, a roommate, a wrong number) presses 2 and
	// listens.
	WrongParty Party = "wrong_party"
	// FailsCheck claims to be the debtor (1) and keys a wrong proof at each
	// of two tries.
	FailsCheck Party = "fails_check"
)

// PartyFor is who answers number when a person does: drawn from the
// number (the same every call, so a test or demo knows), with the shares
// Options.WrongParty and Options.FailsCheck, or Options.Parties'
// choice; everyone is the debtor when no Options.Proof is set.
func (c *Carrier) PartyFor(number string) Party {
	if c.opt.Proof == nil {
		return Debtor
	}
	if c.opt.Parties != nil {
		return c.opt.Parties(number)
	}
	h := fnv.New64a()
	h.Write([]byte("party/" + number))
	x := float64(h.Sum64()%1_000_000) / 1_000_000
	switch {
	case x < c.opt.WrongParty:
		return WrongParty
	case x < c.opt.WrongParty+c.opt.FailsCheck:
		return FailsCheck
	}
	return Debtor
}

// keysFor are the parts of the keys a person who answers number presses:
// through the right-party check first when the dialer has one (Proof).
func (c *Carrier) keysFor(number string) (Party, string) {
	digits := c.opt.Digits
	if c.opt.DigitsFor != nil {
		digits = c.opt.DigitsFor(number)
	}
	if c.opt.Proof == nil {
		return Debtor, digits
	}
	proof := c.opt.Proof(number)
	if proof == "" {
		return Debtor, digits // no right-party check on calls to this number
	}
	p := c.PartyFor(number)
	switch p {
	case WrongParty:
		return p, "2/" // then listens
	case FailsCheck:
		wrong := wrongProof(proof)
		return p, "1/" + wrong + "/" + wrong + "/"
	}
	if digits == "" {
		return p, "1/" + proof + "/"
	}
	return p, "1/" + proof + "/" + digits
}

// wrongProof is a proof that is not proof: each digit moved by one.
func wrongProof(proof string) string {
	var b strings.Builder
	for _, r := range proof {
		if r >= '0' && r <= '9' {
			r = '0' + (r-'0'+1)%10
		}
		b.WriteRune(r)
	}
	return b.String()
}
