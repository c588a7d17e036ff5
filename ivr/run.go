// Package ivr runs reminder scripts on a call: it plays phrases and spoken
// values in the debtor's language, reads keys, records promises against the
// campaign's policy, and asks its environment to send links, opt a number
// out or find an agent.
package ivr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/prompts"
	"github.com/marcador/marcador/ivr/say"
	"github.com/marcador/marcador/ivr/script"
	"github.com/marcador/marcador/queue"
)

// Media is what a script needs of a call; *media.Session has it.
type Media interface {
	Play(ctx context.Context, bargeIn bool, prompts ...*media.Prompt) (media.PlayResult, error)
	CollectDigits(ctx context.Context, max int, terminator rune, firstTimeout, interDigit time.Duration) (string, error)
}

// Policy bounds the promises a script may accept.
type Policy struct {
	MaxDays    int             // latest due date, days from today (default 15)
	MinAmount  decimal.Decimal // smallest amount (default 0)
	MinPercent decimal.Decimal // smallest share of the balance, 0-100 (default 0)
}

func (p Policy) withDefaults() Policy {
	if p.MaxDays <= 0 {
		p.MaxDays = 15
	}
	return p
}

// Check says what puts a promise of amount due on due (a calendar date, as
// today is: midnight UTC of the debtor's day) outside the policy for an
// account owing balance: field "amount" or "date" and the reason, or ""
// when it is inside. The one rule for promises keyed in the IVR and those
// agents record.
func (p Policy) Check(balance, amount decimal.Decimal, due, today time.Time) (field, reason string) {
	p = p.withDefaults()
	least := p.MinAmount
	if pct := balance.Mul(p.MinPercent).Div(decimal.NewFromInt(100)); pct.GreaterThan(least) {
		least = pct
	}
	switch last := today.AddDate(0, 0, p.MaxDays); {
	case !amount.IsPositive():
		return "amount", "must be more than 0"
	case amount.LessThan(least):
		return "amount", fmt.Sprintf("%s is below the policy's least of %s", amount.StringFixed(2), least.StringFixed(2))
	case balance.IsPositive() && amount.GreaterThan(balance):
		return "amount", fmt.Sprintf("%s is more than the balance of %s", amount.StringFixed(2), balance.StringFixed(2))
	case due.Before(today):
		return "date", fmt.Sprintf("%s is in the past", due.Format(time.DateOnly))
	case due.After(last):
		return "date", fmt.Sprintf("%s is after the policy's latest date, %s (%d days)", due.Format(time.DateOnly), last.Format(time.DateOnly), p.MaxDays)
	}
	return "", ""
}

// Env is the call's context and the actions a script can ask for.
type Env struct {
	Lang           string // es or en (default es)
	Account        queue.Account
	Now            time.Time      // the call's start
	Zone           *time.Location // the debtor's zone, for "today"
	Policy         Policy
	CallbackNumber string
	Library        *prompts.Library
	// SendSMS sends a template; nil records the request only.
	SendSMS func(ctx context.Context, template, channel string) error
	// OptOut lists the number for channel (voice, sms, whatsapp, all).
	OptOut func(ctx context.Context, channel string) error
	// Transfer hands the call to an agent; false when nobody took it. Nil
	// means the campaign has no agents.
	Transfer func(ctx context.Context, queue string, timeout time.Duration) (bool, error)
	// Callback schedules a call back to the account's number on file (a
	// callback node); nil schedules nothing.
	Callback func(ctx context.Context) error
	// Verify is the inbound line's identity check (verify nodes); nil on
	// outbound calls, where a verify node is an error.
	Verify *Verification
}

// PromiseMade is a promise the debtor keyed.
type PromiseMade struct {
	Amount decimal.Decimal
	Date   time.Time // a calendar date in the debtor's zone
}

// Result is what happened on the call.
type Result struct {
	Path        []string
	DTMF        string
	Promise     *PromiseMade
	Rejected    int      // promises refused by the policy
	SMS         []string // templates sent or requested
	OptedOut    bool
	Transferred bool
	Callback    bool          // a call back was asked for
	Verified    bool          // an inbound caller proved who they are
	Locked      bool          // an inbound caller could not try: too many failures from their number or source
	Account     queue.Account // the account the script ended on (an inbound caller's once verified)
	End         string        // hangup, transferred, caller hung up, error, loop
}

// IVRPath is the path as stored in contact_attempts.ivr_path.
func (r Result) IVRPath() string { return strings.Join(r.Path, ">") }

const maxSteps = 200

// Run executes s until it hangs up, the call ends or ctx ends. The error is
// for a broken environment (a missing prompt); a caller who hangs up is
// End "caller hung up".
func Run(ctx context.Context, m Media, s *script.Script, env Env) (Result, error) {
	if env.Lang == "" {
		env.Lang = "es"
	}
	if env.Zone == nil {
		env.Zone = time.UTC
	}
	if env.Now.IsZero() {
		env.Now = time.Now()
	}
	env.Policy = env.Policy.withDefaults()
	r := &run{m: m, s: s, env: env, vars: map[string]string{}}
	r.res.Account = env.Account
	err := r.loop(ctx)
	// Keys left over from an inbound caller not yet verified may be part of
	// an answer.
	r.drop(env.Verify != nil && !r.verified)
	r.res.Account = r.env.Account
	return r.res, err
}

type run struct {
	m        Media
	s        *script.Script
	env      Env
	vars     map[string]string
	pending  []rune // keys pressed during a prompt (barge-in), not yet used
	verified bool
	res      Result
}

var errHungUp = errors.New("caller hung up")

func (r *run) loop(ctx context.Context) error {
	id := r.s.Start
	for step := 0; ; step++ {
		if step == maxSteps {
			r.res.End = "loop"
			return nil
		}
		n := r.s.Nodes[id]
		r.res.Path = append(r.res.Path, id)
		next, err := r.exec(ctx, n)
		if errors.Is(err, errHungUp) || errors.Is(err, media.ErrClosed) || ctx.Err() != nil {
			r.res.End = "caller hung up"
			return nil
		}
		if err != nil {
			r.res.End = "error"
			return fmt.Errorf("script %s node %s: %w", r.s.Name, id, err)
		}
		if next == "" {
			if r.res.End == "" {
				r.res.End = "hangup"
			}
			return nil
		}
		id = next
	}
}

func (r *run) exec(ctx context.Context, n *script.Node) (string, error) {
	for k, v := range n.Set {
		r.vars[k] = r.value(v)
	}
	switch {
	case len(n.Play) > 0:
		return n.Next, r.play(ctx, n.Play)
	case n.Menu != nil:
		return r.menu(ctx, n.Menu)
	case n.Collect != nil:
		return r.collect(ctx, n.Collect)
	case n.Promise != nil:
		return r.promise(n.Promise)
	case n.SMS != nil:
		ch := n.SMS.Channel
		if ch == "" {
			ch = "sms"
		}
		r.res.SMS = append(r.res.SMS, n.SMS.Template)
		if r.env.SendSMS != nil {
			if err := r.env.SendSMS(ctx, n.SMS.Template, ch); err != nil {
				return "", fmt.Errorf("sms %s: %w", n.SMS.Template, err)
			}
		}
		return n.SMS.Next, nil
	case n.Transfer != nil:
		if r.env.Transfer != nil {
			ok, err := r.env.Transfer(ctx, n.Transfer.Queue, n.Transfer.Timeout)
			if err != nil {
				return "", err
			}
			if ok {
				r.res.Transferred, r.res.End = true, "transferred"
				return "", nil
			}
		}
		return n.Transfer.Fallback, nil
	case n.Callback != nil:
		if r.env.Callback != nil {
			if err := r.env.Callback(ctx); err != nil {
				return "", fmt.Errorf("callback: %w", err)
			}
		}
		r.res.Callback = true
		return n.Callback.Next, nil
	case n.Verify != nil:
		return r.verify(ctx, n.Verify)
	case n.OptOut != nil:
		ch := n.OptOut.Channel
		if ch == "" {
			ch = "voice"
		}
		if r.env.OptOut != nil {
			if err := r.env.OptOut(ctx, ch); err != nil {
				return "", fmt.Errorf("optout: %w", err)
			}
		}
		r.res.OptedOut = true
		return n.OptOut.Next, nil
	case n.Condition != nil:
		if r.test(n.Condition) {
			return n.Condition.Then, nil
		}
		return n.Condition.Else, nil
	case n.Goto != "":
		return n.Goto, nil
	case n.Hangup:
		return "", nil
	}
	return n.Next, nil // a set-only node
}

// value resolves a field, a variable or a literal to text.
func (r *run) value(v string) string {
	a := r.env.Account
	switch v {
	case "balance":
		return a.Balance.StringFixed(2)
	case "due_date":
		return a.DueDate
	case "days_past_due":
		return strconv.Itoa(a.DaysPastDue)
	case "segment":
		return a.Segment
	case "name":
		return a.Name
	case "currency":
		return a.Currency
	case "account_id":
		return a.ID
	case "callback_number":
		return r.env.CallbackNumber
	case "today":
		return r.env.Now.In(r.env.Zone).Format(time.DateOnly)
	}
	if x, ok := r.vars[v]; ok {
		return x
	}
	return v
}

func (r *run) prompts(items []script.Item) ([]*media.Prompt, error) {
	lib, lang := r.env.Library, r.env.Lang
	var out []*media.Prompt
	for _, it := range items {
		if it.Prompt != "" {
			p, err := lib.Get(lang + "/" + it.Prompt)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			continue
		}
		words, err := r.say(it)
		if err != nil {
			return nil, err
		}
		ps, err := lib.Words(lang, words)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

func (r *run) say(it script.Item) ([]string, error) {
	v := r.value(it.Value)
	lang := r.env.Lang
	switch it.Say {
	case "amount":
		d, err := decimal.NewFromString(v)
		if err != nil {
			return nil, fmt.Errorf("say amount %s: %q is not an amount", it.Value, v)
		}
		return say.Amount(lang, d, r.env.Account.Currency)
	case "date":
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return nil, fmt.Errorf("say date %s: %q is not a date", it.Value, v)
		}
		return say.Date(lang, t)
	case "number":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("say number %s: %q is not a whole number", it.Value, v)
		}
		return say.Number(lang, n)
	default:
		return say.Digits(lang, v)
	}
}

// play plays items with barge-in: a key stops it and waits for the next
// menu or collect.
func (r *run) play(ctx context.Context, items []script.Item) error {
	ps, err := r.prompts(items)
	if err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	pr, err := r.m.Play(ctx, true, ps...)
	if err != nil {
		return errHungUp
	}
	if pr.Interrupted {
		r.pending = append(r.pending, pr.Digit)
	}
	return nil
}

// key records keys in the attempt's dtmf as they are used; masked ones
// (an answer to a verify node) as *, so no secret reaches the attempt log.
func (r *run) key(d rune, mask bool) {
	if mask && d != '#' && d != '*' {
		d = '*'
	}
	r.res.DTMF += string(d)
}

// drop records and forgets the keys pressed ahead that nobody used.
func (r *run) drop(mask bool) {
	for _, d := range r.pending {
		r.key(d, mask)
	}
	r.pending = nil
}

// next1 returns one key: a pending one, or one read within timeout (0 = none).
func (r *run) next1(ctx context.Context, timeout time.Duration) (rune, error) {
	if len(r.pending) > 0 {
		d := r.pending[0]
		r.pending = r.pending[1:]
		r.key(d, false)
		return d, nil
	}
	s, err := r.m.CollectDigits(ctx, 1, 0, timeout, timeout)
	if err != nil {
		return 0, errHungUp
	}
	if s == "" {
		return 0, nil
	}
	d := rune(s[0])
	r.key(d, false)
	return d, nil
}

func (r *run) menu(ctx context.Context, m *script.Menu) (string, error) {
	timeout := m.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	for try := 0; try <= m.Retries; try++ {
		if len(r.pending) == 0 {
			if err := r.play(ctx, m.Prompt); err != nil {
				return "", err
			}
		}
		d, err := r.next1(ctx, timeout)
		if err != nil {
			return "", err
		}
		if d == 0 {
			if err := r.play(ctx, m.NoInput); err != nil {
				return "", err
			}
			continue
		}
		if to, ok := m.Options[string(d)]; ok {
			return to, nil
		}
		r.drop(false)
		if err := r.play(ctx, m.Invalid); err != nil {
			return "", err
		}
		r.drop(false) // keys pressed over "invalid option" are not an answer
	}
	return m.Fallback, nil
}

func (r *run) collect(ctx context.Context, c *script.Collect) (string, error) {
	term := '#'
	if c.Terminator == "*" {
		term = '*'
	}
	timeout, inter := c.Timeout, c.InterDigit
	if timeout == 0 {
		timeout = 6 * time.Second
	}
	if inter == 0 {
		inter = 3 * time.Second
	}
	for try := 0; try <= c.Retries; try++ {
		digits, err := r.digits(ctx, c.Prompt, c.Max, term, timeout, inter, false)
		if err != nil {
			return "", err
		}
		if len(digits) >= c.Min && len(digits) > 0 {
			r.vars[c.Var] = digits
			return c.Next, nil
		}
		if err := r.play(ctx, c.Invalid); err != nil {
			return "", err
		}
		r.drop(false)
	}
	return c.Fallback, nil
}

// digits plays prompt (unless keys pressed ahead are waiting) and reads up
// to max keys, stopping at term; keys after term that were pressed ahead
// are dropped.
func (r *run) digits(ctx context.Context, prompt []script.Item, max int, term rune, timeout, inter time.Duration, mask bool) (string, error) {
	if len(r.pending) == 0 {
		if err := r.play(ctx, prompt); err != nil {
			return "", err
		}
	}
	var got []rune
	ended := false
	for len(r.pending) > 0 && !ended && len(got) < max {
		d := r.pending[0]
		r.pending = r.pending[1:]
		r.key(d, mask)
		if d == term {
			ended = true
			continue
		}
		got = append(got, d)
	}
	if ended {
		r.drop(mask)
	}
	if !ended && len(got) < max {
		more, err := r.m.CollectDigits(ctx, max-len(got), term, timeout, inter)
		if err != nil {
			return "", errHungUp
		}
		for _, d := range more {
			r.key(d, mask)
		}
		got = append(got, []rune(more)...)
	}
	return string(got), nil
}

func (r *run) promise(p *script.Promise) (string, error) {
	bal := r.env.Account.Balance
	var amount decimal.Decimal
	if p.Amount == "balance" {
		amount = bal
	} else {
		v, err := decimal.NewFromString(r.vars[p.Amount])
		if err != nil {
			r.res.Rejected++
			return p.Rejected, nil
		}
		amount = v
	}
	today := r.env.Now.In(r.env.Zone)
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	var due time.Time
	dv := r.value(p.Date)
	if strings.HasPrefix(dv, "+") {
		n, _ := strconv.Atoi(dv[1:])
		due = today.AddDate(0, 0, n)
	} else {
		d, err := parseDDMM(dv, today)
		if err != nil {
			r.res.Rejected++
			return p.Rejected, nil
		}
		due = d
	}
	if field, _ := r.env.Policy.Check(bal, amount, due, today); field != "" {
		r.res.Rejected++
		return p.Rejected, nil
	}
	r.res.Promise = &PromiseMade{Amount: amount, Date: due}
	r.vars["promise.amount"] = amount.StringFixed(2)
	r.vars["promise.date"] = due.Format(time.DateOnly)
	return p.Next, nil
}

// parseDDMM reads a day and month keyed as four digits: the next such date
// from today (this year, or next year once it has passed).
func parseDDMM(s string, today time.Time) (time.Time, error) {
	if len(s) != 4 {
		return time.Time{}, fmt.Errorf("date %q: want DDMM", s)
	}
	d, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[2:])
	if err1 != nil || err2 != nil || m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, fmt.Errorf("date %q: want DDMM", s)
	}
	for _, y := range []int{today.Year(), today.Year() + 1} {
		t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		if t.Day() != d { // 3102 is not a date
			return time.Time{}, fmt.Errorf("date %q: no such day", s)
		}
		if !t.Before(today) {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("date %q: in the past", s)
}

func (r *run) test(c *script.Condition) bool {
	left, right := r.value(c.Field), c.Value
	if right == "none" {
		right = ""
	}
	lf, err1 := decimal.NewFromString(left)
	rf, err2 := decimal.NewFromString(right)
	if err1 == nil && err2 == nil {
		switch c.Op {
		case "==":
			return lf.Equal(rf)
		case "!=":
			return !lf.Equal(rf)
		case ">":
			return lf.GreaterThan(rf)
		case ">=":
			return lf.GreaterThanOrEqual(rf)
		case "<":
			return lf.LessThan(rf)
		case "<=":
			return lf.LessThanOrEqual(rf)
		}
	}
	switch c.Op {
	case "==":
		return left == right
	case "!=":
		return left != right
	}
	return false
}
