package registrar

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lockout bounds failed digest attempts. Within Window, PerSource failures
// from one address or PerUser failures for one SIP user lock that address
// or user out for Duration: every REGISTER it sends then gets 403, whatever
// its credentials. The counts live in Redis, so they hold across nodes. A
// failure is a response that does not match the stored HA1 (unknown users
// included); a stale nonce, a replay or a REGISTER without credentials is
// not one.
//
// A per-user limit lets anyone who knows an agent's SIP user lock that
// agent out for Duration by sending wrong passwords; that is the price of
// stopping a distributed guess at one password. Keep Duration short.
type Lockout struct {
	// PerSource failures from one IP address; default 20 (a call centre
	// behind one NAT address shares it; -1: no limit).
	PerSource int
	// PerUser failures for one SIP user; default 5 (-1: no limit).
	PerUser int
	// Window the failures are counted in, from the first; default 1m.
	Window time.Duration
	// Duration of a lockout; default 5m.
	Duration time.Duration
	// Exempt are sources never counted or locked: a SIP load balancer or
	// proxy every REGISTER arrives through (its users are still counted).
	Exempt []netip.Prefix
}

// Default lockout.
const (
	DefaultFailuresPerSource = 20
	DefaultFailuresPerUser   = 5
	DefaultFailureWindow     = time.Minute
	DefaultLockout           = 5 * time.Minute
)

func (l Lockout) withDefaults() Lockout {
	if l.PerSource == 0 {
		l.PerSource = DefaultFailuresPerSource
	}
	if l.PerUser == 0 {
		l.PerUser = DefaultFailuresPerUser
	}
	if l.Window <= 0 {
		l.Window = DefaultFailureWindow
	}
	if l.Duration <= 0 {
		l.Duration = DefaultLockout
	}
	return l
}

// failKey counts failures of one source ("source", IP) or user ("user",
// SIP user): a hash of n (failures in the window), since (the window's
// start, ms) and until (the lockout's end, ms).
func failKey(kind, v string) string { return "marcador:registrar:fail:{" + kind + ":" + v + "}" }

// failScript counts one failure at ARGV[1]. Returns {0, n} while under the
// limit, {1, until} when this failure locks the subject out (only one
// caller, on any node, gets it: that one logs), {2, until} when already
// locked.
//
// KEYS: the subject's key. ARGV: now_ms window_ms limit lockout_ms.
var failScript = redis.NewScript(`
local now, window, limit, lockout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'n', 'since', 'until')
local n, since, untl = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0
if untl > now then return {2, untl} end
if since + window <= now then n = 0; since = now end
n = n + 1
if n >= limit then
  untl = now + lockout
  redis.call('HSET', KEYS[1], 'n', 0, 'since', now, 'until', untl)
  redis.call('PEXPIRE', KEYS[1], lockout + window)
  return {1, untl}
end
redis.call('HSET', KEYS[1], 'n', n, 'since', since)
redis.call('PEXPIRE', KEYS[1], window + lockout)
return {0, n}
`)

// subject is what failures are counted against.
type subject struct {
	kind, v string
	limit   int
}

func (r *Registrar) subjects(src netip.Addr, user string) []subject {
	var out []subject
	l := r.opt.Lockout
	if src.IsValid() && l.PerSource > 0 && !r.exempt(src) {
		out = append(out, subject{"source", src.String(), l.PerSource})
	}
	if user != "" && l.PerUser > 0 {
		out = append(out, subject{"user", user, l.PerUser})
	}
	return out
}

func (r *Registrar) exempt(src netip.Addr) bool {
	for _, p := range r.opt.Lockout.Exempt {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// lockedOut says which subject ("source" or "user") is locked out now, if
// any.
func (r *Registrar) lockedOut(ctx context.Context, src netip.Addr, user string, now time.Time) (string, error) {
	subs := r.subjects(src, user)
	if len(subs) == 0 {
		return "", nil
	}
	cmds := make([]*redis.StringCmd, len(subs))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range subs {
			cmds[i] = p.HGet(ctx, failKey(s.kind, s.v), "until")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("lockout of %s/%s: %w", src, user, err)
	}
	for i, s := range subs {
		until, err := cmds[i].Int64()
		if err == nil && until > now.UnixMilli() {
			return s.kind, nil
		}
	}
	return "", nil
}

// failed counts one failed attempt against the source and the user. It
// returns the subject it locks out now, if any, and logs that lockout once.
func (r *Registrar) failed(ctx context.Context, src netip.Addr, user string, now time.Time) (string, error) {
	l := r.opt.Lockout
	locked := ""
	for _, s := range r.subjects(src, user) {
		// One key per script: source and user are in different slots.
		res, err := failScript.Run(ctx, r.rdb, []string{failKey(s.kind, s.v)},
			now.UnixMilli(), l.Window.Milliseconds(), s.limit, l.Duration.Milliseconds()).Int64Slice()
		if err != nil {
			return "", fmt.Errorf("count failure of %s %s: %w", s.kind, s.v, err)
		}
		if len(res) != 2 {
			return "", fmt.Errorf("count failure of %s %s: script returned %v", s.kind, s.v, res)
		}
		switch res[0] {
		case 1:
			r.log.Warn("sip registrar: locked out", "by", s.kind, "src", src, "user", user, "failures", s.limit,
				"window", l.Window.String(), "until", time.UnixMilli(res[1]).UTC())
			locked = s.kind
		case 2:
			locked = s.kind
		}
	}
	return locked, nil
}

// succeeded forgets the user's failures (not the source's: one agent's
// success says nothing of the other phones behind its address).
func (r *Registrar) succeeded(ctx context.Context, user string) error {
	if r.opt.Lockout.PerUser <= 0 {
		return nil
	}
	// The count only: a lockout another node set meanwhile stands.
	if err := r.rdb.HDel(ctx, failKey("user", user), "n", "since").Err(); err != nil {
		return fmt.Errorf("reset failures of user %s: %w", user, err)
	}
	return nil
}
