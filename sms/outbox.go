package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/marcador/marcador/queue"
)

// Enqueue keeps req in Redis until due, for Run to send.
func (s *Sender) Enqueue(ctx context.Context, req Request, due time.Time) error {
	if req.Key == "" {
		return errors.New("sms: enqueue: empty key")
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("sms: enqueue %s: %w", req.Key, err)
	}
	return s.opt.Store.OutboxAdd(ctx, b, due)
}

// Run sends queued requests as they come due, a few at a time, until ctx
// ends. A request a dead node had taken comes due again after five minutes
// and its key keeps it from being sent twice.
func (s *Sender) Run(ctx context.Context) error {
	const workers = 8
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if s.ready() != nil {
			continue // held: queued texts wait in Redis (the guard logs why)
		}
		// The outbox is claimed on the attempts' clock (Options.Now), not
		// the wall clock the campaign queue's leases use: what it holds is
		// due at times the gate chose on its clock, and its lease only
		// brings back an item whose node died.
		items, err := s.opt.Store.OutboxClaim(ctx, s.opt.Now(), workers, 5*time.Minute)
		if err != nil {
			s.log.Warn("sms: outbox", "err", err)
			continue
		}
		for _, it := range items {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s.sendQueued(context.WithoutCancel(ctx), it)
			}()
		}
	}
}

// sendQueued sends one outbox item and removes it, unless trying again
// later may help (a failure of our own: its lease runs out and it comes due
// again).
func (s *Sender) sendQueued(ctx context.Context, item []byte) {
	var req Request
	if err := json.Unmarshal(item, &req); err != nil {
		s.log.Error("sms: dropping unreadable outbox item", "item", string(item), "err", err)
		s.outboxDone(ctx, item, "")
		return
	}
	res, err := s.Send(ctx, req)
	if errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrRefused) {
		// Trying again cannot help: drop it, loudly.
		s.log.Error("sms: queued send refused, dropped", "key", req.Key, "err", err)
		s.outboxDone(ctx, item, req.Key)
		return
	}
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		s.log.Error("sms: queued send failed; it is tried again later", "key", req.Key, "err", err)
		return // the lease runs out and the item comes due again
	}
	if err != nil {
		s.log.Warn("sms: queued send dropped", "key", req.Key, "err", err)
	}
	s.outboxDone(ctx, item, req.Key)
	if res.Outcome != "" && res.Outcome != Sent {
		s.log.Info("sms: queued send not sent", "key", req.Key, "outcome", res.Outcome, "reason", res.Reason)
	}
}

// outboxDone removes a finished item. A failure is logged, not returned
// (the item is finished; nobody waits for it): the item comes due again
// when its lease ends, and its key keeps it from being sent twice.
func (s *Sender) outboxDone(ctx context.Context, item []byte, key string) {
	if err := s.opt.Store.OutboxDone(ctx, item); err != nil {
		s.log.Warn("sms: outbox item not removed; it comes due again when its lease ends", "key", key, "item", string(item), "err", err)
	}
}
