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
		Account: queue.Account{ID: "MX-1", Name: "Ana", Balance: decimal.RequireFromString("1250.50"), Currency: "MXN",
			DueDate: "2026-11-10", DaysPastDue: 14},
		Policy: Policy{MaxDays: 15, MinPercent: decimal.NewFromInt(10)}}
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
	res, k := runKeys(t, "reminder-overdue", env("es"), "1", "1", "2")
	if res.Promise == nil || !res.Promise.Amount.Equal(decimal.RequireFromString("1250.50")) || res.Promise.Date.Format(time.DateOnly) != "2026-12-01" {
		t.Fatalf("promise %+v (%s)", res.Promise, res.IVRPath())
	}
	if res.IVRPath() != "intro>menu>promise-how>full-balance>when>in-a-week>record>promise-ok>goodbye>end" || res.DTMF != "112" {
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
	res, _ := runKeys(t, "reminder-overdue", env("en"), "1", "2", "500#", "3", "0812")
	if res.Promise == nil || res.Promise.Amount.String() != "500" || res.Promise.Date.Format(time.DateOnly) != "2026-12-08" {
		t.Fatalf("promise %+v (%s)", res.Promise, res.IVRPath())
	}
}

func TestPromiseOutsidePolicyIsRejected(t *testing.T) {
	// 31 December is more than 15 days ahead; 50 is under 10 % of the balance.
	res, _ := runKeys(t, "reminder-overdue", env("es"), "1", "2", "50#", "1", "_", "_")
	if res.Promise != nil || res.Rejected != 1 {
		t.Fatalf("small amount: %+v rejected %d (%s)", res.Promise, res.Rejected, res.IVRPath())
	}
	// Rejected, the promise starts over: full balance, in a week.
	res, _ = runKeys(t, "reminder-overdue", env("es"), "1", "1", "3", "3112", "1", "2")
	if res.Promise == nil || res.Rejected != 1 || !strings.Contains(res.IVRPath(), "promise-rejected>promise-how>full-balance>when>in-a-week") {
		t.Fatalf("late date: %+v rejected %d (%s)", res.Promise, res.Rejected, res.IVRPath())
	}
	res, _ = runKeys(t, "reminder-overdue", env("es"), "1", "1", "3", "3102", "_", "_")
	if res.Promise != nil || res.Rejected != 1 {
		t.Fatalf("31 February: %+v", res)
	}
}

func TestTimeoutsAndInvalidKeys(t *testing.T) {
	res, k := runKeys(t, "reminder-overdue", env("es"), "_", "_", "_")
	if res.IVRPath() != "intro>menu>goodbye>end" || res.End != "hangup" {
		t.Fatalf("silence: %s %s", res.IVRPath(), res.End)
	}
	if n := strings.Count(strings.Join(k.heard, " "), "es/p/no-input"); n != 3 {
		t.Fatalf("no-input played %d times", n)
	}
	res, k = runKeys(t, "reminder-overdue", env("es"), "7", "9")
	if !res.OptedOut || !strings.Contains(strings.Join(k.heard, " "), "es/p/invalid") {
		t.Fatalf("invalid then 9: %+v", res)
	}
}

func TestOptOutPaylinkAndTransferFallback(t *testing.T) {
	e := env("es")
	var opted, sent string
	e.OptOut = func(_ context.Context, ch string) error { opted = ch; return nil }
	e.SendSMS = func(_ context.Context, tpl, ch string) error { sent = tpl + "/" + ch; return nil }
	if res, _ := runKeys(t, "reminder-overdue", e, "9"); !res.OptedOut || opted != "voice" {
		t.Fatalf("optout %+v %q", res, opted)
	}
	if res, _ := runKeys(t, "reminder-overdue", e, "2"); len(res.SMS) != 1 || sent != "payment-link/sms" {
		t.Fatalf("paylink %+v %q", res, sent)
	}
	res, _ := runKeys(t, "reminder-overdue", e, "3")
	if res.Transferred || !strings.Contains(res.IVRPath(), "transfer>no-agent>goodbye") {
		t.Fatalf("no agents: %s", res.IVRPath())
	}
	e.Transfer = func(context.Context, string, time.Duration) (bool, error) { return false, nil }
	if res, _ := runKeys(t, "reminder-overdue", e, "3"); !strings.Contains(res.IVRPath(), "no-agent") {
		t.Fatalf("nobody took it: %s", res.IVRPath())
	}
	e.Transfer = func(context.Context, string, time.Duration) (bool, error) { return true, nil }
	if res, _ := runKeys(t, "reminder-overdue", e, "3"); !res.Transferred || res.End != "transferred" {
		t.Fatalf("agent took it: %+v", res)
	}
}

func TestPreventiveAbandonAndLimitedMessages(t *testing.T) {
	_, k := runKeys(t, "reminder-preventive", env("en"), "_", "_")
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

func TestInboundIdentifiesByKeyedNumber(t *testing.T) {
	e := env("es")
	known := e.Account
	e.Account = queue.Account{}
	e.Identify = func(_ context.Context, digits string) (queue.Account, Policy, bool) {
		return known, Policy{}, digits == "123456"
	}
	res, _ := runKeys(t, "inbound-callback", e, "999#", "123456#", "9")
	if !res.Identified || res.Account.ID != "MX-1" || !res.OptedOut || !strings.Contains(res.IVRPath(), "identify>balance") || res.DTMF != "9991234569" {
		t.Fatalf("%+v %s", res, res.IVRPath())
	}
	// A caller recognised by caller id skips the question.
	e.Account = known
	res, _ = runKeys(t, "inbound-callback", e, "_", "_", "_")
	if strings.Contains(res.IVRPath(), "identify") {
		t.Fatalf("known caller asked: %s", res.IVRPath())
	}
}

func TestCallerHangsUpMidScript(t *testing.T) {
	res, _ := runKeys(t, "reminder-overdue", env("es"), "1")
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
