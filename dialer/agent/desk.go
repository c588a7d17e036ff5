package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The desk: what an agent's screen is told about its calls (the screen pop
// with the debtor's account when a call connects, the call's end, the end
// of wrap-up), for GET /api/v1/agents/{id}/events. The node holding a call
// publishes to one stream every node reads, marcador:{agents}:desk (XADD
// MAXLEN ~ DeskOptions.MaxLen); each node follows it with one blocking read
// and hands every event to the local subscribers of its agent. A stream
// (not Pub/Sub) lets a screen that reconnects resume after the last event it
// saw (Last-Event-ID).

const deskKey = dirTag + "desk"

// Desk event kinds.
const (
	DeskCall      = "call"       // a call connected: the screen pop (Data is the account and its history)
	DeskCallEnded = "call_ended" // the debtor's side is over (hung up, or handed to the IVR): wrap-up
	DeskWrapEnded = "wrap_ended" // wrap-up is over: the agent's disposition, or the limit
	DeskDigit     = "digit"      // the debtor pressed a key
)

// DeskEvent is one event for an agent's screen.
type DeskEvent struct {
	ID    string          `json:"id"` // the stream entry id: the cursor to resume after
	Agent string          `json:"agent"`
	Kind  string          `json:"event"`
	Call  string          `json:"call,omitempty"`
	At    time.Time       `json:"at"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// DeskOptions configure a Desk.
type DeskOptions struct {
	Client redis.UniversalClient // required
	// MaxLen bounds the stream (approximately); default 10000.
	MaxLen int64
	// Block is how long one blocking read waits before it looks at its
	// context again; default 2s.
	Block time.Duration
	// Buffer is how many events a slow screen may fall behind before it
	// is dropped (it reconnects and resumes); default 64.
	Buffer int
	Now    func() time.Time
	Logger *slog.Logger
}

// Desk publishes agents' screen events and serves them to this node's
// subscribers.
type Desk struct {
	opt DeskOptions
	rdb redis.UniversalClient
	log *slog.Logger

	mu   sync.Mutex
	subs map[string]map[*deskSub]struct{} // by agent
}

type deskSub struct {
	ch   chan DeskEvent
	gone chan struct{} // closed when the hub dropped it (too slow)
	once sync.Once
}

func (s *deskSub) drop() { s.once.Do(func() { close(s.gone) }) }

// NewDesk returns a Desk; Run it to serve subscribers.
func NewDesk(opt DeskOptions) *Desk {
	if opt.MaxLen <= 0 {
		opt.MaxLen = 10000
	}
	if opt.Block <= 0 {
		opt.Block = 2 * time.Second
	}
	if opt.Buffer <= 0 {
		opt.Buffer = 64
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Desk{opt: opt, rdb: opt.Client, log: opt.Logger, subs: map[string]map[*deskSub]struct{}{}}
}

// Publish adds an event for agent to the stream. data is marshalled to
// JSON.
func (d *Desk) Publish(ctx context.Context, agent, kind, call string, data any) (string, error) {
	if err := checkRef("agent", agent); err != nil {
		return "", err
	}
	var raw []byte
	if data != nil {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return "", fmt.Errorf("desk event %s for %s: %w", kind, agent, err)
		}
	}
	id, err := d.rdb.XAdd(ctx, &redis.XAddArgs{Stream: deskKey, MaxLen: d.opt.MaxLen, Approx: true,
		Values: []any{"agent", agent, "event", kind, "call", call, "at", strconv.FormatInt(ms(d.opt.Now()), 10), "data", string(raw)}}).Result()
	if err != nil {
		return "", fmt.Errorf("desk event %s for %s: %w", kind, agent, err)
	}
	return id, nil
}

func parseDesk(m redis.XMessage) DeskEvent {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	at, _ := strconv.ParseInt(s("at"), 10, 64)
	ev := DeskEvent{ID: m.ID, Agent: s("agent"), Kind: s("event"), Call: s("call"), At: fromMS(at)}
	if v := s("data"); v != "" {
		ev.Data = json.RawMessage(v)
	}
	return ev
}

// Subscribe returns agent's events published from now on, and, when after
// is a stream id (a screen's Last-Event-ID), the ones after it still kept,
// first. The channel closes when ctx ends or the screen falls Buffer events
// behind (it should reconnect with the last id it saw).
func (d *Desk) Subscribe(ctx context.Context, agent, after string) (<-chan DeskEvent, error) {
	if err := checkRef("agent", agent); err != nil {
		return nil, err
	}
	if after != "" && !validStreamID(after) {
		return nil, &FieldError{Agent: agent, Field: "Last-Event-ID", Reason: fmt.Sprintf("%.40q is not an event id", after)}
	}
	sub := &deskSub{ch: make(chan DeskEvent, d.opt.Buffer), gone: make(chan struct{})}
	d.mu.Lock()
	if d.subs[agent] == nil {
		d.subs[agent] = map[*deskSub]struct{}{}
	}
	d.subs[agent][sub] = struct{}{}
	d.mu.Unlock()
	// Registered first, then the backlog: an event published meanwhile
	// arrives both ways and is passed once (by id).
	var backlog []DeskEvent
	if after != "" {
		msgs, err := d.rdb.XRange(ctx, deskKey, "("+after, "+").Result()
		if err != nil {
			d.unsubscribe(agent, sub)
			return nil, fmt.Errorf("desk events of %s after %s: %w", agent, after, err)
		}
		for _, m := range msgs {
			if ev := parseDesk(m); ev.Agent == agent {
				backlog = append(backlog, ev)
			}
		}
	}
	out := make(chan DeskEvent, d.opt.Buffer)
	go func() {
		defer close(out)
		defer d.unsubscribe(agent, sub)
		last := after
		send := func(ev DeskEvent) bool {
			if last != "" && !streamAfter(ev.ID, last) {
				return true
			}
			last = ev.ID
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, ev := range backlog {
			if !send(ev) {
				return
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.gone:
				return
			case ev := <-sub.ch:
				if !send(ev) {
					return
				}
			}
		}
	}()
	return out, nil
}

func (d *Desk) unsubscribe(agent string, sub *deskSub) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.subs[agent], sub)
	if len(d.subs[agent]) == 0 {
		delete(d.subs, agent)
	}
}

// Run follows the stream from now on and hands each event to its agent's
// subscribers on this node, until ctx ends; a Redis failure is logged once
// and retried.
func (d *Desk) Run(ctx context.Context) {
	// "$" is the stream's end when each XREAD starts: kept across reads
	// that time out, it would miss what was added between two of them, so
	// the end as it is now is read once and followed from there.
	last := "$"
	if m, err := d.rdb.XRevRangeN(ctx, deskKey, "+", "-", 1).Result(); err == nil {
		last = "0-0"
		if len(m) > 0 {
			last = m[0].ID
		}
	}
	failing := false
	for ctx.Err() == nil {
		res, err := d.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{deskKey, last}, Count: 256, Block: d.opt.Block}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				d.log.Warn("agent desk: reading events failed; retrying", "err", err)
			}
			failing = true
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if failing {
			d.log.Info("agent desk: reading events again")
			failing = false
		}
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				d.fanOut(parseDesk(m))
			}
		}
	}
}

func (d *Desk) fanOut(ev DeskEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for sub := range d.subs[ev.Agent] {
		select {
		case sub.ch <- ev:
		default:
			// Too slow: drop it; it resumes from its last id.
			sub.drop()
			delete(d.subs[ev.Agent], sub)
		}
	}
}

// validStreamID accepts a Redis stream id, ms-seq.
func validStreamID(s string) bool {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(a, 10, 64)
	_, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil
}

// streamAfter says whether stream id a comes after b.
func streamAfter(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	x, _ := strconv.ParseUint(am, 10, 64)
	y, _ := strconv.ParseUint(bm, 10, 64)
	if x != y {
		return x > y
	}
	p, _ := strconv.ParseUint(as, 10, 64)
	q, _ := strconv.ParseUint(bs, 10, 64)
	return p > q
}
