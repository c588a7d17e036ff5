package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// What the callback line keeps in Redis besides the lookup index: failed
// identifications per calling number and per SIP source, so the limits hold
// across calls and nodes, and call-back requests.

// IdentityLimits bound failed identifications on the callback line: within
// Window, at most PerNumber failures from one calling number and PerSource
// from one source address. A negative limit is none.
type IdentityLimits struct {
	PerNumber int
	PerSource int
	Window    time.Duration
}

// Default identity limits.
const (
	DefaultFailuresPerNumber = 5
	DefaultFailuresPerSource = 20
	DefaultFailureWindow     = time.Hour
)

// WithDefaults fills zero values with the defaults.
func (l IdentityLimits) WithDefaults() IdentityLimits {
	if l.PerNumber == 0 {
		l.PerNumber = DefaultFailuresPerNumber
	}
	if l.PerSource == 0 {
		l.PerSource = DefaultFailuresPerSource
	}
	if l.Window <= 0 {
		l.Window = DefaultFailureWindow
	}
	return l
}

// idFailKey is a sorted set of failures (member: the failure's attempt id,
// score: ms) for kind "number" or "source"; it expires a window after the
// last failure.
func idFailKey(kind, v string) string { return "marcador:idfail:{" + kind + ":" + v + "}" }

// idFailScript forgets failures older than the window, adds ARGV[3] (if
// any) and returns how many are left.
//
// KEYS: the set. ARGV: now_ms window_ms member.
var idFailScript = redis.NewScript(`
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
end
return redis.call('ZCARD', KEYS[1])
`)

// IdentityLocked says which limit stops a caller from trying to identify:
// "number", "source" or "" for none.
func (s *Store) IdentityLocked(ctx context.Context, number, source string, lim IdentityLimits, now time.Time) (string, error) {
	lim = lim.WithDefaults()
	for _, c := range []struct {
		kind, v string
		max     int
	}{{"number", number, lim.PerNumber}, {"source", source, lim.PerSource}} {
		if c.max < 0 || c.v == "" {
			continue
		}
		n, err := idFailScript.Run(ctx, s.rdb, []string{idFailKey(c.kind, c.v)}, ms(now), lim.Window.Milliseconds(), "").Int()
		if err != nil {
			return "", fmt.Errorf("identity failures of %s %s: %w", c.kind, c.v, err)
		}
		if n >= c.max {
			return c.kind, nil
		}
	}
	return "", nil
}

// IdentityFailed counts one failed identification (id: its attempt id) for
// the calling number and the source.
func (s *Store) IdentityFailed(ctx context.Context, number, source, id string, lim IdentityLimits, now time.Time) error {
	lim = lim.WithDefaults()
	for _, c := range []struct{ kind, v string }{{"number", number}, {"source", source}} {
		if c.v == "" {
			continue
		}
		// One key per command: number and source are in different slots.
		if err := idFailScript.Run(ctx, s.rdb, []string{idFailKey(c.kind, c.v)}, ms(now), lim.Window.Milliseconds(), id).Err(); err != nil {
			return fmt.Errorf("count identity failure of %s %s: %w", c.kind, c.v, err)
		}
	}
	return nil
}

// callBackScript moves a queued account's next call forward to ARGV[2]
// (never later) and notes why; an account that is done, leased or unknown
// is left alone. Returns 1 when the account is queued.
//
// KEYS: due reasons. ARGV: id at_ms reason.
var callBackScript = redis.NewScript(`
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return 0 end
if tonumber(s) > tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
end
return 1
`)

// CallBack brings a queued account's next call forward to at, for a debtor
// who asked to be called back. A finished account is not reopened (a
// caller who has not proved who they are may ask), and one being dialled
// now is left to its call; false says nothing was queued.
func (s *Store) CallBack(ctx context.Context, campaign, account string, at time.Time, reason string) (bool, error) {
	kk := k(campaign)
	n, err := callBackScript.Run(ctx, s.rdb, []string{kk.due(), kk.reasons()}, account, ms(at), reason).Int()
	if err != nil {
		return false, fmt.Errorf("call back %s in %s: %w", account, campaign, err)
	}
	return n == 1, nil
}

// DueAt is when a queued account is next due; false when it is not queued.
func (s *Store) DueAt(ctx context.Context, campaign, account string) (time.Time, bool, error) {
	score, err := s.rdb.ZScore(ctx, k(campaign).due(), account).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("due time of %s in %s: %w", account, campaign, err)
	}
	return time.UnixMilli(int64(score)), true, nil
}
