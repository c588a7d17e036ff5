package compliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/marcador/marcador/analytics"
)

// DNCEntry is one do-not-contact listing. Campaign "" is global; Channel
// "all" lists every channel.
type DNCEntry struct {
	Phone    string    `json:"phone"`
	Channel  string    `json:"channel"`
	Campaign string    `json:"campaign,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Source   string    `json:"source,omitempty"` // api, ivr, sms, dialer
	At       time.Time `json:"at"`
}

func dncKey(campaign string, ch analytics.Channel) string {
	if campaign == "" {
		campaign = "*"
	}
	return "marcador:dnc:" + campaign + ":" + string(ch)
}

func (e DNCEntry) channels() ([]analytics.Channel, error) {
	if e.Channel == "" || e.Channel == "all" {
		return analytics.Channels(), nil
	}
	if !analytics.Channel(e.Channel).Valid() {
		return nil, fmt.Errorf("channel %q: want voice, sms, whatsapp or all", e.Channel)
	}
	return []analytics.Channel{analytics.Channel(e.Channel)}, nil
}

// AddDNC lists entries (phones must be E.164).
func (g *Gate) AddDNC(ctx context.Context, entries ...DNCEntry) error {
	return g.addDNC(ctx, true, entries)
}

// RestoreDNC lists entries again from their durable copy (marcador dnc
// rebuild) without recording them a second time.
func (g *Gate) RestoreDNC(ctx context.Context, entries ...DNCEntry) error {
	return g.addDNC(ctx, false, entries)
}

func (g *Gate) addDNC(ctx context.Context, journal bool, entries []DNCEntry) error {
	type one struct {
		e  DNCEntry
		ch analytics.Channel
	}
	var all []one
	for _, e := range entries {
		chans, err := e.channels()
		if err != nil {
			return fmt.Errorf("dnc %s: %w", e.Phone, err)
		}
		if len(e.Phone) < 4 || e.Phone[0] != '+' {
			return fmt.Errorf("dnc %q: not an E.164 number", e.Phone)
		}
		if e.At.IsZero() {
			e.At = g.opt.Now()
		}
		for _, ch := range chans {
			e.Channel = string(ch)
			all = append(all, one{e, ch})
		}
	}
	if journal {
		for _, o := range all {
			if err := g.journal(ctx, o.e, analytics.DNCAdd, o.e.At); err != nil {
				return err
			}
		}
	}
	pipe := g.rdb.Pipeline()
	for _, o := range all {
		b, _ := json.Marshal(o.e)
		pipe.HSet(ctx, dncKey(o.e.Campaign, o.ch), o.e.Phone, b)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("dnc: %w", err)
	}
	return nil
}

// RemoveDNC takes a listing off (a debtor who asked to be called again).
func (g *Gate) RemoveDNC(ctx context.Context, e DNCEntry) error {
	chans, err := e.channels()
	if err != nil {
		return fmt.Errorf("dnc %s: %w", e.Phone, err)
	}
	for _, ch := range chans {
		one := e
		one.Channel = string(ch)
		if err := g.journal(ctx, one, analytics.DNCRemove, g.opt.Now()); err != nil {
			return err
		}
	}
	pipe := g.rdb.Pipeline()
	for _, ch := range chans {
		pipe.HDel(ctx, dncKey(e.Campaign, ch), e.Phone)
	}
	_, err = pipe.Exec(ctx)
	return err
}

// journal writes one dnc_events row (one channel), before Redis changes: a
// listing that reached Redis is always in the durable copy.
func (g *Gate) journal(ctx context.Context, e DNCEntry, action string, at time.Time) error {
	if g.opt.Writer == nil {
		return nil
	}
	// ver orders a number's events: nanoseconds, strictly increasing here
	// even when the clock stands still (a test clock) or steps back.
	ver := g.opt.Now().UnixNano()
	for {
		last := g.ver.Load()
		if ver <= last {
			ver = last + 1
		}
		if g.ver.CompareAndSwap(last, ver) {
			break
		}
	}
	row := analytics.DNCEvent{EventID: analytics.NewAttemptID(), Phone: e.Phone, Channel: analytics.Channel(e.Channel),
		CampaignID: e.Campaign, Action: action, Reason: e.Reason, Source: e.Source, At: at, NodeID: g.opt.Node, Ver: uint64(ver)}
	if err := g.opt.Writer.Write(ctx, &row); err != nil {
		return fmt.Errorf("dnc %s %s: durable copy not written: %w", action, e.Phone, err)
	}
	return nil
}

// ListedIn reports whether phone is on exactly one list: campaign's own
// ("" the global one) for ch.
func (g *Gate) ListedIn(ctx context.Context, phone string, ch analytics.Channel, campaign string) (bool, error) {
	ok, err := g.rdb.HExists(ctx, dncKey(campaign, ch), phone).Result()
	if err != nil {
		return false, fmt.Errorf("dnc %s: %w", phone, err)
	}
	return ok, nil
}

// LookupDNC returns the listing that stops a contact, global first.
func (g *Gate) LookupDNC(ctx context.Context, phone string, ch analytics.Channel, campaign string) (DNCEntry, bool, error) {
	scopes := []string{""}
	if campaign != "" {
		scopes = append(scopes, campaign)
	}
	for _, sc := range scopes {
		b, err := g.rdb.HGet(ctx, dncKey(sc, ch), phone).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return DNCEntry{}, false, fmt.Errorf("dnc: %w", err)
		}
		var e DNCEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return DNCEntry{}, false, fmt.Errorf("dnc %s: %w", phone, err)
		}
		return e, true, nil
	}
	return DNCEntry{}, false, nil
}

func (g *Gate) dncDecision(ctx context.Context, s Subject, ch analytics.Channel, at time.Time) (Decision, bool, error) {
	e, ok, err := g.LookupDNC(ctx, s.Phone, ch, s.Campaign)
	if err != nil || !ok {
		return Decision{}, false, err
	}
	scope := "global"
	if e.Campaign != "" {
		scope = "campaign " + e.Campaign
	}
	reason := fmt.Sprintf("%s is on the %s do-not-contact list for %s since %s", s.Phone, scope, ch, e.At.Format(time.DateOnly))
	if e.Reason != "" {
		reason += " (" + e.Reason + ")"
	}
	if z, err := Zones(s); err == nil {
		at = at.In(z[0])
	}
	return Decision{Reason: reason, Rule: "dnc", LocalTime: at}, true, nil
}
