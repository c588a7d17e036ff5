package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr/media"
)

// Inbound is a call offered to us: ring it, reject it, or answer it into a Leg.
type Inbound struct {
	e     *Endpoint
	req   *sip.Request
	tx    sip.ServerTransaction
	tag   string // our To tag: the dialog's local tag
	trunk string // the trunk whose inbound_from admitted it
	log   *slog.Logger
	// free gives back the call's place under the inbound limit, once: when
	// the offer is rejected or cancelled, or when the answered leg ends.
	free      func()
	mu        sync.Mutex
	final     bool
	finalized chan struct{} // closed once a final response went out (or CANCEL ended it)
	cancelled chan struct{}
}

// maxOffer bounds how long an inbound call may stay unanswered.
const maxOffer = 5 * time.Minute

func newInbound(e *Endpoint, req *sip.Request, tx sip.ServerTransaction, trunk string, free func()) *Inbound {
	in := &Inbound{e: e, req: req, tx: tx, tag: sip.GenerateTagN(16), trunk: trunk, free: sync.OnceFunc(free),
		cancelled: make(chan struct{}), finalized: make(chan struct{}),
		log: e.log.With("call_id", req.CallID().Value(), "from", req.From().Address.User, "to", req.Recipient.User, "trunk", trunk)}
	// sipgo answers the CANCEL and sends 487 itself (inside its FSM: no
	// responding from here).
	tx.OnCancel(func(*sip.Request) {
		in.mu.Lock()
		defer in.mu.Unlock()
		if !in.final {
			in.final = true
			close(in.cancelled)
			close(in.finalized)
			in.free()
		}
	})
	return in
}

// wait keeps the server transaction (and so the handler) alive until the
// offer is answered, rejected or cancelled: sipgo ends a transaction whose
// handler returns.
func (in *Inbound) wait() {
	select {
	case <-in.finalized:
	case <-time.After(maxOffer):
		in.Reject(480, "Temporarily Unavailable")
	}
}

// From is the caller's user part (their number); To is the number called.
func (in *Inbound) From() string { return in.req.From().Address.User }
func (in *Inbound) To() string   { return in.req.Recipient.User }

// CallID of the offered call.
func (in *Inbound) CallID() string { return in.req.CallID().Value() }

// Trunk is the configured trunk the call came from.
func (in *Inbound) Trunk() string { return in.trunk }

// Cancelled is closed if the caller gives up (CANCEL) before the answer.
func (in *Inbound) Cancelled() <-chan struct{} { return in.cancelled }

// respond sends a response with our To tag; a second final response is ignored.
func (in *Inbound) respond(code int, reason string, body []byte) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.final {
		return errors.New("inbound: already answered or rejected")
	}
	res := sip.NewResponseFromRequest(in.req, code, reason, body)
	if to := res.To(); to != nil && code > 100 {
		// Our tag, always: sipgo puts a tag of its own on every response
		// without one, and a 200 whose tag is not the dialog's local tag
		// makes our BYE belong to no dialog (the caller answers 481 and
		// keeps the line up).
		to.Params.Add("tag", in.tag)
	}
	if code >= 200 {
		in.final = true
		defer close(in.finalized)
	}
	if code >= 300 {
		defer in.free()
	}
	if len(body) > 0 {
		res.AppendHeader(in.e.contact())
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	} else if code >= 180 && code < 300 {
		res.AppendHeader(in.e.contact())
	}
	return in.tx.Respond(res)
}

// Ringing sends 180.
func (in *Inbound) Ringing() error { return in.respond(180, "Ringing", nil) }

// Reject ends the offer with a final error response (486, 404, 503, ...).
func (in *Inbound) Reject(code int, reason string) error { return in.respond(code, reason, nil) }

// AnswerOptions shape the answered leg's media.
type AnswerOptions struct {
	Codecs     []media.Codec // our preference; default PCMU, PCMA
	RTPTimeout time.Duration // default DefaultRTPTimeout
	OnAudio    func([]int16)
	OnSend     func(time.Duration)
}

// Answer accepts the call: 200 with our SDP, media running, and returns the
// leg. It does not wait for the caller's ACK: that is a transaction of its
// own, which the endpoint takes and ignores. An offer we cannot take is
// rejected (488 for its SDP, 503 with no RTP port free) and the error says
// why.
func (in *Inbound) Answer(_ context.Context, o AnswerOptions) (*Leg, error) {
	if len(o.Codecs) == 0 {
		o.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	offer, codec, err := negotiateOffer(in.req.Body(), o.Codecs)
	if err != nil {
		in.Reject(488, "Not Acceptable Here")
		return nil, fmt.Errorf("inbound %s: %w", in.CallID(), err)
	}
	// Inbound calls bind below the ports kept for outbound dialing (or
	// share the sockets every call uses).
	var conn *net.UDPConn
	if in.e.mux == nil {
		conn, err = media.ListenRTP(in.e.opt.RTPAddr, in.e.inPorts)
		if err != nil {
			in.Reject(503, "Service Unavailable")
			return nil, fmt.Errorf("inbound %s: %w", in.CallID(), err)
		}
	}
	l := newLeg(in.e, in.CallID(), in.log, o.RTPTimeout, in.free)
	answer, err := l.openInboundMedia(conn, offer, codec, o)
	if err != nil {
		in.Reject(500, "Server Internal Error")
		return nil, fmt.Errorf("inbound %s: %w", in.CallID(), err)
	}
	if err := in.accept(l, answer); err != nil {
		return nil, fmt.Errorf("inbound %s: answer: %w", in.CallID(), err)
	}
	return l, nil
}

// accept sends the 200 that confirms the dialog and hands the call to the
// leg. The dialog is the leg's before the 200 leaves, so a BYE or INFO
// that follows it at once finds the leg.
func (in *Inbound) accept(l *Leg, answer []byte) error {
	l.mu.Lock()
	l.result.Started = time.Now()
	l.mu.Unlock()
	l.dlg.Store(inboundDialog(in.req, in.tag))
	in.e.register(l)
	// Media first: the caller may send RTP the moment it has our 200 (a
	// caller that probes sends its first packet at once), and a shared
	// socket drops what no started session takes. Started, the session
	// still sends nothing until the caller's media arrives (no Probe).
	l.session.Start()
	if err := in.respond(200, "OK", answer); err != nil && !errors.Is(err, sip.ErrTransactionTerminated) {
		l.finish(Result{Disposition: analytics.LocalError, Reason: "answer: " + err.Error()})
		return err
	}
	if err := l.answered(200); err != nil {
		l.finish(Result{Disposition: analytics.LocalError, Reason: err.Error()})
		return err
	}
	return nil
}

// SourceAddr is the address the INVITE came from (the transport's remote
// address, not anything the caller wrote in the message): a carrier's SBC
// on a trunk. Invalid when unknown.
func (in *Inbound) SourceAddr() netip.Addr { return sourceOf(in.req) }
