package sms

import (
	"context"
	"fmt"
	"time"

	"github.com/marcador/marcador/queue/compliance"
)

// deliver waits for the sender's rate and sends m, retrying throttling and
// server errors with exponential backoff. Before a retry that follows an
// ambiguous failure it looks for the message, so the debtor gets one text.
func (s *Sender) deliver(ctx context.Context, m Message) (Receipt, error) {
	start := time.Now()
	var last error
	for try := 1; try <= s.opt.Tries; try++ {
		wait, err := s.opt.Store.RateWait(ctx, s.opt.Provider.Sender(m.Channel), s.opt.Rate)
		if err != nil {
			return Receipt{}, err
		}
		if err := sleep(ctx, wait); err != nil {
			return Receipt{}, err
		}
		r, err := s.opt.Provider.Send(ctx, m)
		if err == nil {
			return r, nil
		}
		last = err
		pe, isProvider := ProviderError(err)
		if isProvider && !pe.Retryable() {
			return Receipt{}, err
		}
		if try == s.opt.Tries {
			break
		}
		backoff := s.opt.Backoff << (try - 1)
		s.log.Warn("sms: send failed, retrying", "to", m.To, "try", try, "backoff", backoff, "err", err)
		if err := sleep(ctx, backoff); err != nil {
			return Receipt{}, err
		}
		if !isProvider || pe.Ambiguous() {
			if r, found, ferr := s.opt.Provider.Find(ctx, m, start); ferr == nil && found {
				s.log.Info("sms: the failed request had created the message; not sending again", "to", m.To, "sid", r.SID)
				return r, nil
			} else if ferr != nil {
				s.log.Warn("sms: could not look for the message before retrying", "to", m.To, "err", ferr)
			}
		}
	}
	return Receipt{}, fmt.Errorf("gave up after %d tries: %w", s.opt.Tries, last)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// suppress lists number where a provider error code means it cannot or must
// not be texted.
func (s *Sender) suppress(ctx context.Context, number string, info ErrorInfo, code int) {
	if info.Suppress == "" || number == "" {
		return
	}
	e := compliance.DNCEntry{Phone: number, Channel: info.Suppress, Reason: fmt.Sprintf("twilio %d: %s", code, info.Text), Source: "twilio"}
	if err := s.opt.Gate.AddDNC(ctx, e); err != nil {
		s.log.Error("sms: number not suppressed", "phone", number, "code", code, "err", err)
		return
	}
	s.log.Info("sms: number suppressed", "phone", number, "channel", info.Suppress, "code", code)
}
