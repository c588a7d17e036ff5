package registrar

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Nonces are stateless: base64url(issued ms | 8 random bytes | MAC), the MAC
// being HMAC-SHA256(secret, realm | issued | random) cut to 16 bytes. Any
// node holding the secret checks any node's nonce without a Redis round
// trip; a nonce older than the TTL is stale (RFC 7616 §3.3: the phone
// retries with a new one without asking its user).
//
// Replay: a nonce may be used for many requests (phones refresh with the
// nonce they hold and a growing nonce count, RFC 7616 §3.4), so the highest
// nonce count accepted for each nonce is kept in Redis until the nonce
// expires, and a request whose count is not above it is refused as stale.

const (
	nonceRandom = 8
	nonceMAC    = 16
	nonceLen    = 8 + nonceRandom + nonceMAC
	// nonceSkew is how far in the future a nonce may have been issued
	// (clocks of nodes differ).
	nonceSkew = time.Minute
)

var (
	errNonceInvalid = errors.New("nonce not issued by this registrar")
	errNonceExpired = errors.New("nonce expired")
)

type nonces struct {
	realm string
	ttl   time.Duration
	keys  atomic.Pointer[nonceKeys]
}

// nonceKeys are the secret nonces are minted with and the one before it,
// still checked (a node that adopts another's secret keeps honouring the
// nonces it gave out).
type nonceKeys struct{ cur, prev []byte }

func newNonces(secret []byte, realm string, ttl time.Duration) *nonces {
	n := &nonces{realm: realm, ttl: ttl}
	n.keys.Store(&nonceKeys{cur: secret})
	return n
}

func (n *nonces) mac(secret, issuedAndRandom []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(n.realm))
	m.Write([]byte{0})
	m.Write(issuedAndRandom)
	return m.Sum(nil)[:nonceMAC]
}

func (n *nonces) mint(now time.Time) string {
	b := make([]byte, nonceLen)
	binary.BigEndian.PutUint64(b, uint64(now.UnixMilli()))
	rand.Read(b[8 : 8+nonceRandom])
	copy(b[8+nonceRandom:], n.mac(n.keys.Load().cur, b[:8+nonceRandom]))
	return base64.RawURLEncoding.EncodeToString(b)
}

// check says when a nonce was issued, or why it cannot be used now.
func (n *nonces) check(nonce string, now time.Time) (time.Time, error) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return time.Time{}, errNonceInvalid
	}
	k := n.keys.Load()
	mac := b[8+nonceRandom:]
	if !hmac.Equal(mac, n.mac(k.cur, b[:8+nonceRandom])) && (k.prev == nil || !hmac.Equal(mac, n.mac(k.prev, b[:8+nonceRandom]))) {
		return time.Time{}, errNonceInvalid
	}
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	if issued.After(now.Add(nonceSkew)) {
		return time.Time{}, errNonceInvalid
	}
	if now.Sub(issued) >= n.ttl {
		return issued, errNonceExpired
	}
	return issued, nil
}

// ncKey holds the highest nonce count accepted for a nonce.
func ncKey(nonce string) string { return "marcador:registrar:nc:" + nonce }

// ncScript accepts ARGV[1] when it is above the count kept, keeping it for
// ARGV[2] ms. Returns 1 when accepted.
//
// KEYS: the nonce's key. ARGV: nc ttl_ms.
var ncScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local nc = tonumber(ARGV[1])
if nc <= last then return 0 end
redis.call('SET', KEYS[1], nc, 'PX', ARGV[2])
return 1
`)

// useCount records nonce count nc for a nonce issued at issued; false when
// a request already used this count or a higher one (a replay).
func (n *nonces) useCount(ctx context.Context, rdb redis.UniversalClient, nonce string, nc int, issued, now time.Time) (bool, error) {
	ttl := issued.Add(n.ttl + nonceSkew).Sub(now)
	if ttl < time.Second {
		ttl = time.Second
	}
	ok, err := ncScript.Run(ctx, rdb, []string{ncKey(nonce)}, nc, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("nonce count %d: %w", nc, err)
	}
	return ok == 1, nil
}

// secretKey holds the nonce secret every node shares when none is
// configured.
const secretKey = "marcador:registrar:nonce_secret"

// sharedSecret returns the nonce secret kept in Redis, writing mine when
// there is none (SET NX: every node ends up with the same one). mine nil
// makes a fresh one. written says mine was stored.
func sharedSecret(ctx context.Context, rdb redis.UniversalClient, mine []byte) (secret []byte, written bool, err error) {
	if mine == nil {
		mine = make([]byte, 32)
		rand.Read(mine)
	}
	if written, err = rdb.SetNX(ctx, secretKey, hex.EncodeToString(mine), 0).Result(); err != nil {
		return nil, false, fmt.Errorf("nonce secret %s: %w", secretKey, err)
	}
	v, err := rdb.Get(ctx, secretKey).Result()
	if err != nil {
		return nil, false, fmt.Errorf("nonce secret %s: %w", secretKey, err)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 16 {
		return nil, false, fmt.Errorf("nonce secret %s: not 16 or more hex-encoded bytes", secretKey)
	}
	return b, written, nil
}

// syncSecret keeps this node's nonce secret the one in Redis. After Redis
// lost its data, the first node to sync writes its secret back and the
// others adopt it, so a nonce one node gave out is good on every node
// again (until then a phone answering another node's nonce is challenged
// again, stale=true).
func (r *Registrar) syncSecret(ctx context.Context) error {
	if r.opt.Secret != nil {
		return nil
	}
	k := r.nonces.keys.Load()
	shared, written, err := sharedSecret(ctx, r.rdb, k.cur)
	if err != nil {
		return err
	}
	if written {
		r.log.Info("sip registrar: nonce secret was missing from Redis; wrote this node's", "key", secretKey)
	}
	if !hmac.Equal(shared, k.cur) {
		r.nonces.keys.Store(&nonceKeys{cur: shared, prev: k.cur})
		r.log.Info("sip registrar: adopted the nonce secret in Redis", "key", secretKey)
	}
	return nil
}
