package sms

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keeps the texting state in Redis: a record per idempotent send (so
// a retried request never texts twice and a status callback finds the
// attempt it updates), a once-per-period mark per debtor and template, the
// shared rate of each sender, the outbox of sends that wait for their time
// (a fallback after a call, a text the compliance window deferred), the
// inbound messages already handled and each phone's conversation. Each
// script touches one key, so Redis Cluster works. It is safe for concurrent
// use.
type Store struct {
	rdb    redis.UniversalClient
	outbox string
}

// StoreOptions configures a Store.
type StoreOptions struct {
	// Client is a go-redis UniversalClient (single node, Sentinel or Cluster). Required.
	Client redis.UniversalClient
	// OutboxKey is the sorted set of texts waiting to be sent. Default
	// marcador:sms:outbox, which every node shares; a test gives its own
	// so that runs never send (or count) each other's texts.
	OutboxKey string
}

// NewStore returns a Store.
func NewStore(opt StoreOptions) *Store {
	if opt.OutboxKey == "" {
		opt.OutboxKey = outboxKey
	}
	return &Store{rdb: opt.Client, outbox: opt.OutboxKey}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// SendRecord is what is kept about one send, by its idempotency key.
type SendRecord struct {
	State   string // claimed, sent, failed, blocked
	SID     string // the provider's message id once sent
	Attempt []byte // the attempt row as first written (analytics encoding)
	Subject []byte // who was texted, for the compliance gate (JSON)
	Rank    int    // the furthest delivery status seen (sms.StatusRank)
	Ver     uint64 // the attempt row's newest version
}

func sendKey(key string) string { return "marcador:sms:send:{" + key + "}" }
func sidKey(sid string) string  { return "marcador:sms:sid:" + sid }

// parseSendRecord reads a record from a script's HGETALL reply.
func parseSendRecord(kv []any) SendRecord {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
	}
	r := SendRecord{State: m["state"], SID: m["sid"], Attempt: []byte(m["attempt"]), Subject: []byte(m["subject"])}
	r.Rank, _ = strconv.Atoi(m["rank"])
	r.Ver, _ = strconv.ParseUint(m["ver"], 10, 64)
	return r
}

var claimSendScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HGETALL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'state', 'claimed')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return false`)

// ClaimSend takes key for one send. It returns claimed=false and the
// existing record when the key was taken before: the request is a retry.
func (s *Store) ClaimSend(ctx context.Context, key string, ttl time.Duration) (SendRecord, bool, error) {
	v, err := claimSendScript.Run(ctx, s.rdb, []string{sendKey(key)}, ttl.Milliseconds()).Slice()
	if err == redis.Nil {
		return SendRecord{State: "claimed"}, true, nil
	}
	if err != nil {
		return SendRecord{}, false, fmt.Errorf("claim send %s: %w", key, err)
	}
	return parseSendRecord(v), false, nil
}

// SaveSend stores the send's outcome and, with a SID, indexes it for the
// status callbacks. It returns the statuses that arrived for that SID
// before it was indexed (parked by AdvanceStatus), for the caller to apply.
func (s *Store) SaveSend(ctx context.Context, key string, r SendRecord, ttl time.Duration) ([]EarlyStatus, error) {
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, sendKey(key), "state", r.State, "sid", r.SID, "attempt", r.Attempt, "subject", r.Subject,
		"rank", r.Rank, "ver", r.Ver)
	pipe.PExpire(ctx, sendKey(key), ttl)
	var old *redis.StatusCmd
	if r.SID != "" {
		old = pipe.SetArgs(ctx, sidKey(r.SID), key, redis.SetArgs{TTL: ttl, Get: true})
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("save send %s: %w", key, err)
	}
	if old == nil {
		return nil, nil
	}
	return parseEarly(old.Val()), nil
}

// EarlyStatus is a delivery status whose callback came before the send
// was saved: the provider may call back between its answer to the create
// request and our record of it.
type EarlyStatus struct {
	Status string
	Code   int
}

// earlyPrefix marks a SID key holding parked statuses instead of a send
// key; earlyTTL bounds how long a status for a SID we never save is kept.
const (
	earlyPrefix = "early:"
	earlyTTL    = 10 * time.Minute
)

func parseEarly(v string) []EarlyStatus {
	rest, ok := strings.CutPrefix(v, earlyPrefix)
	if !ok {
		return nil
	}
	var out []EarlyStatus
	for _, e := range strings.Split(rest, ";") {
		status, code, _ := strings.Cut(e, ",")
		n, _ := strconv.Atoi(code)
		out = append(out, EarlyStatus{Status: status, Code: n})
	}
	return out
}

// ReleaseSend frees key after a failure that sent nothing.
func (s *Store) ReleaseSend(ctx context.Context, key string) error {
	return s.rdb.Del(ctx, sendKey(key)).Err()
}

var advanceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local rank = tonumber(redis.call('HGET', KEYS[1], 'rank') or '0') or 0
if tonumber(ARGV[1]) <= rank then return {} end
redis.call('HSET', KEYS[1], 'rank', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return redis.call('HGETALL', KEYS[1])`)

// resolveSIDScript answers the send key a SID is indexed under or, when
// the send is not saved yet, parks the status (ARGV[1], "status,code") on
// the SID's key for SaveSend to hand back. One key, so a status is parked
// either before SaveSend's SET (and returned by it) or not at all.
var resolveSIDScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 6) ~= 'early:' then return v end
if v then v = v .. ';' .. ARGV[1] else v = 'early:' .. ARGV[1] end
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return false`)

// AdvanceStatus moves the message sid to st, a delivery status of rank.
// It returns the record with its new Ver when the status is news, and
// changed=false when the message already went further (callbacks arrive
// out of order) or is not saved yet (known=false: st is parked and applied
// when SaveSend indexes the SID).
func (s *Store) AdvanceStatus(ctx context.Context, sid string, st EarlyStatus, rank int) (rec SendRecord, known, changed bool, err error) {
	key, err := resolveSIDScript.Run(ctx, s.rdb, []string{sidKey(sid)},
		fmt.Sprintf("%s,%d", st.Status, st.Code), earlyTTL.Milliseconds()).Text()
	if err == redis.Nil {
		return rec, false, false, nil
	}
	if err != nil {
		return rec, false, false, fmt.Errorf("message %s: %w", sid, err)
	}
	v, err := advanceScript.Run(ctx, s.rdb, []string{sendKey(key)}, rank).Slice()
	if err == redis.Nil {
		return rec, false, false, nil
	}
	if err != nil {
		return rec, false, false, fmt.Errorf("message %s: advance status: %w", sid, err)
	}
	if len(v) == 0 {
		return rec, true, false, nil
	}
	return parseSendRecord(v), true, true, nil
}

func templateKey(debtor, template string) string {
	return "marcador:sms:tpl:{" + debtor + "}:" + template
}

// TemplateOnce marks template as sent to debtor for period; false means it
// already was within the period (since the returned time).
func (s *Store) TemplateOnce(ctx context.Context, debtor, template string, period time.Duration, now time.Time) (bool, time.Time, error) {
	ok, err := s.rdb.SetNX(ctx, templateKey(debtor, template), ms(now), period).Result()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("template %s for %s: %w", template, debtor, err)
	}
	if ok {
		return true, time.Time{}, nil
	}
	v, _ := s.rdb.Get(ctx, templateKey(debtor, template)).Int64()
	return false, time.UnixMilli(v), nil
}

// ForgetTemplate undoes TemplateOnce when the message was not sent after all.
func (s *Store) ForgetTemplate(ctx context.Context, debtor, template string) error {
	return s.rdb.Del(ctx, templateKey(debtor, template)).Err()
}

// ForgetTemplates clears every template mark of debtor (a re-run demo, a
// debtor's data erased).
func (s *Store) ForgetTemplates(ctx context.Context, debtor string) error {
	iter := s.rdb.Scan(ctx, 0, "marcador:sms:tpl:{"+debtor+"}:*", 100).Iterator()
	for iter.Next(ctx) {
		if err := s.rdb.Del(ctx, iter.Val()).Err(); err != nil {
			return fmt.Errorf("forget templates of %s: %w", debtor, err)
		}
	}
	return iter.Err()
}

// ForgetTemplatesOf is ForgetTemplates for many debtors in one pass over
// the keyspace (ForgetTemplates scans it once per debtor: slow on a Redis
// holding many keys).
func (s *Store) ForgetTemplatesOf(ctx context.Context, debtors map[string]bool) error {
	prefix := strings.TrimSuffix(templateKey("", ""), "}:")
	iter := s.rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		end := strings.Index(k[len(prefix):], "}")
		if end < 0 || !debtors[k[len(prefix):len(prefix)+end]] {
			continue
		}
		if err := s.rdb.Del(ctx, k).Err(); err != nil {
			return fmt.Errorf("forget templates: %s: %w", k, err)
		}
	}
	return iter.Err()
}

// GCRA on the server's clock, shared by every node: the key holds the
// theoretical arrival time of the next message; the reply is how long the
// caller waits before its message may go.
var rateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return tat - now`)

// RateWait reserves the sender's next slot at perSecond messages a second
// and returns how long to wait for it.
func (s *Store) RateWait(ctx context.Context, sender string, perSecond float64) (time.Duration, error) {
	if perSecond <= 0 {
		return 0, nil
	}
	us, err := rateScript.Run(ctx, s.rdb, []string{"marcador:sms:rate:{" + sender + "}"}, int64(1e6/perSecond)).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate of sender %s: %w", sender, err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

const outboxKey = "marcador:sms:outbox"

// OutboxAdd queues item (unique bytes, e.g. a JSON request with its
// idempotency key) to be sent at due.
func (s *Store) OutboxAdd(ctx context.Context, item []byte, due time.Time) error {
	if err := s.rdb.ZAdd(ctx, s.outbox, redis.Z{Score: float64(ms(due)), Member: item}).Err(); err != nil {
		return fmt.Errorf("outbox add: %w", err)
	}
	return nil
}

var outboxClaimScript = redis.NewScript(`
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(items) do redis.call('ZADD', KEYS[1], ARGV[3], m) end
return items`)

// OutboxClaim returns up to n items due at now, leased until now+lease: an
// item its taker does not finish (OutboxDone) comes due again then.
func (s *Store) OutboxClaim(ctx context.Context, now time.Time, n int, lease time.Duration) ([][]byte, error) {
	v, err := outboxClaimScript.Run(ctx, s.rdb, []string{s.outbox}, ms(now), n, ms(now.Add(lease))).StringSlice()
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("outbox claim: %w", err)
	}
	out := make([][]byte, len(v))
	for i, m := range v {
		out[i] = []byte(m)
	}
	return out, nil
}

// OutboxDone removes a finished item.
func (s *Store) OutboxDone(ctx context.Context, item []byte) error {
	return s.rdb.ZRem(ctx, s.outbox, item).Err()
}

// OutboxDue counts the items due at now and not taken.
func (s *Store) OutboxDue(ctx context.Context, now time.Time) (int64, error) {
	return s.rdb.ZCount(ctx, s.outbox, "-inf", strconv.FormatInt(ms(now), 10)).Result()
}

func inboundKey(sid string) string { return "marcador:sms:inbound:{" + sid + "}" }

// ClaimInbound marks an inbound message, by the provider's id, as being
// handled for ttl; false means it was claimed before (a redelivery).
func (s *Store) ClaimInbound(ctx context.Context, sid string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, inboundKey(sid), ms(time.Now()), ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim inbound message %s: %w", sid, err)
	}
	return ok, nil
}

// ReleaseInbound forgets a claim whose handling failed, so the provider's
// retry is handled.
func (s *Store) ReleaseInbound(ctx context.Context, sid string) error {
	return s.rdb.Del(ctx, inboundKey(sid)).Err()
}

func conversationKey(phone string) string { return "marcador:conversation:{" + phone + "}" }

// AddConversation appends entry to the phone's conversation (the newest 200
// are kept 90 days) for agents to read.
func (s *Store) AddConversation(ctx context.Context, phone string, entry []byte) error {
	pipe := s.rdb.TxPipeline()
	pipe.RPush(ctx, conversationKey(phone), entry)
	pipe.LTrim(ctx, conversationKey(phone), -200, -1)
	pipe.Expire(ctx, conversationKey(phone), 90*24*time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("conversation of %s: %w", phone, err)
	}
	return nil
}

// Conversation returns the phone's conversation, oldest first.
func (s *Store) Conversation(ctx context.Context, phone string) ([][]byte, error) {
	v, err := s.rdb.LRange(ctx, conversationKey(phone), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("conversation of %s: %w", phone, err)
	}
	out := make([][]byte, len(v))
	for i, m := range v {
		out[i] = []byte(m)
	}
	return out, nil
}
