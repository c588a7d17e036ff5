package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A personal call back: the agent who agreed a call back with a debtor gets
// that call when it is answered, if ready on the node that places it (else
// any agent takes it). Pins live in the campaign's hash
// marcador:{C}:callbacks, account → "agent|until ms", and lapse at until;
// ReserveFor reads, honours and drops them in its one script call.

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
