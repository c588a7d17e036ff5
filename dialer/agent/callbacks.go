package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A personal call back: the agent who agreed a call back with a debtor gets
// that call when it is answered, if ready on the node that places it (else
// any agent takes it). Pins live in the campaign's hash
// marcador:{C}:callbacks, account → "agent|until ms", and lapse at until.

func (k ckeys) callbacks() string { return k.p("callbacks") }

// PinCallback pins the account's next call in campaign to agent until
// until (the call back's time plus a margin).
func (p *Pool) PinCallback(ctx context.Context, campaign, account, agent string, until time.Time) error {
	for _, c := range []struct{ f, v string }{{"campaign", campaign}, {"agent", agent}} {
		if err := checkRef(c.f, c.v); err != nil {
			return err
		}
	}
	if account == "" || strings.ContainsAny(account, "\x00\r\n") {
		return &FieldError{Field: "account", Reason: "empty or with line breaks"}
	}
	if err := p.rdb.HSet(ctx, ck(campaign).callbacks(), account, agent+"|"+strconv.FormatInt(ms(until), 10)).Err(); err != nil {
		return fmt.Errorf("pin the call back of %s in %s to agent %s: %w", account, campaign, agent, err)
	}
	return nil
}

// ReserveFor reserves an agent for an answered call: the one pin names (a
// personal call back; "" for none) when it is ready and held by node, else
// the longest-idle ready agent; ok is false when neither is. An agent
// campaign's call and `marcador bench bridge` take their agent through
// here, after CallbackAgent.
func (p *Pool) ReserveFor(ctx context.Context, campaign, node, pin, call string) (Reservation, bool, error) {
	if pin != "" {
		if r, ok, err := p.ReserveAgent(ctx, campaign, node, pin, call); ok || err != nil {
			return r, ok, err
		}
	}
	return p.Reserve(ctx, campaign, node, call)
}

// CallbackAgent is the agent the account's call is pinned to now; ok is
// false when none is (a lapsed pin is dropped).
func (p *Pool) CallbackAgent(ctx context.Context, campaign, account string) (string, bool, error) {
	if err := checkRef("campaign", campaign); err != nil {
		return "", false, err
	}
	key := ck(campaign).callbacks()
	v, err := p.rdb.HGet(ctx, key, account).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("call back pin of %s in %s: %w", account, campaign, err)
	}
	agent, until, _ := strings.Cut(v, "|")
	u, _ := strconv.ParseInt(until, 10, 64)
	if u <= ms(p.now()) || checkRef("agent", agent) != nil {
		p.rdb.HDel(ctx, key, account)
		return "", false, nil
	}
	return agent, true, nil
}

// Unpin drops the account's pin (its call back was made).
func (p *Pool) Unpin(ctx context.Context, campaign, account string) error {
	if err := checkRef("campaign", campaign); err != nil {
		return err
	}
	if err := p.rdb.HDel(ctx, ck(campaign).callbacks(), account).Err(); err != nil {
		return fmt.Errorf("unpin the call back of %s in %s: %w", account, campaign, err)
	}
	return nil
}
