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
	"github.com/marcador/marcador/analytics/kpi"
	"github.com/marcador/marcador/queue"
)

// Record is a promise kept for follow-up: open until the rule of README
// "Promise kept" (kpi.Settle) judges it kept or broken, then kept a while
// longer (Options.History) because a payment recorded late may still
// change it. It holds every column of its row, so its kept and broken rows
// are the open row with a new status.
type Record struct {
	ID       string                   `json:"id"`
	Campaign string                   `json:"campaign"`
	Account  string                   `json:"account"`
	Attempt  string                   `json:"attempt,omitempty"` // the attempt it was made on
	Channel  analytics.PromiseChannel `json:"channel,omitempty"` // ivr, agent, sms
	Amount   decimal.Decimal          `json:"amount"`
	Currency string                   `json:"currency"`
	Due      time.Time                `json:"due"` // calendar date
	// Grace and KeepPercent are the campaign's promise.grace_days and
	// promise.keep_percent when it was made (0: kpi's defaults, 2 days and
	// 100%).
	Grace       int    `json:"grace"`
	KeepPercent int    `json:"keep_percent,omitempty"`
	Country     string `json:"country,omitempty"` // the debtor's, as the attempt it was made on says
	Segment     string `json:"segment,omitempty"` // the account's
	Agent       string `json:"agent,omitempty"`   // the agent who took it; "" for the IVR
	Node        string `json:"node,omitempty"`    // the node that took it (its rows' node_id)
	// Paid is what payments gave it before its deadline, by the rule.
	Paid     decimal.Decimal `json:"paid"`
	Reminded bool            `json:"reminded"`
	Created  time.Time       `json:"created"`
	// Status and Ver are those of its last row written: open (ver 1; ""
	// in records from before the rule), then kept or broken.
	Status string `json:"status,omitempty"`
	Ver    uint64 `json:"ver,omitempty"`
}

// status is the status of p's last row.
func (p Record) status() string {
	if p.Status == "" {
		return Open
	}
	return p.Status
}

func (p Record) ver() uint64 { return max(p.Ver, 1) }

// terms is p as the rule reads it.
func (p Record) terms() kpi.PromiseTerms {
	return kpi.PromiseTerms{ID: p.ID, Account: p.Account, Currency: p.Currency, Created: p.Created, Due: p.Due,
		GraceDays: p.Grace, KeepPercent: p.KeepPercent, Amount: p.Amount}
}

// deadline is when p stops taking payments (the rule's).
func (p Record) deadline() time.Time { return p.terms().Deadline() }

// promisesKey is the ledger's hash by default (Options.Key).
const promisesKey = "marcador:promises"

// keys of a ledger, named after its hash.
type keys struct {
	all       string // hash id → record
	due       string // zset id → ms of its deadline, while open
	remind    string // zset id → ms of the day-before reminder
	account   string // + account id: set of its promise ids (open, and judged ones kept for History)
	payments  string // + account id: hash payment id → payment, as the rule reads it
	settled   string // zset account → ms after which its promises and payments are dropped (none open)
	unsettled string // set of accounts a payment could not be judged for: the next follow-up judges them
	lock      string // + account id: held while its promises are judged
}

func keysOf(hash string) keys {
	return keys{all: hash, due: hash + ":due", remind: hash + ":remind", account: hash + ":account:",
		payments: hash + ":payments:", settled: hash + ":settled", unsettled: hash + ":unsettled", lock: hash + ":lock:"}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// add keeps p until it is kept or broken.
func (l *Ledger) add(ctx context.Context, p Record) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("promise %s: %w", p.ID, err)
	}
	remind := p.Due.AddDate(0, 0, -1)
	_, err = l.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, l.keys.all, p.ID, b)
		pipe.ZAdd(ctx, l.keys.due, redis.Z{Score: float64(ms(p.deadline())), Member: p.ID})
		pipe.ZAdd(ctx, l.keys.remind, redis.Z{Score: float64(ms(remind)), Member: p.ID})
		pipe.SAdd(ctx, l.keys.account+p.Account, p.ID)
		pipe.ZRem(ctx, l.keys.settled, p.Account) // it has an open promise again
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

// Open returns the account's open promises, oldest due first (an agent's
// screen shows them).
func (l *Ledger) Open(ctx context.Context, account string) ([]Record, error) {
	all, err := l.history(ctx, account)
	if err != nil {
		return nil, err
	}
	open := slices.DeleteFunc(all, func(p Record) bool { return p.status() != Open })
	slices.SortStableFunc(open, func(a, b Record) int { return a.Due.Compare(b.Due) })
	return open, nil
}

// history returns every promise the ledger keeps for account (open and
// judged), in no order; a corrupt one is logged and left out.
func (l *Ledger) history(ctx context.Context, account string) ([]Record, error) {
	ids, err := l.rdb.SMembers(ctx, l.keys.account+account).Result()
	if err != nil {
		return nil, fmt.Errorf("promises of account %s: %w", account, err)
	}
	var out []Record
	for _, id := range ids {
		p, err := l.get(ctx, id)
		switch {
		case errors.Is(err, queue.ErrNotFound):
			// Dropped since SMEMBERS.
		case errors.Is(err, errCorrupt):
			l.log.Error("promise left out: its record does not decode", "promise", id, "account", account, "err", err)
		case err != nil:
			return nil, err
		default:
			out = append(out, p)
		}
	}
	return out, nil
}

// campaigns lists the campaigns of account's promises: an account whose
// campaigns are gone may still pay the promises it made in them.
func (l *Ledger) campaigns(ctx context.Context, account string) ([]string, error) {
	all, err := l.history(ctx, account)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range all {
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
		case !p.Reminded && p.status() == Open && p.deadline().After(now):
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

// dueAccounts returns the accounts of the promises whose deadline has
// passed by now while open: the follow-up judges them. A corrupt record is
// logged and taken off, so it does not come back every sweep.
func (l *Ledger) dueAccounts(ctx context.Context, now time.Time) ([]string, error) {
	ids, err := l.rdb.ZRangeByScore(ctx, l.keys.due, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(ms(now))}).Result()
	if err != nil {
		return nil, fmt.Errorf("promises due by %s: %w", now.Format(time.RFC3339), err)
	}
	var accounts []string
	for _, id := range ids {
		p, err := l.get(ctx, id)
		switch {
		case err == nil && p.status() == Open:
			if !slices.Contains(accounts, p.Account) {
				accounts = append(accounts, p.Account)
			}
			continue
		case err == nil:
			// Judged, but not yet taken off (see judge): below.
		case errors.Is(err, errCorrupt):
			l.log.Error("promise cannot be judged: its record does not decode; taken off follow-up", "promise", id, "err", err)
		case !errors.Is(err, queue.ErrNotFound):
			l.log.Warn("promise not judged yet: the next follow-up tries again", "promise", id, "err", err)
			continue
		}
		if err := l.rdb.ZRem(ctx, l.keys.due, id).Err(); err != nil {
			l.log.Warn("promise id stays in the due set", "promise", id, "err", err)
		}
	}
	return accounts, nil
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
