package dialer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/ivr/media"
)

// Result is how a leg went, for the attempt record.
type Result struct {
	Disposition string
	SIPCode     int
	Reason      string
	Started     time.Time // INVITE sent
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

// Leg is one call: one we placed, or one we answered.
type Leg struct {
	CallID string

	e      *Endpoint
	req    DialRequest
	log    *slog.Logger
	invite *sip.Request // outbound: our INVITE; inbound: theirs
	dlg    dialog
	// dialogUp is set once dlg is final (2xx seen), for other goroutines.
	dialogUp atomic.Bool
	session  *media.Session
	codec    media.Codec
	release  func()

	mu      sync.Mutex
	cseq    uint32
	result  Result
	ended   chan struct{}
	endOnce sync.Once
	bye     chan struct{} // remote BYE
	byeOnce sync.Once
	hangup  chan struct{}
	hupOnce sync.Once
}

// Session is the call's media; nil until answered (or early media).
func (l *Leg) Session() *media.Session { return l.session }

// Ended is closed when the call is over.
func (l *Leg) Ended() <-chan struct{} { return l.ended }

// Result is final once Ended is closed.
func (l *Leg) Result() Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.result
}

// monitor runs an answered call until a BYE, a local hangup or RTP silence.
func (l *Leg) monitor() {
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-l.bye:
			l.finish(Result{Disposition: Answered, Reason: "remote hangup"})
			return
		case <-l.hangup:
			bye := l.sendBye()
			l.finish(Result{Disposition: Answered, Reason: "local hangup", ByeStatus: bye})
			return
		case <-check.C:
			if silent := time.Since(l.session.LastReceived()); silent > l.req.RTPTimeout {
				l.log.Warn("no RTP; hanging up", "silent", silent.Round(time.Second))
				bye := l.sendBye()
				l.finish(Result{Disposition: Answered, Reason: fmt.Sprintf("no RTP for %s", l.req.RTPTimeout), ByeStatus: bye})
				return
			}
		}
	}
}

// Hangup ends the call (BYE when answered) and returns its result.
func (l *Leg) Hangup(ctx context.Context) Result {
	l.hupOnce.Do(func() { close(l.hangup) })
	select {
	case <-l.ended:
	case <-ctx.Done():
	}
	return l.Result()
}

// finish records the outcome once, stops media and frees the trunk channel.
func (l *Leg) finish(r Result) {
	l.endOnce.Do(func() {
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
		l.session.Close()
		l.release()
		l.e.unregister(l)
		if !strings.HasPrefix(r.Disposition, Answered) {
			l.log.Info("call ended", "disposition", r.Disposition, "sip_code", r.SIPCode, "reason", r.Reason)
		} else {
			l.log.Info("call ended", "talk_ms", r.TalkMS(), "reason", r.Reason)
		}
		close(l.ended)
	})
}
