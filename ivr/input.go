package ivr

import (
	"cmp"
	"context"
	"time"

	"github.com/marcador/marcador/ivr/script"
)

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
	timeout := cmp.Or(m.Timeout, 5*time.Second)
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
	timeout, inter := cmp.Or(c.Timeout, 6*time.Second), cmp.Or(c.InterDigit, 3*time.Second)
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
