package ivr

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/say"
	"github.com/marcador/marcador/ivr/script"
)

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
