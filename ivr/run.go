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
	// Verify is the identity check of verify nodes: on the inbound line,
	// the accounts holding the calling number or a keyed one; on an
	// outbound call, the account called (no Lookup). Nil where the script
	// has no verify node (one is an error then).
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
	Verified    bool          // the caller, or whoever answered, proved who they are
	Checked     bool          // the call had an identity check (Env.Verify): not verified means not the debtor as far as we know
	WrongParty  bool          // whoever answered said they are not the debtor (a node marked wrong_party)
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
	r.res.Account, r.res.Checked = env.Account, env.Verify != nil
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
		r.res.WrongParty = r.res.WrongParty || n.WrongParty
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
		return r.sms(ctx, n.SMS)
	case n.Transfer != nil:
		return r.transfer(ctx, n.Transfer)
	case n.Callback != nil:
		return r.callback(ctx, n.Callback)
	case n.Verify != nil:
		return r.verify(ctx, n.Verify)
	case n.OptOut != nil:
		return r.optOut(ctx, n.OptOut)
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
