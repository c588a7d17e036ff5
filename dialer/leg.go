package dialer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr/media"
)

// DefaultRTPTimeout is how long an answered call may stay silent (no RTP
// from the far end) before we hang up.
const DefaultRTPTimeout = 30 * time.Second

// Result is how a leg went, for the attempt record.
type Result struct {
	Disposition string
	SIPCode     int
	Reason      string
	Started     time.Time // INVITE sent (outbound), answer being sent (inbound)
	Answered    time.Time // zero if never answered
	Ended       time.Time
	// ByeStatus is the far end's answer to our BYE: 200 when the call ended
	// on both sides, 0 when we sent none or heard nothing back.
	ByeStatus int
}

// RingMS is the time from INVITE to answer or final response.
func (r Result) RingMS() uint32 {
	end := r.Answered
	if end.IsZero() {
		end = r.Ended
	}
	return ms(end.Sub(r.Started))
}

// TalkMS is the answered time.
func (r Result) TalkMS() uint32 {
	if r.Answered.IsZero() {
		return 0
	}
	return ms(r.Ended.Sub(r.Answered))
}

func ms(d time.Duration) uint32 { return uint32(max(0, d.Milliseconds())) }

// Leg is one call, placed by Dial (leg_out.go) or answered through an
// Inbound offer (leg_in.go). From the answer on both directions run the same
// code: the dialog and its in-dialog requests (dialog.go), the media session
// (leg_media.go), the monitor and Hangup here. leg_fsm.go says which state
// may follow which.
type Leg struct {
	CallID string

	e          *Endpoint
	log        *slog.Logger
	rtpTimeout time.Duration
	release    func() // gives back what the call held: a trunk channel, or a place under the inbound limit
	// dlg is nil until the dialog is confirmed (a 2xx sent or received);
	// in-dialog requests from the far end find the leg only then.
	dlg atomic.Pointer[dialog]
	// out is what only an outbound leg has: the dial and our INVITE.
	out *outbound

	session    *media.Session
	held       atomic.Bool   // we hold the far end (Hold): it may send nothing
	unheldAt   atomic.Int64  // unix nanos of our last unhold
	sdpID      uint64        // our SDP's session id (RFC 4566 o=), the same for the whole call
	sdpVersion atomic.Uint64 // bumped for each SDP we send (RFC 3264 §8)

	mu     sync.Mutex
	state  legState
	result Result
	codec  media.Codec // the negotiated one; re-INVITEs read it on other goroutines

	ended   chan struct{}
	bye     chan struct{} // the far end's BYE
	byeOnce sync.Once
	hangup  chan struct{} // ours: Hangup, or the endpoint closing
	hupOnce sync.Once
}

func newLeg(e *Endpoint, callID string, log *slog.Logger, rtpTimeout time.Duration, release func()) *Leg {
	if rtpTimeout == 0 {
		rtpTimeout = DefaultRTPTimeout
	}
	return &Leg{CallID: callID, e: e, log: log, rtpTimeout: rtpTimeout, release: release,
		sdpID: uint64(time.Now().UnixNano()), ended: make(chan struct{}), bye: make(chan struct{}), hangup: make(chan struct{})}
}

// Session is the call's media.
func (l *Leg) Session() *media.Session { return l.session }

// Ended is closed when the call is over.
func (l *Leg) Ended() <-chan struct{} { return l.ended }

// Result is final once Ended is closed.
func (l *Leg) Result() Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.result
}

// Hangup ends the call and returns its result: a BYE when answered, a
// CANCEL while an outbound call still rings. It waits for the end until
// ctx is done.
func (l *Leg) Hangup(ctx context.Context) Result {
	l.stop()
	select {
	case <-l.ended:
	case <-ctx.Done():
	}
	return l.Result()
}

// stop asks the leg's owner (the INVITE loop, then the monitor) to end it.
func (l *Leg) stop() { l.hupOnce.Do(func() { close(l.hangup) }) }

func (l *Leg) remoteBye() { l.byeOnce.Do(func() { close(l.bye) }) }

// answered records the answer (a 2xx sent or received, media running) and
// hands the call to its monitor.
func (l *Leg) answered(code int) error {
	if err := l.moveTo(legAnswered); err != nil {
		return err
	}
	l.mu.Lock()
	l.result.Answered, l.result.SIPCode = time.Now(), code
	l.mu.Unlock()
	go l.monitor()
	return nil
}

// monitor runs an answered call until a BYE, a local hangup or RTP silence.
func (l *Leg) monitor() {
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-l.bye:
			l.finish(Result{Disposition: analytics.Answered, Reason: "remote hangup"})
			return
		case <-l.hangup:
			l.hangUp(Result{Disposition: analytics.Answered, Reason: "local hangup"})
			return
		case <-check.C:
			if silent := l.silence(); silent > l.rtpTimeout {
				l.log.Warn("no RTP; hanging up", "silent", silent.Round(time.Second))
				l.hangUp(Result{Disposition: analytics.Answered, Reason: fmt.Sprintf("no RTP for %s", l.rtpTimeout)})
				return
			}
		}
	}
}

// hangUp ends a confirmed dialog from our side: BYE, then the outcome r
// with the far end's answer to it.
func (l *Leg) hangUp(r Result) {
	if err := l.moveTo(legHangingUp); err != nil {
		l.log.Debug("no BYE", "err", err)
		return
	}
	r.ByeStatus = l.sendBye()
	l.finish(r)
}

// finish records the outcome once, stops media and frees what the call
// held. Only the first outcome counts: the move to ended is refused after.
func (l *Leg) finish(r Result) {
	if l.moveTo(legEnded) != nil {
		return
	}
	l.mu.Lock()
	r.Started = l.result.Started
	if r.Answered.IsZero() {
		r.Answered = l.result.Answered
	}
	if r.SIPCode == 0 {
		r.SIPCode = l.result.SIPCode
	}
	r.Ended = time.Now()
	l.result = r
	l.mu.Unlock()
	if l.session != nil {
		l.session.Close()
	}
	l.release()
	l.e.unregister(l)
	if !strings.HasPrefix(r.Disposition, analytics.Answered) {
		l.log.Info("call ended", "disposition", r.Disposition, "sip_code", r.SIPCode, "reason", r.Reason)
	} else {
		l.log.Info("call ended", "talk_ms", r.TalkMS(), "reason", r.Reason)
	}
	close(l.ended)
}
