package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one transition as published on the campaign's stream.
type Event struct {
	// ID is the stream entry id: the cursor to read on from.
	ID       string `json:"id"`
	Campaign string `json:"campaign"`
	Agent    string `json:"agent"`
	// Kind is what happened: login, ready, pause, logout, reserve, release,
	// connect, hangup, end_wrap, disconnect, reap (node_lost) or evict.
	// A pause or logout asked for in a call has From == To and Leaving set;
	// a ready that cancels it has reason leave_cancelled.
	Kind    string    `json:"event"`
	From    State     `json:"from"`
	To      State     `json:"to"`
	At      time.Time `json:"at"`
	Node    string    `json:"node,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Call    string    `json:"call,omitempty"`
	Leaving Leaving   `json:"leaving,omitempty"`
}

func parseEvent(m redis.XMessage) Event {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	at, _ := strconv.ParseInt(s("at"), 10, 64)
	return Event{ID: m.ID, Campaign: s("campaign"), Agent: s("agent"), Kind: s("event"), From: State(s("from")),
		To: State(s("to")), At: fromMS(at), Node: s("node"), Reason: s("reason"), Call: s("call"),
		Leaving: Leaving(s("leaving"))}
}

// Events reads up to count events of campaign after the entry id after
// ("" or "0" from the oldest kept), oldest first, without waiting.
func (p *Pool) Events(ctx context.Context, campaign, after string, count int64) ([]Event, error) {
	if err := checkRef("campaign", campaign); err != nil {
		return nil, err
	}
	start := "-"
	if after != "" && after != "0" && after != "0-0" {
		start = "(" + after
	}
	msgs, err := p.rdb.XRangeN(ctx, ck(campaign).events(), start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("agent events of %s after %q: %w", campaign, after, err)
	}
	out := make([]Event, len(msgs))
	for i, m := range msgs {
		out[i] = parseEvent(m)
	}
	return out, nil
}

// LastEventID is the id of the campaign's newest event ("0-0" when none):
// where a reader that wants only what comes next starts.
func (p *Pool) LastEventID(ctx context.Context, campaign string) (string, error) {
	if err := checkRef("campaign", campaign); err != nil {
		return "", err
	}
	msgs, err := p.rdb.XRevRangeN(ctx, ck(campaign).events(), "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("agent events of %s: last id: %w", campaign, err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// Follow calls fn with every event of campaign after the entry id after, in
// order, waiting for new ones, until ctx ends (it returns ctx's error) or fn
// returns an error (returned). after "" or "$" starts with the events
// published from now on; "0" from the oldest kept. Every node and web page
// can follow a campaign this way: the stream is shared, reading it takes
// nothing from other readers.
func (p *Pool) Follow(ctx context.Context, campaign, after string, fn func(Event) error) error {
	if err := checkRef("campaign", campaign); err != nil {
		return err
	}
	if after == "" || after == "$" {
		id, err := p.LastEventID(ctx, campaign)
		if err != nil {
			return err
		}
		after = id
	}
	key := ck(campaign).events()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := p.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{key, after}, Count: 256, Block: p.block}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow agent events of %s after %s: %w", campaign, after, err)
		}
		for _, s := range res {
			for _, m := range s.Messages {
				after = m.ID
				if err := fn(parseEvent(m)); err != nil {
					return err
				}
			}
		}
	}
}
