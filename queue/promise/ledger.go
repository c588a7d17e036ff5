package promise

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
)

// Record is an open promise kept for follow-up.
type Record struct {
	ID       string                   `json:"id"`
	Campaign string                   `json:"campaign"`
	Account  string                   `json:"account"`
	Attempt  string                   `json:"attempt,omitempty"` // the attempt it was made on
	Channel  analytics.PromiseChannel `json:"channel,omitempty"` // ivr, agent, sms
	Amount   decimal.Decimal          `json:"amount"`
	Currency string                   `json:"currency"`
	Due      time.Time                `json:"due"`   // calendar date
	Grace    int                      `json:"grace"` // days after Due before it is broken
	Paid     decimal.Decimal          `json:"paid"`
	Reminded bool                     `json:"reminded"`
	Created  time.Time                `json:"created"`
}

// promisesKey is the ledger's hash by default (Options.Key).
const promisesKey = "marcador:promises"

// keys of a ledger, named after its hash.
type keys struct {
	all     string // hash id → record
	due     string // zset id → ms when broken unless paid
	remind  string // zset id → ms of the day-before reminder
	account string // + account id: set of its open promise ids
}

func keysOf(hash string) keys {
	return keys{all: hash, due: hash + ":due", remind: hash + ":remind", account: hash + ":account:"}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// brokenAt is the end of the promise's last grace day.
func (p Record) brokenAt() time.Time { return p.Due.AddDate(0, 0, p.Grace+1) }

// add keeps p until it is kept or broken.
func (l *Ledger) add(ctx context.Context, p Record) error {
	b, _ := json.Marshal(p)
	broken := p.brokenAt()
	remind := p.Due.AddDate(0, 0, -1)
	_, err := l.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, l.keys.all, p.ID, b)
		pipe.ZAdd(ctx, l.keys.due, redis.Z{Score: float64(ms(broken)), Member: p.ID})
		pipe.ZAdd(ctx, l.keys.remind, redis.Z{Score: float64(ms(remind)), Member: p.ID})
		pipe.SAdd(ctx, l.keys.account+p.Account, p.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("promise %s: %w", p.ID, err)
	}
	return nil
}

func (l *Ledger) get(ctx context.Context, id string) (Record, error) {
	var p Record
	b, err := l.rdb.HGet(ctx, l.keys.all, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return p, queue.ErrNotFound
	}
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(b, &p)
}

func (l *Ledger) drop(ctx context.Context, p Record) error {
	_, err := l.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HDel(ctx, l.keys.all, p.ID)
		pipe.ZRem(ctx, l.keys.due, p.ID)
		pipe.ZRem(ctx, l.keys.remind, p.ID)
		pipe.SRem(ctx, l.keys.account+p.Account, p.ID)
		return nil
	})
	return err
}

// pay applies a payment to the account's open promises, oldest first; it
// returns the promises it kept (paid in full).
func (l *Ledger) pay(ctx context.Context, account string, amount decimal.Decimal) ([]Record, error) {
	ids, err := l.rdb.SMembers(ctx, l.keys.account+account).Result()
	if err != nil {
		return nil, err
	}
	var open []Record
	for _, id := range ids {
		p, err := l.get(ctx, id)
		if err == nil {
			open = append(open, p)
		}
	}
	sortPromises(open)
	var kept []Record
	for _, p := range open {
		if !amount.IsPositive() {
			break
		}
		need := p.Amount.Sub(p.Paid)
		take := decimal.Min(need, amount)
		p.Paid, amount = p.Paid.Add(take), amount.Sub(take)
		if p.Paid.GreaterThanOrEqual(p.Amount) {
			if err := l.drop(ctx, p); err != nil {
				return kept, err
			}
			kept = append(kept, p)
			continue
		}
		b, _ := json.Marshal(p)
		if err := l.rdb.HSet(ctx, l.keys.all, p.ID, b).Err(); err != nil {
			return kept, err
		}
	}
	return kept, nil
}

func sortPromises(ps []Record) {
	slices.SortStableFunc(ps, func(a, b Record) int { return a.Due.Compare(b.Due) })
}

// campaigns lists the campaigns of account's open promises: an account
// whose campaigns are gone may still pay the promises it made in them.
func (l *Ledger) campaigns(ctx context.Context, account string) ([]string, error) {
	ids, err := l.rdb.SMembers(ctx, l.keys.account+account).Result()
	if err != nil {
		return nil, fmt.Errorf("promises of account %s: %w", account, err)
	}
	var out []string
	for _, id := range ids {
		if p, err := l.get(ctx, id); err == nil && !slices.Contains(out, p.Campaign) {
			out = append(out, p.Campaign)
		}
	}
	slices.Sort(out)
	return out, nil
}

// due returns promises whose reminder day has come (not yet
// reminded) and promises broken by now (unpaid after their grace days);
// broken ones are removed from follow-up.
func (l *Ledger) due(ctx context.Context, now time.Time) (remind, broken []Record, err error) {
	ids, err := l.rdb.ZRangeByScore(ctx, l.keys.remind, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		p, err := l.get(ctx, id)
		// One already broken (a sweep that comes late) is not reminded.
		if err == nil && !p.Reminded && p.brokenAt().After(now) {
			p.Reminded = true
			b, _ := json.Marshal(p)
			l.rdb.HSet(ctx, l.keys.all, id, b)
			remind = append(remind, p)
		}
		l.rdb.ZRem(ctx, l.keys.remind, id)
	}
	ids, err = l.rdb.ZRangeByScore(ctx, l.keys.due, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return remind, nil, err
	}
	for _, id := range ids {
		p, err := l.get(ctx, id)
		if err != nil {
			l.rdb.ZRem(ctx, l.keys.due, id)
			continue
		}
		if err := l.drop(ctx, p); err != nil {
			return remind, broken, err
		}
		broken = append(broken, p)
	}
	return remind, broken, nil
}

// firstSeen records id (a payment id) and says whether this is the first
// time; ids are remembered for 400 days.
func (l *Ledger) firstSeen(ctx context.Context, kind, id string) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, "marcador:seen:{"+kind+":"+id+"}", 1, 400*24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return ok, nil
}

// unsee forgets id, so a request that failed after firstSeen can be retried.
func (l *Ledger) unsee(ctx context.Context, kind, id string) error {
	return l.rdb.Del(ctx, "marcador:seen:{"+kind+":"+id+"}").Err()
}
