package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Campaign run states.
const (
	StatusStopped = "stopped"
	StatusRunning = "running"
	StatusPaused  = "paused"
)

func (k keys) status() string       { return k.p("status") }
func (k keys) attempts() string     { return k.p("attempts") }
func (k keys) dispositions() string { return k.p("dispositions") }
func (k keys) inflight() string     { return k.p("inflight") }

// SetStatus records a campaign's run state (running, paused, stopped).
func (s *Store) SetStatus(ctx context.Context, campaign, status string) error {
	if err := CheckID(campaign); err != nil {
		return err
	}
	switch status {
	case StatusRunning, StatusPaused, StatusStopped:
	default:
		return fmt.Errorf("campaign %s: status %q: want running, paused or stopped", campaign, status)
	}
	return s.rdb.Set(ctx, k(campaign).status(), status, 0).Err()
}

// Status is a campaign's run state (stopped when never started).
func (s *Store) Status(ctx context.Context, campaign string) (string, error) {
	v, err := s.rdb.Get(ctx, k(campaign).status()).Result()
	if errors.Is(err, redis.Nil) {
		return StatusStopped, nil
	}
	return v, err
}

// NextAttempt counts an attempt on an account and returns its number (1 for the first).
func (s *Store) NextAttempt(ctx context.Context, campaign, account string) (int, error) {
	n, err := s.rdb.HIncrBy(ctx, k(campaign).attempts(), account, 1).Result()
	return int(n), err
}

// UndoAttempt takes back NextAttempt's count: the attempt never happened
// (the call was never placed), so it neither counts toward max_attempts
// nor moves the account to its next phone.
func (s *Store) UndoAttempt(ctx context.Context, campaign, account string) error {
	return s.rdb.HIncrBy(ctx, k(campaign).attempts(), account, -1).Err()
}

// CountDisposition adds one to a campaign's count of a disposition.
func (s *Store) CountDisposition(ctx context.Context, campaign, disposition string) error {
	return s.rdb.HIncrBy(ctx, k(campaign).dispositions(), disposition, 1).Err()
}

// Dispositions are a campaign's attempt counts by disposition.
func (s *Store) Dispositions(ctx context.Context, campaign string) (map[string]int64, error) {
	m, err := s.rdb.HGetAll(ctx, k(campaign).dispositions()).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(m))
	for d, v := range m {
		out[d], _ = strconv.ParseInt(v, 10, 64)
	}
	return out, nil
}

// InFlight marks an account as being dialled by attempt, so a node that
// restarts after a crash knows the call may have happened.
func (s *Store) InFlight(ctx context.Context, campaign, account, attempt string, at time.Time) error {
	return s.rdb.HSet(ctx, k(campaign).inflight(), account, attempt+" "+strconv.FormatInt(ms(at), 10)).Err()
}

// Landed clears an account's in-flight mark.
func (s *Store) Landed(ctx context.Context, campaign, account string) error {
	return s.rdb.HDel(ctx, k(campaign).inflight(), account).Err()
}

// WasInFlight returns the attempt an account was being dialled by when its
// node stopped, if any.
func (s *Store) WasInFlight(ctx context.Context, campaign, account string) (attempt string, since time.Time, ok bool, err error) {
	v, err := s.rdb.HGet(ctx, k(campaign).inflight(), account).Result()
	if errors.Is(err, redis.Nil) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, err
	}
	a, t, _ := strings.Cut(v, " ")
	msv, _ := strconv.ParseInt(t, 10, 64)
	return a, time.UnixMilli(msv), true, nil
}

// InFlightCount is how many of a campaign's calls are in progress.
func (s *Store) InFlightCount(ctx context.Context, campaign string) (int64, error) {
	return s.rdb.HLen(ctx, k(campaign).inflight()).Result()
}
