package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// moveScript moves an account that is not leased to the due-queue or to
// done at ARGV[3] with reason ARGV[4]; a leased one is left to its holder.
// Returns -1 when the account is unknown, 0 when leased, 1 when moved.
//
// KEYS: accounts leases due done reasons. ARGV: id to(due|done) at_ms reason.
var moveScript = redis.NewScript(`
local id = ARGV[1]
if redis.call('HEXISTS', KEYS[1], id) == 0 then return -1 end
if redis.call('ZSCORE', KEYS[2], id) then return 0 end
local at = tonumber(ARGV[3])
if ARGV[2] == 'due' then
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZADD', KEYS[3], at, id)
else
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZADD', KEYS[4], at, id)
end
redis.call('HSET', KEYS[5], id, ARGV[3] .. ' ' .. ARGV[4])
return 1
`)

func (s *Store) move(ctx context.Context, campaign, account, to string, at time.Time, reason string) error {
	kk := k(campaign)
	n, err := moveScript.Run(ctx, s.rdb, []string{kk.accounts(), kk.leases(), kk.due(), kk.done(), kk.reasons()},
		account, to, ms(at), reason).Int()
	if err != nil {
		return fmt.Errorf("move %s in %s to %s: %w", account, campaign, to, err)
	}
	if n < 0 {
		return fmt.Errorf("move %s in %s to %s: %w", account, campaign, to, ErrNotFound)
	}
	return nil
}

// Requeue puts an account back into its campaign's due-queue at at (a
// broken promise is requeued in the past so it is claimed first). An
// account being dialled now is left to the holder of its lease.
func (s *Store) Requeue(ctx context.Context, campaign, account string, at time.Time, reason string) error {
	return s.move(ctx, campaign, account, "due", at, reason)
}

// Finish takes an account out of its campaign's due-queue and marks it done
// (a promise or an opt-out made on an inbound call ends the outbound work).
// An account being dialled now is left to the holder of its lease.
func (s *Store) Finish(ctx context.Context, campaign, account string, at time.Time, reason string) error {
	return s.move(ctx, campaign, account, "done", at, reason)
}
