package agent

import (
	"context"
	"time"

	"github.com/marcador/marcador/dialer"
)

// watch follows one leg until it ends or the station ends it: the phone's
// BYE and the RTP timeout end the leg (the dialer), a failed keep-alive
// OPTIONS is judged here.
func (s *Station) watch(h *held) {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.opt.KeepAlive > 0 {
		t := time.NewTicker(s.opt.KeepAlive)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-h.ours:
			return
		case <-h.leg.Ended():
			s.lost(h, h.leg.Result().Reason)
			return
		case <-tick:
			ctx, cancel := context.WithTimeout(context.Background(), s.opt.KeepAliveTimeout)
			err := h.leg.Ping(ctx)
			cancel()
			if err == nil {
				continue
			}
			select {
			case <-h.ours:
				return
			case <-h.leg.Ended():
				continue // its own end says why
			default:
			}
			s.lost(h, "keep-alive failed: "+err.Error())
			s.mu.Lock()
			s.hangUpLocked(h)
			s.mu.Unlock()
			return
		}
	}
}

// hangUp ends the agent's leg on this node, if any.
func (s *Station) hangUp(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.legs[id]
	if h == nil {
		return
	}
	delete(s.legs, id)
	h.release()
	select {
	case <-h.ready:
		if h.err == nil {
			s.hangUpLocked(h)
		}
	default:
		// Still being dialled: hang up what the dial brings.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-h.ready
			if h.err == nil {
				hangupLeg(h.leg)
			}
		}()
	}
}

// hangUpLocked sends the leg's BYE in the background (s.mu held).
func (s *Station) hangUpLocked(h *held) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		hangupLeg(h.leg)
	}()
}

func hangupLeg(l *dialer.Leg) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	l.Hangup(ctx)
}
