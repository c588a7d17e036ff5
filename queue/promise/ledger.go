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
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("promise %s: %w", p.ID, err)
	}
	broken := p.brokenAt()
	remind := p.Due.AddDate(0, 0, -1)
	_, err = l.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
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

// errCorrupt is a record that does not decode: it is logged and left out
// (one bad value must not stall an account's payments or the follow-up).
var errCorrupt = errors.New("corrupt promise record")

func (l *Ledger) get(ctx context.Context, id string) (Record, error) {
	var p Record
	b, err := l.rdb.HGet(ctx, l.keys.all, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return p, queue.ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("promise %s: %w", id, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("promise %s: %w: %w", id, errCorrupt, err)
	}
	return p, nil
}

// put saves p's changed fields (what it has been paid, whether it was
// reminded).
func (l *Ledger) put(ctx context.Context, p Record) error {
	b, err := json.Marshal(p)
	if err == nil {
		err = l.rdb.HSet(ctx, l.keys.all, p.ID, b).Err()
	}
	if err != nil {
		return fmt.Errorf("promise %s: %w", p.ID, err)
	}
	return nil
}

func (l *Ledger) drop(ctx context.Context, p Record) error {
	_, err := l.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HDel(ctx, l.keys.all, p.ID)
		pipe.ZRem(ctx, l.keys.due, p.ID)
		pipe.ZRem(ctx, l.keys.remind, p.ID)
		pipe.SRem(ctx, l.keys.account+p.Account, p.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("promise %s: %w", p.ID, err)
	}
	return nil
}

// Open returns the account's open promises, oldest due first (an agent's
// screen shows them).
func (l *Ledger) Open(ctx context.Context, account string) ([]Record, error) {
	return l.open(ctx, account)
}

// open returns account's open promises, oldest due first; a corrupt one is
// logged and left out.
func (l *Ledger) open(ctx context.Context, account string) ([]Record, error) {
	ids, err := l.rdb.SMembers(ctx, l.keys.account+account).Result()
	if err != nil {
		return nil, fmt.Errorf("promises of account %s: %w", account, err)
	}
	var open []Record
	for _, id := range ids {
		p, err := l.get(ctx, id)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			// Kept or broken since SMEMBERS: drop takes it out of the set too.
		case errors.Is(err, errCorrupt):
			l.log.Error("promise left out: its record does not decode", "promise", id, "account", account, "err", err)
		case err != nil:
			return nil, err
		default:
			open = append(open, p)
		}
	}
	slices.SortStableFunc(open, func(a, b Record) int { return a.Due.Compare(b.Due) })
	return open, nil
}

// pay applies a payment to the account's open promises, oldest first; it
// returns the promises it kept (paid in full) and whether it changed the
// ledger: a payment that failed without changing it may be tried again,
// one that changed it may not (its money would count twice).
func (l *Ledger) pay(ctx context.Context, account string, amount decimal.Decimal) (kept []Record, changed bool, err error) {
	open, err := l.open(ctx, account)
	if err != nil {
		return nil, false, err
	}
	for _, p := range open {
		if !amount.IsPositive() {
			break
		}
		need := p.Amount.Sub(p.Paid)
		take := decimal.Min(need, amount)
		p.Paid, amount = p.Paid.Add(take), amount.Sub(take)
		if p.Paid.GreaterThanOrEqual(p.Amount) {
			if err := l.drop(ctx, p); err != nil {
				return kept, changed, err
			}
			kept, changed = append(kept, p), true
			continue
		}
		if err := l.put(ctx, p); err != nil {
			return kept, changed, err
		}
		changed = true
	}
	return kept, changed, nil
}

// campaigns lists the campaigns of account's open promises: an account
// whose campaigns are gone may still pay the promises it made in them.
func (l *Ledger) campaigns(ctx context.Context, account string) ([]string, error) {
	open, err := l.open(ctx, account)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range open {
		if !slices.Contains(out, p.Campaign) {
			out = append(out, p.Campaign)
		}
	}
	slices.Sort(out)
	return out, nil
}

// toRemind returns the promises whose reminder day has come by now, marked
// reminded, and takes them off the reminder set. One already broken (a
// sweep that comes late) is not reminded. One whose mark could not be saved
// is left for the next sweep; one that could not be taken off is not
// reminded again (its mark says so).
func (l *Ledger) toRemind(ctx context.Context, now time.Time) ([]Record, error) {
	ids, err := l.rdb.ZRangeByScore(ctx, l.keys.remind, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return nil, fmt.Errorf("promises to remind by %s: %w", now.Format(time.RFC3339), err)
	}
	var remind []Record
	for _, id := range ids {
		p, err := l.get(ctx, id)
		switch {
		case errors.Is(err, queue.ErrNotFound):
		case errors.Is(err, errCorrupt):
			l.log.Error("promise not reminded: its record does not decode", "promise", id, "err", err)
		case err != nil:
			l.log.Warn("promise not reminded yet: the next follow-up tries again", "promise", id, "err", err)
			continue
		case !p.Reminded && p.brokenAt().After(now):
			p.Reminded = true
			if err := l.put(ctx, p); err != nil {
				l.log.Warn("promise not reminded yet: the next follow-up tries again", "promise", id, "err", err)
				continue
			}
			remind = append(remind, p)
		}
		if err := l.rdb.ZRem(ctx, l.keys.remind, id).Err(); err != nil {
			l.log.Warn("reminded promise stays in the reminder set; it is marked, so not reminded again", "promise", id, "err", err)
		}
	}
	return remind, nil
}

// toBreak returns the promises broken by now (unpaid after their grace
// days). They stay in the ledger until their broken row is written (break).
// A corrupt one is logged and taken off, so it does not come back every
// sweep.
func (l *Ledger) toBreak(ctx context.Context, now time.Time) ([]Record, error) {
	ids, err := l.rdb.ZRangeByScore(ctx, l.keys.due, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return nil, fmt.Errorf("promises broken by %s: %w", now.Format(time.RFC3339), err)
	}
	var broken []Record
	for _, id := range ids {
		p, err := l.get(ctx, id)
		switch {
		case err == nil:
			broken = append(broken, p)
			continue
		case errors.Is(err, errCorrupt):
			l.log.Error("promise cannot be broken: its record does not decode; taken off follow-up", "promise", id, "err", err)
		case !errors.Is(err, queue.ErrNotFound):
			l.log.Warn("promise not broken yet: the next follow-up tries again", "promise", id, "err", err)
			continue
		}
		if err := l.rdb.ZRem(ctx, l.keys.due, id).Err(); err != nil {
			l.log.Warn("promise id without a record stays in the due set", "promise", id, "err", err)
		}
	}
	return broken, nil
}

// seenKey remembers that id of kind was received.
func seenKey(kind, id string) string { return "marcador:seen:{" + kind + ":" + id + "}" }

// firstSeen records id (a payment id) and says whether this is the first
// time; ids are remembered for 400 days.
func (l *Ledger) firstSeen(ctx context.Context, kind, id string) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, seenKey(kind, id), 1, 400*24*time.Hour).Result()
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", kind, id, err)
	}
	return ok, nil
}

// unsee forgets id, so a request that failed after firstSeen can be retried.
func (l *Ledger) unsee(ctx context.Context, kind, id string) error {
	if err := l.rdb.Del(ctx, seenKey(kind, id)).Err(); err != nil {
		return fmt.Errorf("%s %s: forget: %w", kind, id, err)
	}
	return nil
}
