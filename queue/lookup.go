package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The lookup index finds the accounts behind an inbound caller: by any of
// their phones, or by an account or national id number keyed on the phone's
// keypad. Its sets live outside the campaign slots (one per number), so they
// are written after the accounts and read with one SMEMBERS each; a stale
// entry (campaign deleted) is skipped on read.

// Ref names an account of a campaign.
type Ref struct{ Campaign, Account string }

func (r Ref) member() string { return r.Campaign + "/" + r.Account }

func lookupKey(kind, value string) string { return "marcador:lookup:{" + kind + ":" + value + "}" }

// KeypadID is the form of an account or national id a caller can key: its
// digits, when separators (. - / space) are all it has besides them; "" when
// it holds letters (a CURP) or fewer than 4 digits.
func KeypadID(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '.' || r == '-' || r == '/' || r == ' ':
		default:
			return ""
		}
	}
	if b.Len() < 4 {
		return ""
	}
	return b.String()
}

// index adds accts to the lookup sets.
func (s *Store) index(ctx context.Context, campaign string, accts []Account) error {
	pipe := s.rdb.Pipeline()
	for _, a := range accts {
		m := Ref{campaign, a.ID}.member()
		for _, p := range a.Phones {
			pipe.SAdd(ctx, lookupKey("phone", p.Number), m)
		}
		for _, id := range []string{a.ID, a.NationalID} {
			if d := KeypadID(id); d != "" {
				pipe.SAdd(ctx, lookupKey("id", d), m)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("index accounts of %s: %w", campaign, err)
	}
	return nil
}

// LookupPhone returns the accounts holding an E.164 number, in every campaign.
func (s *Store) LookupPhone(ctx context.Context, e164 string) ([]Account, []Ref, error) {
	return s.lookup(ctx, "phone", e164)
}

// LookupID returns the accounts whose account or national id, as digits,
// is digits.
func (s *Store) LookupID(ctx context.Context, digits string) ([]Account, []Ref, error) {
	return s.lookup(ctx, "id", digits)
}

func (s *Store) lookup(ctx context.Context, kind, value string) ([]Account, []Ref, error) {
	if value == "" {
		return nil, nil, nil
	}
	ms, err := s.rdb.SMembers(ctx, lookupKey(kind, value)).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("look up %s %s: %w", kind, value, err)
	}
	sort.Strings(ms)
	var accts []Account
	var refs []Ref
	for _, m := range ms {
		c, id, ok := strings.Cut(m, "/")
		if !ok {
			continue
		}
		a, err := s.Account(ctx, c, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		accts = append(accts, a)
		refs = append(refs, Ref{c, id})
	}
	return accts, refs, nil
}

// AccountCampaigns lists the campaigns that hold account (a payment for an
// account no campaign knows is refused).
func (s *Store) AccountCampaigns(ctx context.Context, account string) ([]string, error) {
	ids, err := s.CampaignIDs(ctx)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.Pipeline()
	has := make([]*redis.BoolCmd, len(ids))
	for i, id := range ids {
		has[i] = pipe.HExists(ctx, k(id).accounts(), account)
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("look up account %s: %w", account, err)
		}
	}
	var out []string
	for i, id := range ids {
		if has[i].Val() {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}
