package ivr

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/say"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
)

// keypad is a caller who answers each prompt from a list: a group of keys,
// or "_" for silence until the timeout. It records what it heard.
type keypad struct {
	answers []string
	heard   []string
}

func (k *keypad) Play(_ context.Context, _ bool, ps ...*media.Prompt) (media.PlayResult, error) {
	for _, p := range ps {
		k.heard = append(k.heard, p.Name)
	}
	return media.PlayResult{}, nil
}

func (k *keypad) CollectDigits(_ context.Context, max int, term rune, _, _ time.Duration) (string, error) {
	if len(k.answers) == 0 {
		return "", media.ErrClosed // the caller hung up
	}
	a := k.answers[0]
	k.answers = k.answers[1:]
	if a == "_" {
		return "", nil
	}
	if i := strings.IndexRune(a, term); term != 0 && i >= 0 {
		a = a[:i]
	}
	if len(a) > max {
		k.answers = append([]string{a[max:]}, k.answers...)
		a = a[:max]
	}
	return a, nil
}

var today = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) // a Tuesday

func env(lang string) Env {
	return Env{Lang: lang, Now: today, Library: prompts.NewLibrary(""), CallbackNumber: "+525550000100",
		Account: queue.Account{ID: "MX-1", Name: "Ana", NationalID: "GOMA850315-4821", Balance: decimal.RequireFromString("1250.50"), Currency: "MXN",
			DueDate: "2026-11-10", DaysPastDue: 14},
		Policy: Policy{MaxDays: 15, MinPercent: decimal.NewFromInt(10)}}
}

// outbound is an outbound call to MX-1: the verify node checks whoever
// answers against the account called (no lookup of another number).
func outbound(lang string, l *line) Env {
	e := env(lang)
	e.Verify = l.verification("national_id_last4", []Candidate{{Account: e.Account, Campaign: "c1", Policy: e.Policy}}, nil)
	e.Verify.Lookup = nil
	return e
}

// debtor is what the debtor keys first on an outbound reminder: 1 (it is
// me), then the last four digits of their national id.
var debtor = []string{"1", "4821"}

// runDebtor runs a reminder script for the debtor who verifies, then keys.
func runDebtor(t *testing.T, name string, e Env, keys ...string) (Result, *keypad) {
	t.Helper()
	if e.Verify == nil {
		e = outbound(e.Lang, &line{})
	}
	return runKeys(t, name, e, append(append([]string(nil), debtor...), keys...)...)
}

func shipped(t *testing.T, name string) *script.Script {
	t.Helper()
	all, err := script.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	return all[name]
}

func runKeys(t *testing.T, name string, e Env, keys ...string) (Result, *keypad) {
	t.Helper()
	k := &keypad{answers: keys}
	res, err := Run(context.Background(), k, shipped(t, name), e)
	if err != nil {
		t.Fatal(err)
	}
	return res, k
}

func TestOverduePromiseFullBalance(t *testing.T) {
	res, k := runDebtor(t, "reminder-overdue", env("es"), "1", "1", "2")
	if res.Promise == nil || !res.Promise.Amount.Equal(decimal.RequireFromString("1250.50")) || res.Promise.Date.Format(time.DateOnly) != "2026-12-01" {
		t.Fatalf("promise %+v (%s)", res.Promise, res.IVRPath())
	}
	if res.IVRPath() != "greeting>verify>intro>menu>promise-how>full-balance>when>in-a-week>record>promise-ok>goodbye>end" || res.DTMF != "1****112" ||
		!res.Verified || !res.Checked || res.WrongParty {
		t.Fatalf("path %s dtmf %s", res.IVRPath(), res.DTMF)
	}
	// The balance was spoken: "mil doscientos cincuenta pesos con cincuenta centavos".
	heard := strings.Join(k.heard, " ")
	if !strings.Contains(heard, "es/w/mil es/w/doscientos es/w/cincuenta es/w/pesos es/w/con_ es/w/cincuenta es/w/centavos") ||
		!strings.Contains(heard, "es/w/catorce") || !strings.Contains(heard, "es/w/el es/w/martes es/w/primero es/w/de es/w/diciembre") {
		t.Fatalf("heard %s", heard)
	}
}

func TestOverduePromiseEnteredAmountAndDate(t *testing.T) {
	res, _ := runDebtor(t, "reminder-overdue", env("en"), "1", "2", "500#", "3", "0812")
	if res.Promise == nil || res.Promise.Amount.String() != "500" || res.Promise.Date.Format(time.DateOnly) != "2026-12-08" {
		t.Fatalf("promise %+v (%s)", res.Promise, res.IVRPath())
	}
}

func TestPromiseOutsidePolicyIsRejected(t *testing.T) {
	// 31 December is more than 15 days ahead; 50 is under 10 % of the balance.
	res, _ := runDebtor(t, "reminder-overdue", env("es"), "1", "2", "50#", "1", "_", "_")
	if res.Promise != nil || res.Rejected != 1 {
		t.Fatalf("small amount: %+v rejected %d (%s)", res.Promise, res.Rejected, res.IVRPath())
	}
	// Rejected, the promise starts over: full balance, in a week.
	res, _ = runDebtor(t, "reminder-overdue", env("es"), "1", "1", "3", "3112", "1", "2")
	if res.Promise == nil || res.Rejected != 1 || !strings.Contains(res.IVRPath(), "promise-rejected>promise-how>full-balance>when>in-a-week") {
		t.Fatalf("late date: %+v rejected %d (%s)", res.Promise, res.Rejected, res.IVRPath())
	}
	res, _ = runDebtor(t, "reminder-overdue", env("es"), "1", "1", "3", "3102", "_", "_")
	if res.Promise != nil || res.Rejected != 1 {
		t.Fatalf("31 February: %+v", res)
	}
}

func TestTimeoutsAndInvalidKeys(t *testing.T) {
	res, k := runDebtor(t, "reminder-overdue", env("es"), "_", "_", "_")
	if res.IVRPath() != "greeting>verify>intro>menu>goodbye>end" || res.End != "hangup" {
		t.Fatalf("silence: %s %s", res.IVRPath(), res.End)
	}
	if n := strings.Count(strings.Join(k.heard, " "), "es/p/no-input"); n != 3 {
		t.Fatalf("no-input played %d times", n)
	}
	res, k = runDebtor(t, "reminder-overdue", env("es"), "7", "9")
	if !res.OptedOut || !strings.Contains(strings.Join(k.heard, " "), "es/p/invalid") {
		t.Fatalf("invalid then 9: %+v", res)
	}
}

func TestOptOutPaylinkAndTransferFallback(t *testing.T) {
	e := outbound("es", &line{})
	var opted, sent string
	e.OptOut = func(_ context.Context, ch string) error { opted = ch; return nil }
	e.SendSMS = func(_ context.Context, tpl, ch string) error { sent = tpl + "/" + ch; return nil }
	if res, _ := runDebtor(t, "reminder-overdue", e, "9"); !res.OptedOut || opted != "voice" {
		t.Fatalf("optout %+v %q", res, opted)
	}
	if res, _ := runDebtor(t, "reminder-overdue", e, "2"); len(res.SMS) != 1 || sent != "payment-link/sms" {
		t.Fatalf("paylink %+v %q", res, sent)
	}
	res, _ := runDebtor(t, "reminder-overdue", e, "3")
	if res.Transferred || !strings.Contains(res.IVRPath(), "transfer>no-agent>goodbye") {
		t.Fatalf("no agents: %s", res.IVRPath())
	}
	e.Transfer = func(context.Context, string, time.Duration) (bool, error) { return false, nil }
	if res, _ := runDebtor(t, "reminder-overdue", e, "3"); !strings.Contains(res.IVRPath(), "no-agent") {
		t.Fatalf("nobody took it: %s", res.IVRPath())
	}
	e.Transfer = func(context.Context, string, time.Duration) (bool, error) { return true, nil }
	if res, _ := runDebtor(t, "reminder-overdue", e, "3"); !res.Transferred || res.End != "transferred" {
		t.Fatalf("agent took it: %+v", res)
	}
}

func TestPreventiveAbandonAndLimitedMessages(t *testing.T) {
	_, k := runDebtor(t, "reminder-preventive", env("en"), "_", "_")
	if !strings.Contains(strings.Join(k.heard, " "), "en/w/tuesday en/w/november en/w/tenth") {
		t.Fatalf("due date: %v", k.heard)
	}
	for _, name := range []string{"abandon-message", "voicemail-limited"} {
		res, k := runKeys(t, name, env("es"))
		heard := strings.Join(k.heard, " ")
		if res.End != "hangup" || !strings.Contains(heard, "es/w/cinco es/w/dos es/w/cinco es/w/cinco") {
			t.Fatalf("%s: %s %s", name, res.End, heard)
		}
		if name == "voicemail-limited" {
			for _, h := range k.heard {
				if strings.Contains(h, "overdue") || strings.Contains(h, "balance") || strings.Contains(h, "pesos") {
					t.Fatalf("limited-content message mentions the debt: %s", h)
				}
			}
		}
	}
}

// line is the callback line's identity check over fixed accounts: known
// holds the calling number; lookup answers keyed numbers. It records the
// failures it is told about.
type line struct {
	locked   bool
	failures []string
	about    [][]Candidate
	verified []string
}

func (l *line) verification(method string, byCaller []Candidate, lookup map[string][]Candidate) *Verification {
	return &Verification{Method: method, CallerID: byCaller,
		Lookup: func(_ context.Context, d string) []Candidate { return lookup[d] },
		Locked: func(context.Context) bool { return l.locked },
		Failed: func(_ context.Context, reason string, about []Candidate) {
			l.failures = append(l.failures, reason)
			l.about = append(l.about, about)
		},
		Verified: func(_ context.Context, c Candidate) { l.verified = append(l.verified, c.Account.ID) }}
}

// inboundEnv is the callback line for a caller whose number holds MX-1
// (national id ending 4821, born 1985-03-15) unless unknown.
func inboundEnv(l *line, method string, known bool) Env {
	e := env("es")
	debtor := e.Account
	debtor.NationalID, debtor.BirthDate = "GOMA850315-4821", "1985-03-15"
	e.Account = queue.Account{}
	var byCaller []Candidate
	if known {
		byCaller = []Candidate{{Account: debtor, Campaign: "c1"}}
	}
	e.Verify = l.verification(method, byCaller, map[string][]Candidate{"123456": {{Account: debtor, Campaign: "c1"}}})
	return e
}

// disclosed lists what a caller heard that says anything about the account.
func disclosed(heard []string) []string {
	var out []string
	for _, h := range heard {
		for _, bad := range []string{"balance-is", "due-on", "overdue", "promise", "link-sent", "w/pesos", "w/mil", "w/diciembre", "w/noviembre"} {
			if strings.Contains(h, bad) {
				out = append(out, h)
			}
		}
	}
	return out
}

func TestInboundCallerIDAloneIsNotIdentity(t *testing.T) {
	// Known by caller id, the caller keys nothing: three questions, then
	// only the help menu; nothing about the account.
	l := &line{}
	res, k := runKeys(t, "inbound-callback", inboundEnv(l, "", true), "_", "_", "_", "_", "_")
	if res.Verified || res.Account.ID != "" || len(l.failures) != 0 ||
		res.IVRPath() != "welcome>verify>not-verified>help>goodbye>end" {
		t.Fatalf("silent caller: %+v %s failures %v", res, res.IVRPath(), l.failures)
	}
	if d := disclosed(k.heard); len(d) > 0 {
		t.Fatalf("an unverified caller heard %v", d)
	}
	if n := strings.Count(strings.Join(k.heard, " "), "es/p/verify-id-last4"); n != 3 {
		t.Fatalf("asked %d times: %v", n, k.heard)
	}
	// Wrong answers (and no account number): each a failure that names the
	// check, never the answer; the keys are masked in the attempt's dtmf.
	l = &line{}
	res, k = runKeys(t, "inbound-callback", inboundEnv(l, "", true), "0000", "_", "1111", "999#", "2222", "123456#", "_", "_")
	if res.Verified || len(l.failures) != 3 || len(disclosed(k.heard)) > 0 {
		t.Fatalf("wrong answers: %+v failures %v heard %v", res, l.failures, disclosed(k.heard))
	}
	want := []string{
		"national_id_last4 does not match the calling number's accounts; no account or id number keyed",
		"national_id_last4 does not match the calling number's accounts; the keyed number is on no account",
		"national_id_last4 does not match the calling number's accounts; national_id_last4 does not match the keyed number's accounts",
	}
	for i, w := range want {
		if l.failures[i] != w || l.about[i][0].Account.ID != "MX-1" {
			t.Errorf("failure %d: %q about %v, want %q", i, l.failures[i], l.about[i], w)
		}
		if strings.Contains(l.failures[i], "4821") {
			t.Errorf("failure %d names the expected answer: %q", i, l.failures[i])
		}
	}
	if strings.ContainsAny(res.DTMF, "0123456789") {
		t.Fatalf("verification keys reached the attempt log: %q", res.DTMF)
	}
	// The right answer: the balance, the due date and the menu.
	l = &line{}
	res, k = runKeys(t, "inbound-callback", inboundEnv(l, "", true), "4821", "9")
	if !res.Verified || res.Account.ID != "MX-1" || !res.OptedOut || l.verified[0] != "MX-1" ||
		res.IVRPath() != "welcome>verify>balance>menu>optout>optout-done>goodbye>end" || res.DTMF != "****9" {
		t.Fatalf("right answer: %+v %s", res, res.IVRPath())
	}
	if d := disclosed(k.heard); len(d) == 0 || d[0] != "es/p/balance-is" {
		t.Fatalf("the verified debtor did not hear the balance: %v", k.heard)
	}
}

func TestInboundUnknownNumberKeysAccountOrID(t *testing.T) {
	// The same questions as a known caller: the answer, then the number.
	l := &line{}
	res, k := runKeys(t, "inbound-callback", inboundEnv(l, "", false), "4821", "123456#", "9")
	if !res.Verified || res.Account.ID != "MX-1" || !res.OptedOut || len(l.failures) != 0 ||
		!strings.Contains(strings.Join(k.heard, " "), "es/p/verify-id-last4 es/p/inbound-identify") {
		t.Fatalf("%+v %s %v", res, res.IVRPath(), k.heard)
	}
	l = &line{}
	res, _ = runKeys(t, "inbound-callback", inboundEnv(l, "", false), "4821", "999#", "_", "_")
	if res.Verified || len(l.failures) != 1 || l.failures[0] != "the calling number is on no account; the keyed number is on no account" || len(l.about[0]) != 0 {
		t.Fatalf("unknown id: %+v %v", res, l.failures)
	}
}

func TestInboundVerifyMethods(t *testing.T) {
	l := &line{}
	res, _ := runKeys(t, "inbound-callback", inboundEnv(l, "birth_date", true), "15031985", "_", "_", "_", "_")
	if !res.Verified || !strings.HasPrefix(res.DTMF, "********") {
		t.Errorf("birth date: %+v", res)
	}
	// An account id with letters cannot be keyed: never verified.
	l = &line{}
	if res, _ := runKeys(t, "inbound-callback", inboundEnv(l, "account_number", true), "1#", "_", "_", "_", "_"); res.Verified {
		t.Errorf("account number MX-1: %+v", res)
	}
	a := queue.Account{ID: "0012-345", NationalID: "12.345.678-5", BirthDate: "1990-12-01"}
	for _, c := range []struct {
		method, want string
		ok           bool
	}{
		{"national_id_last4", "6785", true}, {"birth_date", "01121990", true}, {"account_number", "0012345", true}, {"pin", "", false},
	} {
		if got, ok := Answer(c.method, a); got != c.want || ok != c.ok {
			t.Errorf("Answer(%s) = %q %v, want %q %v", c.method, got, ok, c.want, c.ok)
		}
	}
	for _, id := range []string{"GOMA850315HDFRRN0X", "12.345.678-K", "12", ""} {
		if got, ok := Answer("national_id_last4", queue.Account{NationalID: id}); ok {
			t.Errorf("national id %q: answer %q, want none", id, got)
		}
	}
	// account_number: the keyed number is both the answer and the lookup.
	l = &line{}
	e := inboundEnv(l, "account_number", false)
	acct := queue.Account{ID: "0012-345", Balance: decimal.NewFromInt(10), Currency: "MXN", DueDate: "2026-12-01"}
	e.Verify.Lookup = func(_ context.Context, d string) []Candidate {
		if d == "0012345" {
			return []Candidate{{Account: acct, Campaign: "c1"}}
		}
		return nil
	}
	res, k := runKeys(t, "inbound-callback", e, "0012345#", "_", "_")
	if !res.Verified || res.Account.ID != "0012-345" || strings.Contains(strings.Join(k.heard, " "), "inbound-identify") {
		t.Fatalf("account number: %+v %v", res, k.heard)
	}
}

func TestInboundLockedCallerIsNotAsked(t *testing.T) {
	l := &line{locked: true}
	res, k := runKeys(t, "inbound-callback", inboundEnv(l, "", true), "4", "_")
	heard := strings.Join(k.heard, " ")
	if !res.Locked || res.Verified || !res.Callback || strings.Contains(heard, "verify-id-last4") || !strings.Contains(heard, "es/p/verify-locked") ||
		res.IVRPath() != "welcome>verify>cannot-verify>help>help-callback>callback-said>goodbye>end" {
		t.Fatalf("%+v %s %s", res, res.IVRPath(), heard)
	}
	// Locked after the second failure: the third try is not offered.
	l = &line{}
	e := inboundEnv(l, "", true)
	locked := e.Verify.Locked
	e.Verify.Locked = func(ctx context.Context) bool { return len(l.failures) >= 2 || locked(ctx) }
	res, _ = runKeys(t, "inbound-callback", e, "0000", "#", "0000", "#", "4821", "_", "_")
	if !res.Locked || res.Verified || len(l.failures) != 2 {
		t.Fatalf("locked mid-call: %+v %v", res, l.failures)
	}
}

func TestVerifyNodeNeedsTheInboundLine(t *testing.T) {
	s := shipped(t, "inbound-callback")
	_, err := Run(context.Background(), &keypad{answers: []string{"1234"}}, s, env("es"))
	if err == nil || !strings.Contains(err.Error(), "no identity check") {
		t.Fatalf("verify on an outbound call: %v", err)
	}
}

func TestCallerHangsUpMidScript(t *testing.T) {
	res, _ := runDebtor(t, "reminder-overdue", env("es"), "1")
	if res.End != "caller hung up" {
		t.Fatalf("%+v", res)
	}
	_ = say.Languages
}

func TestShippedScriptsHaveEveryPhraseRecorded(t *testing.T) {
	all, _ := script.Shipped()
	lib := prompts.NewLibrary("")
	for name, s := range all {
		for _, lang := range s.Languages {
			for _, p := range s.Prompts() {
				if !lib.Has(lang + "/" + p) {
					t.Errorf("%s: %s/%s is not recorded", name, lang, p)
				}
			}
		}
	}
}

// Outbound, whoever answers hears nothing about the account until they
// prove they are the debtor: a wrong party (2) hears thanks and the number
// to call; one who keys a wrong answer, or nothing, the limited message.
func TestOutboundReminderRightPartyCheck(t *testing.T) {
	for _, name := range []string{"reminder-overdue", "reminder-preventive"} {
		for _, c := range []struct {
			keys       []string
			path, last string
			wrong      bool
			failures   int
		}{
			{[]string{"2"}, "greeting>wrong-party>end", "es/p/rpc-wrong-party", true, 0},
			{[]string{"1", "1111", "2222"}, "greeting>verify>not-verified>limited>end", "es/p/limited", false, 2},
			{[]string{"_", "_"}, "greeting>limited>end", "es/p/limited", false, 0},
			{[]string{"1", "_", "_"}, "greeting>verify>not-verified>limited>end", "es/p/limited", false, 0},
		} {
			l := &line{}
			res, k := runKeys(t, name, outbound("es", l), c.keys...)
			if got := disclosed(k.heard); len(got) > 0 {
				t.Errorf("%s %v: disclosed %v", name, c.keys, got)
			}
			if res.IVRPath() != c.path || res.Verified || !res.Checked || res.WrongParty != c.wrong || len(l.failures) != c.failures {
				t.Errorf("%s %v: %s verified %v wrong party %v failures %v", name, c.keys, res.IVRPath(), res.Verified, res.WrongParty, l.failures)
			}
			heard := strings.Join(k.heard, " ")
			if !strings.Contains(heard, c.last+" es/w/cinco es/w/dos es/w/cinco es/w/cinco") || strings.Contains(heard, script.PhraseIdentify) {
				t.Errorf("%s %v: heard %s", name, c.keys, heard)
			}
			for _, f := range l.failures {
				if f != "national_id_last4 does not match the account called" {
					t.Errorf("failure reason %q", f)
				}
			}
		}
	}
}
