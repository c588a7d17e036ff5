// Package epoch tells a node whether Redis still holds the data it has been
// working with. A Redis restarted without persistence comes back empty:
// do-not-contact lists, contact history, queues and promises are gone, and a
// dialer that went on would call opted-out numbers and break caps. So the
// first node on an empty Redis writes a data epoch marker (marcador:epoch)
// and every node keeps a copy in a small local file; a node that finds the
// marker missing (or replaced by another node's first start) holds every
// runner until an operator confirms with `marcador redis restore` or
// `marcador redis accept-empty`, which write a new marker that every node
// sharing the Redis adopts.
package epoch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Key holds the marker; one key for every node sharing the Redis.
const Key = "marcador:epoch"

// Origins of a marker: who wrote it.
const (
	FirstStart  = "first-start"  // a node found Redis empty and had never seen an epoch
	Restore     = "restore"      // an operator ran marcador redis restore
	AcceptEmpty = "accept-empty" // an operator accepted an empty Redis
)

// ErrDataLost says Redis lost the data of this node's epoch and no operator
// has confirmed yet; work that needs Redis's data must wait.
var ErrDataLost = errors.New("redis data lost")

// Marker is the data epoch: written to Redis and to each node's file.
type Marker struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Node      string    `json:"node"`
	Origin    string    `json:"origin"`
}

// confirmed says an operator wrote m: a node whose epoch's data is gone may
// adopt it. A first-start marker it must not: that node simply did not know
// the data was lost.
func (m Marker) confirmed() bool { return m.Origin == Restore || m.Origin == AcceptEmpty }

func (m Marker) String() string {
	return fmt.Sprintf("%s (%s by node %s at %s)", m.ID, m.Origin, m.Node, m.CreatedAt.UTC().Format(time.RFC3339))
}

// NewMarker returns a fresh marker.
func NewMarker(node, origin string, now time.Time) Marker {
	b := make([]byte, 8)
	rand.Read(b)
	return Marker{ID: hex.EncodeToString(b), CreatedAt: now.UTC().Truncate(time.Second), Node: node, Origin: origin}
}

// Read returns the marker in Redis; ok is false when there is none.
func Read(ctx context.Context, rdb redis.UniversalClient) (m Marker, ok bool, err error) {
	b, err := rdb.Get(ctx, Key).Bytes()
	if errors.Is(err, redis.Nil) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("redis: read %s: %w", Key, err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		// Something wrote the key that is not a marker: as good as missing.
		return Marker{}, false, nil
	}
	return m, true, nil
}

// Write puts m in Redis, replacing any marker (an operator's confirmation).
func Write(ctx context.Context, rdb redis.UniversalClient, m Marker) error {
	b, _ := json.Marshal(m)
	if err := rdb.Set(ctx, Key, b, 0).Err(); err != nil {
		return fmt.Errorf("redis: write %s: %w", Key, err)
	}
	return nil
}

// ReadFile returns the marker a node last worked in; ok is false when the
// file does not exist (the node never ran against any Redis).
func ReadFile(path string) (m Marker, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("epoch file: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		return Marker{}, false, fmt.Errorf("epoch file %s: not a marker (remove it only if this node should treat Redis as new)", path)
	}
	return m, true, nil
}

// WriteFile saves m at path (atomically: a crash leaves the old or the new one).
func WriteFile(path string, m Marker) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("epoch file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("epoch file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("epoch file: %w", err)
	}
	return nil
}

// Confirm is an operator's word that Redis holds what it should (after a
// restore, or accepting it empty): a new marker in Redis, which every node
// sharing it adopts at its next check, and in file (this node's copy).
func Confirm(ctx context.Context, rdb redis.UniversalClient, file, node, origin string, now time.Time) (Marker, error) {
	if origin != Restore && origin != AcceptEmpty {
		return Marker{}, fmt.Errorf("epoch: origin %q: want %s or %s", origin, Restore, AcceptEmpty)
	}
	m := NewMarker(node, origin, now)
	if err := Write(ctx, rdb, m); err != nil {
		return Marker{}, err
	}
	if file != "" {
		if err := WriteFile(file, m); err != nil {
			return m, err
		}
	}
	return m, nil
}

// FileBeside is where a node keeps its marker: a file beside its spool
// directory (<spool dir>.redis-epoch), so each node on a machine has its own.
func FileBeside(spoolDir string) string { return filepath.Clean(spoolDir) + ".redis-epoch" }

// Options configure a Guard.
type Options struct {
	Client redis.UniversalClient
	// File is this node's copy of the marker (FileBeside the spool). Required.
	File string
	Node string
	// Interval between checks in Run; default 3s (one GET each).
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Guard holds this node's view of the epoch. Runners ask Err before they
// claim, dial or text; it is safe for concurrent use.
type Guard struct {
	opt Options
	log *slog.Logger

	mu     sync.Mutex
	known  Marker    // the epoch this node works in
	lostAt time.Time // zero while Redis holds the epoch's data
	reason string
}

// New returns a guard; call Init before anything runs.
func New(opt Options) *Guard {
	if opt.Interval <= 0 {
		opt.Interval = 3 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Guard{opt: opt, log: opt.Logger}
}

// Init decides at start: first start on an empty Redis writes the marker; a
// node whose file names an epoch Redis no longer has starts held.
func (g *Guard) Init(ctx context.Context) error {
	local, haveLocal, err := ReadFile(g.opt.File)
	if err != nil {
		return err
	}
	m, present, err := Read(ctx, g.opt.Client)
	if err != nil {
		return err
	}
	if !haveLocal {
		if !present {
			fresh := NewMarker(g.opt.Node, FirstStart, g.opt.Now())
			b, _ := json.Marshal(fresh)
			set, err := g.opt.Client.SetNX(ctx, Key, b, 0).Result()
			if err != nil {
				return fmt.Errorf("redis: write %s: %w", Key, err)
			}
			if set {
				m = fresh
				g.log.Info("redis data epoch created (first start on an empty Redis)", "epoch", m.ID)
			} else if m, present, err = Read(ctx, g.opt.Client); err != nil {
				return err
			} else if !present {
				return fmt.Errorf("redis: %s holds something that is not a data epoch marker", Key)
			}
		} else {
			g.log.Info("redis data epoch joined", "epoch", m.String())
		}
		g.mu.Lock()
		g.known = m
		g.mu.Unlock()
		return WriteFile(g.opt.File, m)
	}
	g.mu.Lock()
	g.known = local
	g.mu.Unlock()
	g.observe(m, present)
	return nil
}

// Check reads the marker once and updates the state; it returns the
// Redis error, else the state (nil or ErrDataLost with the reason).
func (g *Guard) Check(ctx context.Context) error {
	m, present, err := Read(ctx, g.opt.Client)
	if err != nil {
		return err
	}
	g.observe(m, present)
	return g.Err()
}

// observe applies what Redis holds to the state.
func (g *Guard) observe(m Marker, present bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.opt.Now()
	switch {
	case present && m.ID == g.known.ID:
		// Still (or, after an operator's restore, again) the data we know.
		// A marker that vanished and came back unchanged is not trusted:
		// whatever was written in between is unknown, so the loss stands.
	case present && m.confirmed():
		was := g.lostAt
		prev := g.known
		g.known, g.lostAt, g.reason = m, time.Time{}, ""
		if err := WriteFile(g.opt.File, m); err != nil {
			g.log.Error("redis data epoch: local copy not saved", "file", g.opt.File, "err", err)
		}
		if !was.IsZero() {
			g.log.Info("redis data confirmed by an operator; dialing and texting resume", "epoch", m.String(), "lost_since", was)
		} else {
			g.log.Info("redis data epoch replaced by an operator", "epoch", m.String(), "previous", prev.ID)
		}
	case g.lostAt.IsZero():
		g.lostAt = now
		if present {
			g.reason = fmt.Sprintf("epoch marker %s replaced by %s since %s; run marcador redis restore",
				g.known.ID, m, now.UTC().Format(time.RFC3339))
		} else {
			g.reason = fmt.Sprintf("epoch marker %s missing since %s; run marcador redis restore",
				g.known.ID, now.UTC().Format(time.RFC3339))
		}
		g.log.Error("REDIS DATA LOST: dialing and texting stopped until an operator runs `marcador redis restore` (or `marcador redis accept-empty`)",
			"reason", g.reason)
	}
}

// Err is nil while Redis holds this node's epoch, else ErrDataLost with the
// reason. It reads no Redis.
func (g *Guard) Err() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lostAt.IsZero() {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrDataLost, g.reason)
}

// Known is the epoch this node works in.
func (g *Guard) Known() Marker {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.known
}

// Run checks every Interval until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	t := time.NewTicker(g.opt.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, g.opt.Interval)
		m, present, err := Read(cctx, g.opt.Client)
		cancel()
		if err != nil {
			// Redis down is not data loss; the health check says so. One line
			// per outage, not per check.
			if !failing && ctx.Err() == nil {
				g.log.Warn("redis data epoch not checked", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		g.observe(m, present)
	}
}

// Collector exports marcador_redis_data_ok: 1 while Redis holds this node's
// epoch, 0 while runners are held for an operator.
func (g *Guard) Collector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "marcador_redis_data_ok",
		Help: "1 while Redis holds this node's data epoch marker; 0 when its data was lost and dialing and texting wait for marcador redis restore"},
		func() float64 {
			if g.Err() != nil {
				return 0
			}
			return 1
		})
}
