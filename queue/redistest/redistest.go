// Package redistest gives tests the real development Redis (deploy/dev/up.sh)
// and campaign ids no other test uses.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Addr is $MARCADOR_TEST_REDIS or 127.0.0.1:16379.
func Addr() string {
	if a := os.Getenv("MARCADOR_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:16379"
}

// Client connects or fails the test with a hint.
func Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	return ClientDB(t, 0)
}

// ClientDB is Client on database db: for a package whose tests run clocks
// far from now over state every node shares (dialer/agent reaps every
// campaign's leases as of 2030), kept apart from the other packages' tests
// that run at the same time.
func ClientDB(t testing.TB, db int) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{Addr()}, DB: db})
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Redis at %s is not reachable (start it with deploy/dev/up.sh): %v", Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Key returns prefix with a suffix no other test uses; the key is deleted
// when the test ends. For state a test must not share with other runs, such
// as the SMS outbox (sms.StoreOptions.OutboxKey).
func Key(t testing.TB, c redis.UniversalClient, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	k := prefix + ":t-" + hex.EncodeToString(b)
	t.Cleanup(func() { c.Del(context.Background(), k) })
	return k
}

// CampaignID returns a fresh campaign id; its keys are deleted when the test ends.
func CampaignID(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	id := "t-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, "marcador:{"+id+"}:*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.SRem(ctx, "marcador:campaigns", id)
	})
	return id
}
