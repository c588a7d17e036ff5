package promise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/analytics/chtest"
	"github.com/marcador/marcador/analytics/writer"
	"github.com/marcador/marcador/analytics/writer/writertest"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/redistest"
)

// harness is a ledger of its own on the dev Redis, writing to a ClickHouse
// database of its own.
type harness struct {
	rdb    redis.UniversalClient
	conn   driver.Conn
	db     string
	w      *writer.Writer
	store  *queue.Store
	ledger *Ledger
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{rdb: redistest.Client(t), conn: chtest.Conn(t)}
	h.db = chtest.Database(t, h.conn)
	h.w = writertest.Start(t, h.conn, h.db)
	h.store = queue.New(queue.Options{Client: h.rdb, NodeID: "e2e"})
	h.ledger = h.newLedger(t, with{})
	return h
}

// with is how a test's ledger differs from the harness's.
type with struct {
	now    func() time.Time      // default time.Now
	redis  redis.UniversalClient // default the harness's; a faulty one injects errors
	writer Writer                // default the harness's writer
	log    *logs                 // default slog.Default()
}

// newLedger is a ledger on keys no other test uses (deleted when the test
// ends).
func (h *harness) newLedger(t *testing.T, o with) *Ledger {
	t.Helper()
	key := redistest.Key(t, h.rdb, promisesKey)
	t.Cleanup(func() {
		ctx := context.Background()
		h.rdb.Del(ctx, key)
		iter := h.rdb.Scan(ctx, 0, key+":*", 100).Iterator()
		for iter.Next(ctx) {
			h.rdb.Del(ctx, iter.Val())
		}
	})
	opt := Options{Redis: o.redis, Store: h.store, Writer: o.writer, Node: "e2e", Now: o.now, Key: key}
	if opt.Redis == nil {
		opt.Redis = h.rdb
	}
	if opt.Writer == nil {
		opt.Writer = h.w
	}
	if o.log != nil {
		opt.Logger = slog.New(slog.NewTextHandler(o.log, nil))
	}
	return New(opt)
}

// campaignWith loads a campaign with one account, prefix-<n>, and returns
// their ids.
func (h *harness) campaignWith(t *testing.T, prefix string) (campaign, account string) {
	t.Helper()
	ctx := context.Background()
	campaign = redistest.CampaignID(t, h.rdb)
	account = fmt.Sprint(prefix, "-", time.Now().UnixNano())
	if _, err := h.store.PutCampaign(ctx, queue.Campaign{ID: campaign, Country: "MX", Currency: "MXN", TimeZone: "America/Mexico_City"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Load(ctx, campaign, []queue.Account{{ID: account, Country: "MX", Phones: []queue.Phone{{Number: "+525512349992"}},
		Balance: decimal.NewFromInt(900), Currency: "MXN"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return campaign, account
}

// logs keeps what a ledger logged.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// line returns the first line that holds every one of parts, or "".
func (l *logs) line(parts ...string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range strings.Split(l.buf.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(ln, p)
		}
		if all {
			return ln
		}
	}
	return ""
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// faults makes a client to the dev Redis fail the commands a test names,
// so the ledger's answer to a Redis error mid-way can be seen; everything
// else reaches the real server.
type faults struct {
	mu   sync.Mutex
	fail func(name string, args []any) bool
}

var errInjected = errors.New("injected Redis failure")

// faultyClient is a client whose commands fail while f says so.
func faultyClient(t *testing.T) (redis.UniversalClient, *faults) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redistest.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	f := &faults{}
	c.AddHook(f)
	return c, f
}

// failOn makes the commands for which fail is true fail (nil: none).
func (f *faults) failOn(fail func(name string, args []any) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

// failing is a fail func: command name on a key starting with prefix.
func failing(name, prefix string) func(string, []any) bool {
	return func(n string, args []any) bool {
		if n != name || len(args) < 2 {
			return false
		}
		k, _ := args[1].(string)
		return strings.HasPrefix(k, prefix)
	}
}

func (f *faults) fails(cmd redis.Cmder) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail != nil && f.fail(cmd.Name(), cmd.Args())
}

func (f *faults) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *faults) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f.fails(cmd) {
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

func (f *faults) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if f.fails(c) {
				for _, c := range cmds {
					c.SetErr(errInjected)
				}
				return errInjected
			}
		}
		return next(ctx, cmds)
	}
}

// refusing is the harness's writer until refuse is set; then it refuses
// every row, as a writer whose spool is full does.
type refusing struct {
	w      Writer
	mu     sync.Mutex
	refuse bool
}

func (r *refusing) set(refuse bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = refuse
}

func (r *refusing) Write(ctx context.Context, row analytics.Row) error {
	r.mu.Lock()
	refuse := r.refuse
	r.mu.Unlock()
	if refuse {
		return errors.New("writer: spool full")
	}
	return r.w.Write(ctx, row)
}
