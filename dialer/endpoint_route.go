package dialer

import (
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/ivr/media"
)

func (e *Endpoint) legFor(msg sip.Message) *Leg {
	cid := msg.CallID()
	if cid == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.legs[cid.Value()]
}

// dialogLeg is the leg whose dialog an in-dialog request names: its Call-ID
// and both tags (RFC 3261 §12.2.2; the request's From tag is the peer's,
// its To tag ours). A request that names no dialog of ours gets 481, as
// the peer's does for ours.
func (e *Endpoint) dialogLeg(req *sip.Request) *Leg {
	l := e.legFor(req)
	if l == nil || !l.dialogUp.Load() || req.From() == nil || req.To() == nil {
		return nil
	}
	from, _ := req.From().Params.Get("tag")
	to, _ := req.To().Params.Get("tag")
	if from != l.dlg.rtag || to != l.dlg.ltag {
		return nil
	}
	return l
}

// onStrayResponse gets responses no transaction matches. A retransmitted 2xx
// to our INVITE means our ACK was lost: send it again (RFC 3261 §13.2.2.4),
// or the far end drops the call when its retransmissions run out.
func (e *Endpoint) onStrayResponse(res *sip.Response) {
	if cs := res.CSeq(); cs != nil && cs.MethodName == sip.INVITE && res.IsSuccess() {
		if l := e.legFor(res); l != nil && l.dialogUp.Load() {
			l.sendAck(res)
			return
		}
	}
	e.log.Debug("stray SIP response", "msg", res.Short())
}

func (e *Endpoint) onBye(req *sip.Request, tx sip.ServerTransaction) {
	l := e.dialogLeg(req)
	if l == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	l.remoteBye()
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay, "Signal=5").
func (e *Endpoint) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	l := e.dialogLeg(req)
	if l == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	ct := req.ContentType()
	if ct == nil || !strings.Contains(strings.ToLower(ct.Value()), "dtmf") {
		tx.Respond(sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil))
		return
	}
	d, err := parseDTMFRelay(req.Body())
	if err != nil {
		e.log.Warn("sip: bad INFO dtmf-relay", "call_id", l.CallID, "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad DTMF", nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	l.infoDigit(d)
}

// parseDTMFRelay reads "Signal=5\r\nDuration=160" (also "application/dtmf" bodies holding just the digit).
func parseDTMFRelay(body []byte) (rune, error) {
	s := strings.TrimSpace(string(body))
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
			s = strings.TrimSpace(v)
			break
		}
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("dtmf-relay body %q: no single signal", body)
	}
	d := rune(s[0])
	if _, err := media.EventOf(d); err != nil {
		return 0, err
	}
	return d, nil
}

func (e *Endpoint) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			if l := e.dialogLeg(req); l != nil {
				l.reinvite(req, tx)
				return
			}
			tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
	}
	// Who may call, and how many at once, is decided before anything else:
	// no ringing, no RTP port, no script for a stranger.
	src := sourceOf(req)
	trunk, ok := e.in.admit(src)
	if !ok {
		e.in.forbidden.Add(1)
		e.in.forbiddenLog.warn(e.log, "sip: INVITE refused (403): its source is in no trunk's inbound_from",
			"src", src, "from", req.From().Address.User, "to", req.Recipient.User, "call_id", req.CallID().Value())
		tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}
	if e.opt.OnInvite == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 480, "Temporarily Unavailable", nil))
		return
	}
	if !e.in.take() {
		e.in.busy.Add(1)
		e.in.busyLog.warn(e.log, "sip: INVITE refused (486): inbound call limit reached",
			"limit", e.in.policy.MaxCalls, "trunk", trunk, "src", src, "call_id", req.CallID().Value())
		tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		return
	}
	in := newInbound(e, req, tx, trunk, e.in.free)
	in.respond(100, "Trying", nil)
	go func() {
		e.opt.OnInvite(in)
		// A handler that returned without answering or rejecting: end the
		// offer now rather than after maxOffer (no-op after a final response).
		in.Reject(480, "Temporarily Unavailable")
	}()
	in.wait()
}
