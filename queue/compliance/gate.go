package compliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue/phone"
)

// Writer takes the rows the gate records (analytics/writer.Writer).
type Writer interface {
	Write(ctx context.Context, row analytics.Row) error
}

// GateOptions configure a Gate.
type GateOptions struct {
	Client    redis.UniversalClient
	Calendars *Calendars
	// Profiles by name (Builtin plus configured ones).
	Profiles map[string]*Profile
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Retain is how long contact history is kept; default 35 days (longer
	// than any cap's period).
	Retain time.Duration
	// Writer, when set, gets a dnc_events row for every listing and removal
	// before Redis changes: the durable copy `marcador dnc rebuild` restores
	// the lists from after Redis lost them.
	Writer Writer
	// Node is recorded on those rows.
	Node   string
	Logger *slog.Logger
}

// Gate is the compliance gate every contact goes through. Its check and the
// recording of the attempt are one Redis transaction on the debtor's history
// (WATCH/MULTI, retried on conflict), so any number of dialer and SMS nodes
// together never exceed a cap.
type Gate struct {
	opt GateOptions
	rdb redis.UniversalClient
	log *slog.Logger
	ver atomic.Int64 // the last dnc_events ver, so a node's events order strictly
}

// NewGate returns a gate; it warns loudly about missing holiday calendars.
func NewGate(opt GateOptions) (*Gate, error) {
	if opt.Client == nil || opt.Calendars == nil || len(opt.Profiles) == 0 {
		return nil, errors.New("compliance gate: Client, Calendars and Profiles are required")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Retain <= 0 {
		opt.Retain = 35 * 24 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	g := &Gate{opt: opt, rdb: opt.Client, log: opt.Logger}
	opt.Calendars.CheckCoverage(opt.Profiles, opt.Now())
	return g, nil
}

// Now is the gate's clock.
func (g *Gate) Now() time.Time { return g.opt.Now() }

// Retention is how long contact history is kept (longer than any cap's period).
func (g *Gate) Retention() time.Duration { return g.opt.Retain }

// Subject is who would be contacted, and where.
type Subject struct {
	Phone      string // E.164
	Account    string
	NationalID string
	Country    string // the account's country (for profile "auto")
	TimeZone   string // the account's declared zone, if any
	// DefaultZone is the campaign's zone, used when neither the account nor
	// the number says.
	DefaultZone string
	Campaign    string
}

// Profile resolves a campaign's profile name for a subject ("auto" is the
// subject's country, then the number's).
func (g *Gate) Profile(name string, s Subject) (*Profile, error) {
	if strings.EqualFold(name, "auto") || name == "" {
		name = s.Country
		if name == "" {
			name = phone.Region(s.Phone)
		}
	}
	p, ok := g.opt.Profiles[strings.ToUpper(name)]
	if !ok {
		p, ok = g.opt.Profiles[name]
	}
	if !ok {
		return nil, fmt.Errorf("compliance profile %q: unknown", name)
	}
	return p, nil
}

// Zones are the subject's possible time zones: the account's zone if set,
// else every zone of the number, else the campaign's.
func Zones(s Subject) ([]*time.Location, error) {
	var names []string
	switch {
	case s.TimeZone != "":
		names = []string{s.TimeZone}
	default:
		names = phone.TimeZones(s.Phone)
		if len(names) == 0 && s.DefaultZone != "" {
			names = []string{s.DefaultZone}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("compliance: no time zone for %s (no account zone, the number does not say, no campaign zone)", s.Phone)
	}
	var out []*time.Location
	for _, n := range names {
		loc, err := time.LoadLocation(n)
		if err != nil {
			return nil, fmt.Errorf("compliance: time zone %q: %w", n, err)
		}
		out = append(out, loc)
	}
	return out, nil
}

// debtorKey identifies the person across accounts and campaigns: the
// national id when known, else the account, else the number.
func debtorKey(s Subject) string {
	switch {
	case s.NationalID != "":
		return "nid:" + strings.ToUpper(s.Country) + ":" + s.NationalID
	case s.Account != "":
		return "acct:" + s.Account
	}
	return "tel:" + s.Phone
}

func historyKey(debtor string) string { return "marcador:{debtor:" + debtor + "}:history" }
func indexKey(kind, v string) string  { return "marcador:compliance:index:" + kind + ":" + v }

// resolveDebtor finds the debtor key a subject's history is under: an
// explain with only a phone or an account finds what Reserve recorded.
func (g *Gate) resolveDebtor(ctx context.Context, s Subject) (string, error) {
	if s.NationalID != "" {
		return debtorKey(s), nil
	}
	for _, k := range []string{indexKey("acct", s.Account), indexKey("tel", s.Phone)} {
		if strings.HasSuffix(k, ":") {
			continue
		}
		v, err := g.rdb.Get(ctx, k).Result()
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, redis.Nil) {
			return "", fmt.Errorf("compliance: %w", err)
		}
	}
	return debtorKey(s), nil
}

func encodeEvent(e Event) string {
	return strings.Join([]string{strconv.FormatInt(e.At.UnixMilli(), 10), string(e.Channel), e.Kind, e.Account, e.AttemptID}, "|")
}

func decodeEvent(m string) (Event, bool) {
	f := strings.SplitN(m, "|", 5)
	if len(f) != 5 {
		return Event{}, false
	}
	ms, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Event{}, false
	}
	return Event{At: time.UnixMilli(ms), Channel: analytics.Channel(f[1]), Kind: f[2], Account: f[3], AttemptID: f[4]}, true
}

func (g *Gate) history(ctx context.Context, c redis.Cmdable, key string, now time.Time) ([]Event, error) {
	members, err := c.ZRangeByScore(ctx, key, &redis.ZRangeBy{
		Min: strconv.FormatInt(now.Add(-g.opt.Retain).UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("compliance: read history %s: %w", key, err)
	}
	out := make([]Event, 0, len(members))
	for _, m := range members {
		if e, ok := decodeEvent(m); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// Check decides without recording anything (explain, audits).
func (g *Gate) Check(ctx context.Context, p *Profile, s Subject, ch analytics.Channel, at time.Time, agentGuaranteed bool) (Decision, error) {
	if d, blocked, err := g.dncDecision(ctx, s, ch, at); err != nil || blocked {
		return d, err
	}
	zones, err := Zones(s)
	if err != nil {
		return Decision{}, err
	}
	key, err := g.resolveDebtor(ctx, s)
	if err != nil {
		return Decision{}, err
	}
	hist, err := g.history(ctx, g.rdb, historyKey(key), at)
	if err != nil {
		return Decision{}, err
	}
	d := Decide(g.opt.Calendars, Request{Profile: p, Channel: ch, Zones: zones, At: at, Account: s.Account, AgentGuaranteed: agentGuaranteed}, hist)
	g.warn(d, p, s)
	return d, nil
}

// Reserve decides at the gate's now and, when allowed, records the attempt
// in the same transaction: the contact may go ahead.
func (g *Gate) Reserve(ctx context.Context, p *Profile, s Subject, ch analytics.Channel, attemptID string, agentGuaranteed bool) (Decision, error) {
	now := g.opt.Now()
	if d, blocked, err := g.dncDecision(ctx, s, ch, now); err != nil || blocked {
		return d, err
	}
	zones, err := Zones(s)
	if err != nil {
		return Decision{}, err
	}
	debtor := debtorKey(s)
	key := historyKey(debtor)
	req := Request{Profile: p, Channel: ch, Zones: zones, At: now, Account: s.Account, AgentGuaranteed: agentGuaranteed}
	var d Decision
	for try := 0; ; try++ {
		err := g.rdb.Watch(ctx, func(tx *redis.Tx) error {
			hist, err := g.history(ctx, tx, key, now)
			if err != nil {
				return err
			}
			d = Decide(g.opt.Calendars, req, hist)
			if !d.Allowed {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixMilli()),
					Member: encodeEvent(Event{At: now, Channel: ch, Kind: KindAttempt, Account: s.Account, AttemptID: attemptID})})
				pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.Add(-g.opt.Retain).UnixMilli(), 10))
				pipe.Expire(ctx, key, g.opt.Retain)
				return nil
			})
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) && try < 50 {
			continue // another node changed this debtor's history; decide again
		}
		if err != nil {
			return Decision{}, fmt.Errorf("compliance: reserve %s for %s: %w", ch, s.Phone, err)
		}
		break
	}
	g.warn(d, p, s)
	if d.Allowed {
		g.index(ctx, s, debtor)
	}
	return d, nil
}

// releaseScript removes the attempt event with ARGV[1] as its attempt id
// from the history KEYS[1] (members are ms|channel|kind|account|attempt),
// in one step, so a concurrent Reserve sees the history before or after.
var releaseScript = redis.NewScript(`
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local kind, attempt = string.match(m, '^[^|]*|[^|]*|([^|]*)|[^|]*|(.*)$')
  if kind == 'attempt' and attempt == ARGV[1] then
    n = n + redis.call('ZREM', KEYS[1], m)
  end
end
return n
`)

// Release takes back what Reserve recorded for attemptID: the contact never
// happened (the call was never placed), so it uses up no cap. It reports
// whether there was a reservation to release.
func (g *Gate) Release(ctx context.Context, s Subject, attemptID string) (bool, error) {
	n, err := releaseScript.Run(ctx, g.rdb, []string{historyKey(debtorKey(s))}, attemptID).Int()
	if err != nil {
		return false, fmt.Errorf("compliance: release attempt %s for %s: %w", attemptID, s.Phone, err)
	}
	return n > 0, nil
}

// Record adds an outcome to the debtor's history: a contact, a
// conversation, an abandoned call.
func (g *Gate) Record(ctx context.Context, s Subject, ch analytics.Channel, kind, attemptID string, at time.Time) error {
	debtor := debtorKey(s)
	key := historyKey(debtor)
	_, err := g.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(at.UnixMilli()),
			Member: encodeEvent(Event{At: at, Channel: ch, Kind: kind, Account: s.Account, AttemptID: attemptID})})
		pipe.Expire(ctx, key, g.opt.Retain)
		return nil
	})
	if err != nil {
		return fmt.Errorf("compliance: record %s for %s: %w", kind, s.Phone, err)
	}
	g.index(ctx, s, debtor)
	return nil
}

// Forget erases a subject's contact history (a data-erasure request, or a
// demo starting over). Do-not-contact listings stay.
func (g *Gate) Forget(ctx context.Context, s Subject) error {
	keys := []string{historyKey(debtorKey(s))}
	if s.Account != "" {
		keys = append(keys, indexKey("acct", s.Account))
	}
	if s.Phone != "" {
		keys = append(keys, indexKey("tel", s.Phone))
	}
	for _, k := range keys { // one by one: the keys live in different cluster slots
		if err := g.rdb.Del(ctx, k).Err(); err != nil {
			return fmt.Errorf("compliance: forget %s: %w", k, err)
		}
	}
	return nil
}

// RestoreHistory puts events back into a subject's contact history (from
// the attempt log, after Redis lost it) and re-creates the debtor's index
// keys. An event already there (same kind and attempt) is not added again,
// so a restore may run twice; events older than the retention are skipped.
// It returns how many events it added.
func (g *Gate) RestoreHistory(ctx context.Context, s Subject, events []Event) (int, error) {
	debtor := debtorKey(s)
	key := historyKey(debtor)
	now := g.opt.Now()
	members, err := g.rdb.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("compliance: read history %s: %w", key, err)
	}
	have := map[string]bool{}
	for _, m := range members {
		if e, ok := decodeEvent(m); ok {
			have[e.Kind+"|"+e.AttemptID] = true
		}
	}
	var add []redis.Z
	for _, e := range events {
		if e.At.Before(now.Add(-g.opt.Retain)) || have[e.Kind+"|"+e.AttemptID] {
			continue
		}
		have[e.Kind+"|"+e.AttemptID] = true
		add = append(add, redis.Z{Score: float64(e.At.UnixMilli()), Member: encodeEvent(e)})
	}
	if len(add) > 0 {
		_, err = g.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.ZAdd(ctx, key, add...)
			pipe.Expire(ctx, key, g.opt.Retain)
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("compliance: restore history %s: %w", key, err)
		}
	}
	g.index(ctx, s, debtor)
	return len(add), nil
}

// index lets explain find the debtor from an account id or a number.
func (g *Gate) index(ctx context.Context, s Subject, debtor string) {
	pipe := g.rdb.Pipeline()
	if s.Account != "" {
		pipe.Set(ctx, indexKey("acct", s.Account), debtor, g.opt.Retain)
	}
	if s.Phone != "" {
		pipe.Set(ctx, indexKey("tel", s.Phone), debtor, g.opt.Retain)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		g.log.Warn("compliance: index debtor", "debtor", debtor, "err", err)
	}
}

func (g *Gate) warn(d Decision, p *Profile, s Subject) {
	for _, w := range d.Warnings {
		g.log.Error("COMPLIANCE WARNING: "+w, "profile", p.Name, "phone", s.Phone)
	}
}
