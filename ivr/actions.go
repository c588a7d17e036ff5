package ivr

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/ivr/script"
)

// The actions that reach past the call: texts, agents, callbacks, opt-outs
// and promises, each through its Env hook (none set: recorded only).

func (r *run) sms(ctx context.Context, m *script.SMS) (string, error) {
	ch := m.Channel
	if ch == "" {
		ch = "sms"
	}
	r.res.SMS = append(r.res.SMS, m.Template)
	if r.env.SendSMS != nil {
		if err := r.env.SendSMS(ctx, m.Template, ch); err != nil {
			return "", fmt.Errorf("sms %s: %w", m.Template, err)
		}
	}
	return m.Next, nil
}

// transfer ends the script when an agent takes the call; else its fallback.
func (r *run) transfer(ctx context.Context, t *script.Transfer) (string, error) {
	if r.env.Transfer != nil {
		ok, err := r.env.Transfer(ctx, t.Queue, t.Timeout)
		if err != nil {
			return "", err
		}
		if ok {
			r.res.Transferred, r.res.End = true, "transferred"
			return "", nil
		}
	}
	return t.Fallback, nil
}

func (r *run) callback(ctx context.Context, c *script.Callback) (string, error) {
	if r.env.Callback != nil {
		if err := r.env.Callback(ctx); err != nil {
			return "", fmt.Errorf("callback: %w", err)
		}
	}
	r.res.Callback = true
	return c.Next, nil
}

func (r *run) optOut(ctx context.Context, o *script.OptOut) (string, error) {
	ch := o.Channel
	if ch == "" {
		ch = "voice"
	}
	if r.env.OptOut != nil {
		if err := r.env.OptOut(ctx, ch); err != nil {
			return "", fmt.Errorf("optout: %w", err)
		}
	}
	r.res.OptedOut = true
	return o.Next, nil
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
