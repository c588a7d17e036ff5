package dialer

import (
	"github.com/emiago/sipgo/sip"
)

// Requests reach the endpoint's handlers and go to the leg whose dialog
// they name (dialog.go answers them), or start an inbound offer
// (leg_in.go). Responses go to their client transactions; only the strays
// come here.

func (e *Endpoint) legFor(msg sip.Message) *Leg {
	cid := msg.CallID()
	if cid == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.legs[cid.Value()]
}

// inDialog hands req to the leg whose confirmed dialog it names (RFC 3261
// §12.2.2), or answers 481: a request that names no dialog of ours gets
// what the peer's UA answers to ours.
func (e *Endpoint) inDialog(req *sip.Request, tx sip.ServerTransaction, handle func(*Leg, *sip.Request, sip.ServerTransaction)) {
	if l := e.legFor(req); l != nil {
		if d := l.dlg.Load(); d != nil && d.names(req) {
			handle(l, req, tx)
			return
		}
	}
	tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

// onStrayResponse gets responses no transaction matches. A retransmitted 2xx
// to our INVITE means our ACK was lost: send it again (RFC 3261 §13.2.2.4),
// or the far end drops the call when its retransmissions run out.
func (e *Endpoint) onStrayResponse(res *sip.Response) {
	if cs := res.CSeq(); cs != nil && cs.MethodName == sip.INVITE && res.IsSuccess() {
		if l := e.legFor(res); l != nil && l.dlg.Load() != nil {
			l.sendAck(res)
			return
		}
	}
	e.log.Debug("stray SIP response", "msg", res.Short())
}

func (e *Endpoint) onBye(req *sip.Request, tx sip.ServerTransaction) {
	e.inDialog(req, tx, (*Leg).onBye)
}

func (e *Endpoint) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	e.inDialog(req, tx, (*Leg).onInfo)
}

// onInvite takes a re-INVITE in a dialog of ours (it has a To tag), or a
// new call offered to us.
func (e *Endpoint) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			e.inDialog(req, tx, (*Leg).onReinvite)
			return
		}
	}
	in := e.admit(req, tx)
	if in == nil {
		return
	}
	in.respond(100, "Trying", nil)
	go func() {
		e.opt.OnInvite(in)
		// A handler that returned without answering or rejecting: end the
		// offer now rather than after maxOffer (no-op after a final response).
		in.Reject(480, "Temporarily Unavailable")
	}()
	in.wait()
}

// admit decides who may call, and how many at once, before anything else:
// no ringing, no RTP port, no script for a stranger. It answers the INVITEs
// it refuses and returns nil for them.
func (e *Endpoint) admit(req *sip.Request, tx sip.ServerTransaction) *Inbound {
	src := sourceOf(req)
	trunk, ok := e.in.admit(src)
	if !ok {
		e.in.forbidden.Add(1)
		e.in.forbiddenLog.Warn(e.log, "sip: INVITE refused (403): its source is in no trunk's inbound_from",
			"src", src, "from", req.From().Address.User, "to", req.Recipient.User, "call_id", req.CallID().Value())
		tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return nil
	}
	if e.opt.OnInvite == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 480, "Temporarily Unavailable", nil))
		return nil
	}
	if !e.in.take() {
		e.in.busy.Add(1)
		e.in.busyLog.Warn(e.log, "sip: INVITE refused (486): inbound call limit reached",
			"limit", e.in.policy.MaxCalls, "trunk", trunk, "src", src, "call_id", req.CallID().Value())
		tx.Respond(sip.NewResponseFromRequest(req, 486, "analytics.Busy Here", nil))
		return nil
	}
	return newInbound(e, req, tx, trunk, e.in.free)
}
