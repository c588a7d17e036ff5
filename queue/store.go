// Package queue keeps the campaigns in Redis: campaign definitions, each
// campaign's accounts and due-queue, and the leases by which a node claims
// contacts to work on. (Features keep their own state beside their code:
// texting's is sms.Store.)
//
// Every key of one campaign carries the hash tag {campaign-id}, so each Lua
// script touches a single hash slot and Redis Cluster works. A claimed contact
// is leased, not removed: if the node holding it dies, the lease expires and
// the next Claim returns it to the queue, so nothing is lost and, as long as
// the holder completes before its lease ends, nobody is dialled twice.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned for a campaign or account that does not exist.
var ErrNotFound = errors.New("not found")

// ErrLeaseLost is returned when a lease expired and was taken back (the
// contact went back to the queue, maybe to another node).
var ErrLeaseLost = errors.New("lease lost")

// Options configures a Store.
type Options struct {
	// Client is a go-redis UniversalClient (single node, Sentinel or Cluster). Required.
	Client redis.UniversalClient
	// NodeID goes into lease tokens so a lease names its holder. Default "node".
	NodeID string
	// LeaseTTL is how long a claimed contact stays leased without Extend or
	// Complete. Default 2 minutes.
	LeaseTTL time.Duration
	Logger   *slog.Logger
}

// Store is safe for concurrent use.
type Store struct {
	rdb  redis.UniversalClient
	node string
	ttl  time.Duration
	log  *slog.Logger
}

// New returns a Store.
func New(opt Options) *Store {
	if opt.NodeID == "" {
		opt.NodeID = "node"
	}
	if opt.LeaseTTL <= 0 {
		opt.LeaseTTL = 2 * time.Minute
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Store{rdb: opt.Client, node: opt.NodeID, ttl: opt.LeaseTTL, log: opt.Logger}
}

// Client is the Redis the store is on, for the features that keep state of
// their own beside it (queue/promise).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

const campaignsKey = "marcador:campaigns"

// keys of one campaign, all in the slot of {id}.
type keys struct{ id string }

func k(id string) keys           { return keys{id} }
func (k keys) p(s string) string { return "marcador:{" + k.id + "}:" + s }
func (k keys) def() string       { return k.p("campaign") }
func (k keys) accounts() string  { return k.p("accounts") }
func (k keys) due() string       { return k.p("due") }
func (k keys) leases() string    { return k.p("leases") }
func (k keys) tokens() string    { return k.p("lease_tokens") }
func (k keys) done() string      { return k.p("done") }
func (k keys) reasons() string   { return k.p("reasons") }
func (k keys) seq() string       { return k.p("seq") }
func ms(t time.Time) int64       { return t.UnixMilli() }

// ErrInvalidID marks an id that cannot name anything here: ids become parts
// of Redis keys, inside {} hash tags, so only a safe alphabet is accepted.
var ErrInvalidID = errors.New("invalid id")

const idRule = "1-64 of A-Z a-z 0-9 _ . - starting with a letter or digit"

var idRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidCampaignID reports whether id can name a campaign.
func ValidCampaignID(id string) bool { return idRe.MatchString(id) }

// CheckID is the one rule for ids that become key parts (campaigns): an
// error wrapping ErrInvalidID, or nil.
func CheckID(id string) error {
	if !idRe.MatchString(id) {
		return fmt.Errorf("id %.70q: %s: %w", id, idRule, ErrInvalidID)
	}
	return nil
}

// PutCampaign creates or replaces a campaign definition (after Normalize).
func (s *Store) PutCampaign(ctx context.Context, c Campaign, now time.Time) (Campaign, error) {
	if err := c.Normalize(); err != nil {
		return c, err
	}
	if old, err := s.Campaign(ctx, c.ID); err == nil {
		c.Created = old.Created
	} else if !errors.Is(err, ErrNotFound) {
		return c, err
	} else {
		c.Created = now.UTC()
	}
	c.Updated = now.UTC()
	b, err := json.Marshal(c)
	if err != nil {
		return c, fmt.Errorf("campaign %s: encode: %w", c.ID, err)
	}
	if err := s.rdb.Set(ctx, k(c.ID).def(), b, 0).Err(); err != nil {
		return c, fmt.Errorf("campaign %s: save: %w", c.ID, err)
	}
	if err := s.rdb.SAdd(ctx, campaignsKey, c.ID).Err(); err != nil {
		return c, fmt.Errorf("campaign %s: register: %w", c.ID, err)
	}
	return c, nil
}

// UpdateCampaign changes a stored campaign in place: edit gets the
// definition as stored and changes it; the result is normalized and saved
// only if nobody saved the campaign meanwhile (it retries then, up to 5
// times), so a run-time change never undoes a concurrent one. An error
// from edit or Normalize is returned as is; ErrNotFound when there is no
// such campaign.
func (s *Store) UpdateCampaign(ctx context.Context, id string, now time.Time, edit func(*Campaign) error) (Campaign, error) {
	var out Campaign
	if err := CheckID(id); err != nil {
		return out, err
	}
	key := k(id).def()
	txf := func(tx *redis.Tx) error {
		b, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("campaign %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("campaign %s: read: %w", id, err)
		}
		var c Campaign
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("campaign %s: decode: %w", id, err)
		}
		if err := edit(&c); err != nil {
			return err
		}
		if err := c.Normalize(); err != nil {
			return err
		}
		c.Updated = now.UTC()
		if b, err = json.Marshal(c); err != nil {
			return fmt.Errorf("campaign %s: encode: %w", id, err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error { return p.Set(ctx, key, b, 0).Err() })
		out = c
		return err
	}
	for range 5 {
		err := s.rdb.Watch(ctx, txf, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return out, err
		}
	}
	return out, fmt.Errorf("campaign %s: saved by others 5 times while updating it; try again", id)
}

// Campaign reads a campaign definition.
func (s *Store) Campaign(ctx context.Context, id string) (Campaign, error) {
	var c Campaign
	if err := CheckID(id); err != nil {
		return c, err
	}
	b, err := s.rdb.Get(ctx, k(id).def()).Bytes()
	if errors.Is(err, redis.Nil) {
		return c, fmt.Errorf("campaign %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("campaign %s: read: %w", id, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("campaign %s: decode: %w", id, err)
	}
	return c, nil
}

// CampaignIDs lists every campaign ever stored.
func (s *Store) CampaignIDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, campaignsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return ids, nil
}

// Account reads one account of a campaign.
func (s *Store) Account(ctx context.Context, campaign, id string) (Account, error) {
	var a Account
	if err := CheckID(campaign); err != nil {
		return a, err
	}
	b, err := s.rdb.HGet(ctx, k(campaign).accounts(), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return a, fmt.Errorf("account %s in campaign %s: %w", id, campaign, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("account %s in campaign %s: read: %w", id, campaign, err)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("account %s in campaign %s: decode: %w", id, campaign, err)
	}
	return a, nil
}

// Counts is a campaign's queue state.
type Counts struct {
	Accounts int64 `json:"accounts"`
	Due      int64 `json:"due"`     // queued, whenever eligible
	DueNow   int64 `json:"due_now"` // queued and eligible now
	Leased   int64 `json:"leased"`  // claimed by a node, in progress
	Done     int64 `json:"done"`
}

// Counts reads a campaign's queue state in one round trip.
func (s *Store) Counts(ctx context.Context, campaign string, now time.Time) (Counts, error) {
	if err := CheckID(campaign); err != nil {
		return Counts{}, err
	}
	kk := k(campaign)
	pipe := s.rdb.Pipeline()
	acc := pipe.HLen(ctx, kk.accounts())
	due := pipe.ZCard(ctx, kk.due())
	dueNow := pipe.ZCount(ctx, kk.due(), "-inf", fmt.Sprint(ms(now)))
	leased := pipe.ZCard(ctx, kk.leases())
	done := pipe.ZCard(ctx, kk.done())
	if _, err := pipe.Exec(ctx); err != nil {
		return Counts{}, fmt.Errorf("campaign %s: counts: %w", campaign, err)
	}
	return Counts{Accounts: acc.Val(), Due: due.Val(), DueNow: dueNow.Val(), Leased: leased.Val(), Done: done.Val()}, nil
}

// DeleteCampaign removes a campaign's definition, accounts, queue and leases.
func (s *Store) DeleteCampaign(ctx context.Context, id string) error {
	if err := CheckID(id); err != nil {
		return err
	}
	kk := k(id)
	if err := s.rdb.Del(ctx, kk.def(), kk.accounts(), kk.due(), kk.leases(), kk.tokens(), kk.done(), kk.reasons(), kk.seq(),
		kk.status(), kk.attempts(), kk.dispositions(), kk.inflight()).Err(); err != nil {
		return fmt.Errorf("delete campaign %s: %w", id, err)
	}
	if err := s.rdb.SRem(ctx, campaignsKey, id).Err(); err != nil {
		return fmt.Errorf("delete campaign %s: unregister: %w", id, err)
	}
	return nil
}
