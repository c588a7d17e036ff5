package campaign

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/dialer"
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
type loopRef struct {
	cancel context.CancelFunc
	state  *loopState
}

// launch starts campaign id's loop on this node, unless it runs already.
func (r *Runner) launch(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loops[id] != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	ref := &loopRef{cancel: cancel, state: &loopState{id: id, pacer: pacer{lines: newLines(r.opt.Now)}}}
	r.loops[id] = ref
	r.loopW.Add(1)
	go func() {
		defer r.loopW.Done()
		r.loop(ctx, ref.state)
		r.mu.Lock()
		if r.loops[id] == ref {
			delete(r.loops, id)
		}
		r.mu.Unlock()
		cancel()
	}()
}

// loop places the campaign's calls every tick, as its pacer decides.
func (r *Runner) loop(ctx context.Context, s *loopState) {
	id := s.id
	tick := time.NewTicker(r.opt.Tick)
	defer tick.Stop()
	r.log.Info("campaign running", "campaign", id)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.ready() != nil {
			continue // held: Redis lost its data (the guard logs it once)
		}
		c, trunk, ok, gone := r.dialable(ctx, s)
		if gone {
			return
		}
		if ok {
			r.topUp(ctx, s, c, trunk)
		}
	}
}

// loopState is what one campaign's loop keeps between ticks.
type loopState struct {
	id         string
	active     atomic.Int64 // calls in progress
	failing    bool         // a Redis error is logged once per outage, not per tick
	noCallerID error        // logged once while it lasts
	pacer      pacer        // pace.go
}

// dialable reads the campaign's definition and says whether it may dial
// now, and whether it is gone (then the campaign is stopped).
func (r *Runner) dialable(ctx context.Context, s *loopState) (c queue.Campaign, trunk *dialer.Trunk, ok, gone bool) {
	id := s.id
	c, err := r.opt.Store.Campaign(ctx, id)
	if errors.Is(err, queue.ErrNotFound) {
		// Deleted, or Redis emptied: nothing to dial until it is uploaded
		// and started again.
		attrs := []any{"campaign", id}
		if err := r.opt.Store.SetStatus(context.WithoutCancel(ctx), id, queue.StatusStopped); err != nil {
			attrs = append(attrs, "status_not_saved", err)
		}
		r.log.Error("campaign definition is gone from Redis: campaign stopped; upload it again and start it", attrs...)
		return c, nil, false, true
	}
	if err != nil {
		if !s.failing {
			r.log.Warn("campaign: read definition", "campaign", id, "err", err)
		}
		s.failing = true
		return c, nil, false, false
	}
	s.failing = false
	trunk = r.opt.Trunks[c.Trunk]
	if trunk == nil {
		return c, nil, false, false
	}
	// The definition may have changed since Start checked it.
	if err := checkCallerID(c, trunk); err != nil {
		if s.noCallerID == nil {
			r.log.Error("campaign: not dialing", "campaign", id, "err", err)
		}
		s.noCallerID = err
		return c, nil, false, false
	}
	s.noCallerID = nil
	return c, trunk, true, false
}

// topUp claims as many contacts as the campaign's pacer decides (pace.go)
// and works each on its own goroutine.
func (r *Runner) topUp(ctx context.Context, s *loopState, c queue.Campaign, trunk *dialer.Trunk) {
	if !c.Paced() {
		return // preview: the agents claim and dial (preview.go)
	}
	free := r.pace(ctx, s, c, trunk)
	if free <= 0 {
		return
	}
	leases, err := r.opt.Store.Claim(ctx, s.id, free, leaseNow())
	// What the pacer decided and the queue did not fill is not a call.
	s.pacer.refund(s.pacer.decider, free-len(leases))
	if err != nil {
		r.log.Warn("campaign: claim", "campaign", s.id, "err", err)
		return
	}
	if len(leases) > 0 {
		r.dialled(ctx, s, c, len(leases))
	}
	for _, l := range leases {
		s.active.Add(1)
		r.calls.Add(1)
		ln := s.pacer.lines.add()
		go func() {
			defer r.calls.Done()
			defer s.active.Add(-1)
			defer ln.done()
			// A call in progress finishes even when the campaign pauses.
			if err := r.work(context.WithoutCancel(ctx), c, trunk, l, ln); err != nil {
				r.log.Error("campaign: contact", "campaign", s.id, "account", l.Account.ID, "err", err)
			}
		}()
	}
}

// keepLease extends l while a call lasts: every 30 s until the returned
// stop is called, which returns the lease as last extended.
func (r *Runner) keepLease(ctx context.Context, l queue.Lease) (stop func() queue.Lease) {
	lease := l
	stopExtend, extended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(extended)
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopExtend:
				return
			case <-t.C:
				if err := r.opt.Store.Extend(ctx, &lease, leaseNow()); err != nil {
					r.log.Warn("campaign: extend lease", "campaign", lease.Campaign, "account", lease.Account.ID, "err", err)
				}
			}
		}
	}()
	return func() queue.Lease {
		close(stopExtend)
		<-extended
		return lease
	}
}
