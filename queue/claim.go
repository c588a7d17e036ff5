package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// loadScript upserts accounts. A new account is queued at ARGV[1]; an existing
// one has its data replaced and keeps its place (queued, leased or done), so
// uploading the same file twice changes nothing.
//
// KEYS: accounts due leases done. ARGV: at_ms, then id, json pairs.
var loadScript = redis.NewScript(`
local at = tonumber(ARGV[1])
local inserted, updated = 0, 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HSET', KEYS[1], id, ARGV[i+1]) == 1 then
    inserted = inserted + 1
  else
    updated = updated + 1
  end
  if not redis.call('ZSCORE', KEYS[2], id) and not redis.call('ZSCORE', KEYS[3], id)
     and not redis.call('ZSCORE', KEYS[4], id) then
    redis.call('ZADD', KEYS[2], at, id)
  end
end
return {inserted, updated}
`)

// claimScript first returns expired leases to the queue, then leases up to n
// contacts due by now, earliest first.
//
// KEYS: due leases tokens accounts seq. ARGV: now_ms n lease_ms node.
var claimScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZADD', KEYS[1], now, id)
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local token = ARGV[4] .. ':' .. redis.call('INCR', KEYS[5])
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
  redis.call('HSET', KEYS[3], id, token)
  out[#out+1] = id
  out[#out+1] = token
  out[#out+1] = redis.call('HGET', KEYS[4], id) or ''
end
return {#expired, out}
`)

// finishScript ends a lease held by token: ARGV[3] "done" moves the contact
// to done at ARGV[4]; "due" queues it again at ARGV[4] with reason ARGV[5];
// "extend" pushes the lease expiry to ARGV[4]. Returns 0 if the lease is lost.
//
// KEYS: leases tokens done due reasons. ARGV: id token op at_ms reason.
var finishScript = redis.NewScript(`
local id = ARGV[1]
if redis.call('HGET', KEYS[2], id) ~= ARGV[2] then return 0 end
local op, at = ARGV[3], tonumber(ARGV[4])
if op == 'extend' then
  redis.call('ZADD', KEYS[1], at, id)
  return 1
end
redis.call('ZREM', KEYS[1], id)
redis.call('HDEL', KEYS[2], id)
if op == 'done' then
  redis.call('ZADD', KEYS[3], at, id)
else
  redis.call('ZADD', KEYS[4], at, id)
  redis.call('HSET', KEYS[5], id, ARGV[5])
end
return 1
`)

// LoadResult counts what Load did.
type LoadResult struct {
	Inserted int `json:"inserted"`
	Updated  int `json:"updated"`
}

// loadChunk bounds one script call so Redis is never blocked for long.
const loadChunk = 500

// Load upserts accounts into a campaign by account id; new ones become due at
// at. Accounts must be valid (see Account.Validate).
func (s *Store) Load(ctx context.Context, campaign string, accts []Account, at time.Time) (LoadResult, error) {
	var res LoadResult
	if err := CheckID(campaign); err != nil {
		return res, err
	}
	kk := k(campaign)
	keys := []string{kk.accounts(), kk.due(), kk.leases(), kk.done()}
	for start := 0; start < len(accts); start += loadChunk {
		chunk := accts[start:min(start+loadChunk, len(accts))]
		args := make([]any, 0, 1+2*len(chunk))
		args = append(args, ms(at))
		for i := range chunk {
			if err := chunk[i].Validate(); err != nil {
				return res, fmt.Errorf("load into %s: %w", campaign, err)
			}
			b, err := json.Marshal(&chunk[i])
			if err != nil {
				return res, fmt.Errorf("load into %s: encode account %s: %w", campaign, chunk[i].ID, err)
			}
			args = append(args, chunk[i].ID, b)
		}
		v, err := loadScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
		if err != nil {
			return res, fmt.Errorf("load into %s (accounts %d-%d): %w", campaign, start+1, start+len(chunk), err)
		}
		res.Inserted += int(v[0])
		res.Updated += int(v[1])
		if err := s.index(ctx, campaign, chunk); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Lease is a claimed contact. The holder must Complete, Reschedule or Extend
// it before Expires.
type Lease struct {
	Campaign string
	Account  Account
	Token    string
	Expires  time.Time
}

// Claim atomically leases up to n contacts of campaign that are due by now.
// Leases that expired (their node died or stalled) are returned to the queue
// first, so they are claimable in the same call.
func (s *Store) Claim(ctx context.Context, campaign string, n int, now time.Time) ([]Lease, error) {
	if err := CheckID(campaign); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	kk := k(campaign)
	raw, err := claimScript.Run(ctx, s.rdb,
		[]string{kk.due(), kk.leases(), kk.tokens(), kk.accounts(), kk.seq()},
		ms(now), n, s.ttl.Milliseconds(), s.node).Slice()
	if err != nil {
		return nil, fmt.Errorf("claim %d from %s: %w", n, campaign, err)
	}
	if exp := raw[0].(int64); exp > 0 {
		s.log.Warn("queue: expired leases returned to the queue", "campaign", campaign, "count", exp)
	}
	items := raw[1].([]any)
	leases := make([]Lease, 0, len(items)/3)
	expires := now.Add(s.ttl)
	for i := 0; i+2 < len(items); i += 3 {
		id, token, data := items[i].(string), items[i+1].(string), items[i+2].(string)
		l := Lease{Campaign: campaign, Token: token, Expires: expires}
		if err := json.Unmarshal([]byte(data), &l.Account); err != nil {
			// Data cannot be read: park the contact instead of looping on it.
			s.log.Error("queue: claimed contact has unreadable data; parked as done", "campaign", campaign, "account", id, "err", err)
			l.Account.ID = id
			_ = s.Complete(ctx, l, now)
			continue
		}
		leases = append(leases, l)
	}
	return leases, nil
}

func (s *Store) finish(ctx context.Context, l Lease, op string, at time.Time, reason string) error {
	kk := k(l.Campaign)
	ok, err := finishScript.Run(ctx, s.rdb,
		[]string{kk.leases(), kk.tokens(), kk.done(), kk.due(), kk.reasons()},
		l.Account.ID, l.Token, op, ms(at), reason).Int()
	if err != nil {
		return fmt.Errorf("%s account %s in %s: %w", op, l.Account.ID, l.Campaign, err)
	}
	if ok == 0 {
		return fmt.Errorf("%s account %s in %s (token %s): %w", op, l.Account.ID, l.Campaign, l.Token, ErrLeaseLost)
	}
	return nil
}

// Complete marks a leased contact done for this campaign.
func (s *Store) Complete(ctx context.Context, l Lease, now time.Time) error {
	return s.finish(ctx, l, "done", now, "")
}

// Reschedule returns a leased contact to the queue, eligible again at at.
func (s *Store) Reschedule(ctx context.Context, l Lease, at time.Time, reason string) error {
	reason = strconv.FormatInt(ms(at), 10) + " " + reason
	return s.finish(ctx, l, "due", at, reason)
}

// Extend keeps a lease alive for another lease TTL from now (long calls).
func (s *Store) Extend(ctx context.Context, l *Lease, now time.Time) error {
	exp := now.Add(s.ttl)
	if err := s.finish(ctx, *l, "extend", exp, ""); err != nil {
		return err
	}
	l.Expires = exp
	return nil
}
