package campaign

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/marcador/marcador/queue"
)

// leaseNow is the clock of the queue's leases: claiming, extending and
// completing a lease, and marking an account done. A lease is a Redis fact
// that every node judges by its own wall clock (a lease a dead node held
// must run out in real time), so it never follows Options.Now. Everything an
// attempt decides follows Options.Now: its row, the debtor's local time,
// promises, and when the account is due again (retry delays, call backs,
// requeues; the gate's next allowed time is on the gate's clock). A call's
// own timings (ring, answer, hang-up) are measured by its leg. In
// production the clocks are one; tests and simulations move Options.Now.
func leaseNow() time.Time { return time.Now() }

// loopRef is one campaign's loop, so a loop that ends itself removes only
// its own entry.
type loopRef struct{ cancel context.CancelFunc }

func (r *Runner) launch(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loops[id] != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	ref := &loopRef{cancel: cancel}
	r.loops[id] = ref
	r.loopW.Add(1)
	go func() {
		defer r.loopW.Done()
		r.loop(ctx, id)
		r.mu.Lock()
		if r.loops[id] == ref {
			delete(r.loops, id)
		}
		r.mu.Unlock()
		cancel()
	}()
}

// loop tops the campaign up to max_concurrent calls every tick.
func (r *Runner) loop(ctx context.Context, id string) {
	var inflight sync.WaitGroup
	var active int64
	var mu sync.Mutex
	tick := time.NewTicker(r.opt.Tick)
	defer tick.Stop()
	var noCallerID error // logged once while it lasts
	r.log.Info("campaign running", "campaign", id)
	failing := false // a Redis error is logged once per outage, not per tick
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.ready() != nil {
			continue // held: Redis lost its data (the guard logs it once)
		}
		c, err := r.opt.Store.Campaign(ctx, id)
		if errors.Is(err, queue.ErrNotFound) {
			// Deleted, or Redis emptied: nothing to dial until it is uploaded
			// and started again.
			attrs := []any{"campaign", id}
			if err := r.opt.Store.SetStatus(context.WithoutCancel(ctx), id, queue.StatusStopped); err != nil {
				attrs = append(attrs, "status_not_saved", err)
			}
			r.log.Error("campaign definition is gone from Redis: campaign stopped; upload it again and start it", attrs...)
			return
		}
		if err != nil {
			if !failing {
				r.log.Warn("campaign: read definition", "campaign", id, "err", err)
			}
			failing = true
			continue
		}
		failing = false
		trunk := r.opt.Trunks[c.Trunk]
		if trunk == nil {
			continue
		}
		// The definition may have changed since Start checked it.
		if err := checkCallerID(c, trunk); err != nil {
			if noCallerID == nil {
				r.log.Error("campaign: not dialing", "campaign", id, "err", err)
			}
			noCallerID = err
			continue
		}
		noCallerID = nil
		mu.Lock()
		free := int64(c.MaxConcurrent) - active
		mu.Unlock()
		if room := int64(trunk.MaxChannels() - trunk.InUse()); room < free {
			free = room
		}
		if free <= 0 {
			continue
		}
		leases, err := r.opt.Store.Claim(ctx, id, int(free), leaseNow())
		if err != nil {
			r.log.Warn("campaign: claim", "campaign", id, "err", err)
			continue
		}
		for _, l := range leases {
			mu.Lock()
			active++
			mu.Unlock()
			inflight.Add(1)
			r.calls.Add(1)
			go func() {
				defer r.calls.Done()
				defer inflight.Done()
				defer func() { mu.Lock(); active--; mu.Unlock() }()
				// A call in progress finishes even when the campaign pauses.
				if err := r.work(context.WithoutCancel(ctx), c, trunk, l); err != nil {
					r.log.Error("campaign: contact", "campaign", id, "account", l.Account.ID, "err", err)
				}
			}()
		}
	}
}
