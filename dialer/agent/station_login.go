package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/dialer"
	"github.com/marcador/marcador/dialer/registrar"
)

// Login logs the agent in to campaign on this node and calls its phone;
// the agent is Ready once the phone has answered. campaign may be empty
// when the agent's definition has exactly one. Errors: ErrNotFound, a
// *FieldError, a *TransitionError, ErrCampaignNotAllowed, ErrNoPhone
// (nothing changed), ErrPhoneUnreachable (the agent is logged out again).
func (s *Station) Login(ctx context.Context, id, campaign string) (Status, error) {
	a, err := s.pool.Get(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if campaign == "" {
		switch len(a.Campaigns) {
		case 1:
			campaign = a.Campaigns[0]
		case 0:
			return Status{}, &FieldError{Agent: id, Field: "campaign", Reason: "the agent has no campaigns: add one to its definition"}
		default:
			return Status{}, &FieldError{Agent: id, Field: "campaign", Reason: "required: the agent works " + strings.Join(a.Campaigns, ", ")}
		}
	}
	if err := checkRef("campaign", campaign); err != nil {
		return Status{}, err
	}
	if err := a.mayWork(campaign); err != nil {
		return Status{}, err
	}
	// Nothing to call: refuse before the login shows on the stream.
	if _, err := s.phone(ctx, id); err != nil {
		return Status{}, err
	}
	st, err := s.pool.Login(ctx, id, campaign, s.node, false)
	if err != nil {
		return Status{}, err
	}
	if _, err := s.ensureLeg(ctx, id, campaign, st.LoginAt); err != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, lerr := s.pool.Logout(lctx, id); lerr != nil && !errors.Is(lerr, ErrTransition) {
			s.log.Error("agent station: agent whose phone was not reached still logged in", "agent", id, "err", lerr)
		}
		return Status{}, err
	}
	return s.pool.Ready(ctx, id)
}

// Ready makes the agent ready (Pool.Ready). A paused agent held here whose
// leg is down (phone_disconnected) gets its phone called again first; one
// held by another node whose leg is down is refused (log out and in
// again).
func (s *Station) Ready(ctx context.Context, id string) (Status, error) {
	st, err := s.pool.Status(ctx, id)
	if err != nil {
		return Status{}, err
	}
	if st.State == Paused {
		if st.Node == s.node {
			if _, err := s.ensureLeg(ctx, id, st.Campaign, st.LoginAt); err != nil {
				return Status{}, err
			}
		} else if st.Reason == ReasonLogin || st.Reason == ReasonPhoneDisconnected {
			return Status{}, &TransitionError{Agent: id, Op: "ready", Campaign: st.Campaign, Current: st.State,
				Detail: "its phone leg is held by node " + st.Node + " and is not up: log out and log in again"}
		}
	}
	return s.pool.Ready(ctx, id)
}

// Pause pauses the agent with a reason code (Pool.Pause); the leg stays up.
func (s *Station) Pause(ctx context.Context, id, reason string) (Status, error) {
	return s.pool.Pause(ctx, id, reason)
}

// Logout logs the agent out (Pool.Logout) and, when that happened at once
// and this node holds the leg, hangs it up. A leg another node holds is
// hung up by that node's Run.
func (s *Station) Logout(ctx context.Context, id string) (Status, error) {
	st, err := s.pool.Logout(ctx, id)
	if err != nil {
		return st, err
	}
	if st.State == LoggedOut {
		s.hangUp(id)
	}
	return st, nil
}

// phone is the agent's current binding (the newest).
func (s *Station) phone(ctx context.Context, id string) (registrar.Binding, error) {
	bs, err := s.opt.Phones.Lookup(ctx, id)
	if err != nil {
		return registrar.Binding{}, fmt.Errorf("agent %s: look up its phone: %w", id, err)
	}
	if len(bs) == 0 {
		return registrar.Binding{}, fmt.Errorf("agent %s: %w", id, ErrNoPhone)
	}
	return bs[0], nil
}

// ensureLeg returns the agent's live leg, calling its phone when there is
// none (one call at a time per agent: a second caller waits for the first).
func (s *Station) ensureLeg(ctx context.Context, id, campaign string, loginAt time.Time) (*held, error) {
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return nil, ErrStopping
		}
		h := s.legs[id]
		if h != nil {
			select {
			case <-h.ready:
				if h.live() && h.loginAt.Equal(loginAt) {
					s.mu.Unlock()
					return h, nil
				}
				// Ended, failed, or a leg of an earlier login: replace it.
				delete(s.legs, id)
				h.release()
				if h.err == nil {
					s.hangUpLocked(h)
				}
				h = nil
			default:
				s.mu.Unlock()
				select {
				case <-h.ready:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				continue
			}
		}
		h = &held{agent: id, campaign: campaign, loginAt: loginAt, ready: make(chan struct{}), ours: make(chan struct{})}
		s.legs[id] = h
		s.mu.Unlock()
		h.leg, h.err = s.dial(ctx, id)
		s.mu.Lock()
		if h.err != nil {
			if s.legs[id] == h {
				delete(s.legs, id)
			}
		} else {
			s.wg.Add(1)
			go s.watch(h)
		}
		close(h.ready)
		s.mu.Unlock()
		if h.err != nil {
			return nil, h.err
		}
		return h, nil
	}
}

// dial calls the agent's registered phone, asking it to answer by itself.
func (s *Station) dial(ctx context.Context, id string) (*dialer.Leg, error) {
	b, err := s.phone(ctx, id)
	if err != nil {
		return nil, err
	}
	leg, err := s.opt.Dialer.Dial(ctx, dialer.DialRequest{To: b.Contact, RingTimeout: s.opt.RingTimeout,
		RTPTimeout: s.opt.RTPTimeout, Direct: &dialer.Direct{Addr: b.Received, Route: b.Path, FromName: s.opt.FromName,
			Headers: AutoAnswerHeaders(b.Contact)}})
	if err != nil {
		return nil, fmt.Errorf("agent %s: call its phone at %s: %w", id, b.Contact, err)
	}
	if r := leg.Result(); r.Answered.IsZero() {
		why := r.Reason
		if r.SIPCode != 0 {
			why = fmt.Sprintf("%d %s", r.SIPCode, r.Reason)
		}
		return nil, fmt.Errorf("agent %s: %w: %s at %s (via %s)", id, ErrPhoneUnreachable, why, b.Contact, b.Received)
	}
	s.log.Info("agent station: phone leg up", "agent", id, "call_id", leg.CallID, "contact", b.Contact,
		"received", b.Received, "user_agent", b.UserAgent)
	return leg, nil
}

// AutoAnswerHeaders ask a phone to answer the call by itself, at once:
// Call-Info answer-after=0 (Snom, Yealink, Polycom, Linphone, newer
// baresip) and Alert-Info with info=alert-autoanswer (Grandstream, Cisco
// SPA, Yealink). A phone that honours neither must be set to answer by
// itself (Debian's baresip 1.0: answermode=auto on the account).
func AutoAnswerHeaders(uri string) []sip.Header {
	return []sip.Header{
		sip.NewHeader("Call-Info", "<"+uri+">;answer-after=0"),
		sip.NewHeader("Alert-Info", "<http://127.0.0.1/>;info=alert-autoanswer;delay=0"),
	}
}
