package ivr

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
)

// DefaultVerifyMethod is what callers are asked when the line sets none.
const DefaultVerifyMethod = "national_id_last4"

// Candidate is an account an inbound caller may be: one holding the calling
// number, or one found by the number they keyed.
type Candidate struct {
	Account  queue.Account
	Campaign string
	Policy   Policy         // its campaign's promise policy
	Zone     *time.Location // the debtor's zone, for "today"; nil keeps the call's
}

// Verification is how an inbound caller proves they are the debtor before a
// script says anything about the account (verify nodes). The caller id
// alone proves nothing: anyone can set one.
type Verification struct {
	// Method is what the caller keys: national_id_last4 (default),
	// birth_date (DDMMYYYY) or account_number (see script.VerifyPhrase).
	Method string
	// CallerID are the accounts that hold the calling number.
	CallerID []Candidate
	// Lookup returns the accounts whose account or national id number, as
	// digits, is digits. Nil on an outbound call: we know whom we called
	// (CallerID holds that account), so nobody is asked for another number.
	Lookup func(ctx context.Context, digits string) []Candidate
	// Locked says the caller may not try: too many failed tries from their
	// number or their source, across calls. It fails closed (true) when it
	// cannot tell.
	Locked func(ctx context.Context) bool
	// Failed records one failed try. reason names the checks that failed,
	// never what was keyed or expected; about are the accounts the caller
	// claimed to hold (maybe none).
	Failed func(ctx context.Context, reason string, about []Candidate)
	// Verified is told, once, which account the caller proved to hold.
	Verified func(ctx context.Context, c Candidate)
}

// Answer is what a caller keys to prove they hold a by method; false when
// the account has nothing on file to check it against (no national id, or
// one whose last four characters are not digits, like a CURP's; no birth
// date; an account id with letters).
func Answer(method string, a queue.Account) (string, bool) {
	switch method {
	case "national_id_last4":
		id := strings.NewReplacer(".", "", "-", "", "/", "", " ", "").Replace(a.NationalID)
		if len(id) < 4 {
			return "", false
		}
		last := id[len(id)-4:]
		for _, c := range last {
			if c < '0' || c > '9' {
				return "", false
			}
		}
		return last, true
	case "birth_date":
		t, err := time.Parse(queue.DateLayout, a.BirthDate)
		if err != nil {
			return "", false
		}
		return t.Format("02012006"), true
	case "account_number":
		d := queue.KeypadID(a.ID)
		return d, d != ""
	}
	return "", false
}

// answerKeys is how many keys an answer takes at most: a fixed-length one
// ends by itself, an account number with #.
func answerKeys(method string) int {
	switch method {
	case "national_id_last4":
		return 4
	case "birth_date":
		return 8
	}
	return 20
}

// match returns the first candidate whose answer is keyed; each comparison
// takes the same time whatever matches.
func match(method string, cands []Candidate, keyed string) (Candidate, bool) {
	var found Candidate
	ok := false
	for _, c := range cands {
		want, has := Answer(method, c.Account)
		if has && subtle.ConstantTimeCompare([]byte(want), []byte(keyed)) == 1 && !ok {
			found, ok = c, true
		}
	}
	return found, ok
}

// verify runs a verify node. Each try asks for the method's answer and
// checks it against the accounts holding the calling number; when none
// matches, the caller keys an account or id number and the answer is
// checked against the accounts found by it (for account_number the answer
// is that number). Every caller hears the same questions in the same order
// whether or not their number is on file, so the line never tells a
// stranger that a number or an id belongs to a debtor.
func (r *run) verify(ctx context.Context, v *script.Verify) (string, error) {
	if r.verified {
		return v.Next, nil
	}
	vf := r.env.Verify
	if vf == nil {
		return "", errors.New("verify: this call has no identity check")
	}
	method := vf.Method
	if method == "" {
		method = DefaultVerifyMethod
	}
	ask, ok := script.VerifyPhrase(method)
	if !ok {
		return "", fmt.Errorf("verify: unknown method %q", method)
	}
	timeout, inter := cmp.Or(v.Timeout, 8*time.Second), cmp.Or(v.InterDigit, 4*time.Second)
	for try := 0; try <= v.Retries; try++ {
		if vf.Locked(ctx) {
			r.res.Locked = true
			return v.Locked, nil
		}
		answer, err := r.digits(ctx, []script.Item{{Prompt: ask}}, answerKeys(method), '#', timeout, inter, true)
		if err != nil {
			return "", err
		}
		if answer == "" {
			if err := r.play(ctx, []script.Item{{Prompt: script.PhraseNoInput}}); err != nil {
				return "", err
			}
			continue
		}
		if c, ok := match(method, vf.CallerID, answer); ok {
			return r.verifiedAs(ctx, vf, c, v.Next), nil
		}
		byCaller := "the calling number is on no account"
		if len(vf.CallerID) > 0 {
			byCaller = method + " does not match the calling number's accounts"
		}
		number := answer
		if vf.Lookup == nil {
			// An outbound call: the account called is the only one.
			vf.Failed(ctx, method+" does not match the account called", vf.CallerID)
			if err := r.play(ctx, []script.Item{{Prompt: script.PhraseNoMatch}}); err != nil {
				return "", err
			}
			continue
		}
		if method != "account_number" {
			if number, err = r.digits(ctx, []script.Item{{Prompt: script.PhraseIdentify}}, 20, '#', timeout, inter, true); err != nil {
				return "", err
			}
		}
		var found []Candidate
		byNumber := "no account or id number keyed"
		if number != "" {
			found = vf.Lookup(ctx, number)
			byNumber = "the keyed number is on no account"
			if len(found) > 0 {
				byNumber = method + " does not match the keyed number's accounts"
			}
		}
		if c, ok := match(method, found, answer); ok {
			return r.verifiedAs(ctx, vf, c, v.Next), nil
		}
		vf.Failed(ctx, byCaller+"; "+byNumber, append(append([]Candidate(nil), vf.CallerID...), found...))
		if err := r.play(ctx, []script.Item{{Prompt: script.PhraseNoMatch}}); err != nil {
			return "", err
		}
	}
	return v.Failed, nil
}

func (r *run) verifiedAs(ctx context.Context, vf *Verification, c Candidate, next string) string {
	r.verified, r.res.Verified = true, true
	r.env.Account, r.env.Policy = c.Account, c.Policy.withDefaults()
	if c.Zone != nil {
		r.env.Zone = c.Zone
	}
	if vf.Verified != nil {
		vf.Verified(ctx, c)
	}
	return next
}
