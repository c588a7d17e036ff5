// Package promise keeps the promises to pay that are open, until they are
// kept or broken.
package promise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/marcador/marcador/queue"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"
)

// Store is the ledger of open promises in Redis.
type Store struct{ rdb redis.UniversalClient }

// NewStore returns the ledger on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

func ms(t time.Time) int64 { return t.UnixMilli() }

// PromiseRecord is an open promise kept for follow-up.
type PromiseRecord struct {
	ID       string          `json:"id"`
	Campaign string          `json:"campaign"`
	Account  string          `json:"account"`
	Attempt  string          `json:"attempt,omitempty"` // the attempt it was made on
	Channel  string          `json:"channel,omitempty"` // ivr, agent, sms
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	Due      time.Time       `json:"due"`   // calendar date
	Grace    int             `json:"grace"` // days after Due before it is broken
	Paid     decimal.Decimal `json:"paid"`
	Reminded bool            `json:"reminded"`
	Created  time.Time       `json:"created"`
}

const (
	promisesKey     = "marcador:promises"        // hash id → record
	promisesDueKey  = "marcador:promises:due"    // zset id → ms when broken unless paid
	promisesRemKey  = "marcador:promises:remind" // zset id → ms of the day-before reminder
	promisesAcctKey = "marcador:promises:account:"
)

// brokenAt is the end of the promise's last grace day.
func (p PromiseRecord) brokenAt() time.Time { return p.Due.AddDate(0, 0, p.Grace+1) }

// AddPromise keeps a promise until it is kept or broken.
func (s *Store) AddPromise(ctx context.Context, p PromiseRecord) error {
	b, _ := json.Marshal(p)
	broken := p.brokenAt()
	remind := p.Due.AddDate(0, 0, -1)
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, promisesKey, p.ID, b)
		pipe.ZAdd(ctx, promisesDueKey, redis.Z{Score: float64(ms(broken)), Member: p.ID})
		pipe.ZAdd(ctx, promisesRemKey, redis.Z{Score: float64(ms(remind)), Member: p.ID})
		pipe.SAdd(ctx, promisesAcctKey+p.Account, p.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("promise %s: %w", p.ID, err)
	}
	return nil
}

func (s *Store) promise(ctx context.Context, id string) (PromiseRecord, error) {
	var p PromiseRecord
	b, err := s.rdb.HGet(ctx, promisesKey, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return p, queue.ErrNotFound
	}
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(b, &p)
}

func (s *Store) dropPromise(ctx context.Context, p PromiseRecord) error {
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HDel(ctx, promisesKey, p.ID)
		pipe.ZRem(ctx, promisesDueKey, p.ID)
		pipe.ZRem(ctx, promisesRemKey, p.ID)
		pipe.SRem(ctx, promisesAcctKey+p.Account, p.ID)
		return nil
	})
	return err
}

// Pay applies a payment to the account's open promises, oldest first; it
// returns the promises it kept (paid in full).
func (s *Store) Pay(ctx context.Context, account string, amount decimal.Decimal) ([]PromiseRecord, error) {
	ids, err := s.rdb.SMembers(ctx, promisesAcctKey+account).Result()
	if err != nil {
		return nil, err
	}
	var open []PromiseRecord
	for _, id := range ids {
		p, err := s.promise(ctx, id)
		if err == nil {
			open = append(open, p)
		}
	}
	sortPromises(open)
	var kept []PromiseRecord
	for _, p := range open {
		if !amount.IsPositive() {
			break
		}
		need := p.Amount.Sub(p.Paid)
		take := decimal.Min(need, amount)
		p.Paid, amount = p.Paid.Add(take), amount.Sub(take)
		if p.Paid.GreaterThanOrEqual(p.Amount) {
			if err := s.dropPromise(ctx, p); err != nil {
				return kept, err
			}
			kept = append(kept, p)
			continue
		}
		b, _ := json.Marshal(p)
		if err := s.rdb.HSet(ctx, promisesKey, p.ID, b).Err(); err != nil {
			return kept, err
		}
	}
	return kept, nil
}

func sortPromises(ps []PromiseRecord) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Due.Before(ps[j-1].Due); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// DuePromises returns promises whose reminder day has come (not yet
// reminded) and promises broken by now (unpaid after their grace days);
// broken ones are removed from follow-up.
func (s *Store) DuePromises(ctx context.Context, now time.Time) (remind, broken []PromiseRecord, err error) {
	ids, err := s.rdb.ZRangeByScore(ctx, promisesRemKey, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		p, err := s.promise(ctx, id)
		// One already broken (a sweep that comes late) is not reminded.
		if err == nil && !p.Reminded && p.brokenAt().After(now) {
			p.Reminded = true
			b, _ := json.Marshal(p)
			s.rdb.HSet(ctx, promisesKey, id, b)
			remind = append(remind, p)
		}
		s.rdb.ZRem(ctx, promisesRemKey, id)
	}
	ids, err = s.rdb.ZRangeByScore(ctx, promisesDueKey, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return remind, nil, err
	}
	for _, id := range ids {
		p, err := s.promise(ctx, id)
		if err != nil {
			s.rdb.ZRem(ctx, promisesDueKey, id)
			continue
		}
		if err := s.dropPromise(ctx, p); err != nil {
			return remind, broken, err
		}
		broken = append(broken, p)
	}
	return remind, broken, nil
}

// FirstSeen records id (a payment id, an idempotency key) and says whether
// this is the first time; ids are remembered for 400 days.
func (s *Store) FirstSeen(ctx context.Context, kind, id string) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, "marcador:seen:{"+kind+":"+id+"}", 1, 400*24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return ok, nil
}

// Unsee forgets id, so a request that failed after FirstSeen can be retried.
func (s *Store) Unsee(ctx context.Context, kind, id string) error {
	return s.rdb.Del(ctx, "marcador:seen:{"+kind+":"+id+"}").Err()
}

// AccountCampaigns lists the campaigns of account's open promises: an
// account whose campaigns are gone may still pay the promises it made in
// them.
func (s *Store) AccountCampaigns(ctx context.Context, account string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, promisesAcctKey+account).Result()
	if err != nil {
		return nil, fmt.Errorf("promises of account %s: %w", account, err)
	}
	var out []string
	for _, pid := range ids {
		if p, err := s.promise(ctx, pid); err == nil && !slices.Contains(out, p.Campaign) {
			out = append(out, p.Campaign)
		}
	}
	slices.Sort(out)
	return out, nil
}
