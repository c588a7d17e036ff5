package dialer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/ivr/media"
)

// byeTimeout bounds the wait for the far end's answer to our BYE.
const byeTimeout = 5 * time.Second

// dialog is what in-dialog requests are built from and matched against
// (RFC 3261 §12). Once confirmed it is the same for both directions; only
// how it is read from the INVITE and its 2xx differs.
type dialog struct {
	callID    string
	transport string
	local     sip.Uri // our side's address of record
	ltag      string
	remote    sip.Uri
	rtag      string
	target    sip.Uri  // the peer's Contact: where our requests go
	routes    []string // route set, in the order to send
	// dest, when set, is where every request we send in the dialog goes,
	// whatever target and routes name: a direct dial's phone behind NAT.
	dest string
	// seq is our CSeq: the INVITE's for a dialog we started (§12.1.2), one
	// more for each request we send in it.
	seq atomic.Uint32
}

// outboundDialog is the dialog our INVITE and its 2xx made (UAC side).
func outboundDialog(inv *sip.Request, ok *sip.Response) *dialog {
	d := &dialog{callID: inv.CallID().Value(), transport: inv.Transport(),
		local: inv.From().Address, remote: ok.To().Address, target: inv.Recipient}
	d.ltag, _ = inv.From().Params.Get("tag")
	d.rtag, _ = ok.To().Params.Get("tag")
	if c := ok.Contact(); c != nil {
		d.target = c.Address
	}
	rr := ok.GetHeaders("Record-Route") // reversed for the UAC (§12.1.2)
	for i := len(rr) - 1; i >= 0; i-- {
		d.routes = append(d.routes, rr[i].Value())
	}
	d.seq.Store(inv.CSeq().SeqNo)
	return d
}

// inboundDialog is the dialog a received INVITE and our 2xx made (UAS side).
func inboundDialog(inv *sip.Request, ourTag string) *dialog {
	d := &dialog{callID: inv.CallID().Value(), transport: inv.Transport(),
		local: inv.To().Address, ltag: ourTag, remote: inv.From().Address, target: inv.Recipient}
	d.rtag, _ = inv.From().Params.Get("tag")
	if c := inv.Contact(); c != nil {
		d.target = c.Address
	}
	for _, h := range inv.GetHeaders("Record-Route") { // in order for the UAS (§12.1.1)
		d.routes = append(d.routes, h.Value())
	}
	// Our CSeq space is our own (§12.1.1 leaves it empty): start where a UAC would.
	d.seq.Store(1)
	return d
}

// names says whether req, from the far end, belongs to this dialog: its
// Call-ID and both tags (§12.2.2; the request's From tag is the peer's, its
// To tag ours).
func (d *dialog) names(req *sip.Request) bool {
	if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CallID().Value() != d.callID {
		return false
	}
	from, _ := req.From().Params.Get("tag")
	to, _ := req.To().Params.Get("tag")
	return from == d.rtag && to == d.ltag
}

// request builds a request inside the dialog with CSeq seq.
func (d *dialog) request(method sip.RequestMethod, seq uint32, contact *sip.ContactHeader) *sip.Request {
	req := sip.NewRequest(method, *d.target.Clone())
	for _, r := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	from := &sip.FromHeader{Address: *d.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", d.ltag)
	to := &sip.ToHeader{Address: *d.remote.Clone(), Params: sip.NewParams()}
	if d.rtag != "" {
		to.Params.Add("tag", d.rtag)
	}
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(contact)
	req.SetTransport(d.transport)
	if d.dest != "" {
		req.SetDestination(d.dest)
	}
	return req
}

// sendAck acknowledges a 2xx to our INVITE, with the INVITE's CSeq (§13.2.2.4).
func (l *Leg) sendAck(res *sip.Response) {
	ack := l.dlg.Load().request(sip.ACK, res.CSeq().SeqNo, l.e.contact())
	if err := l.e.client.WriteRequest(ack); err != nil {
		l.log.Warn("send ACK", "err", err)
	}
}

// sendBye ends the dialog and returns the far end's status (0 for none).
func (l *Leg) sendBye() int {
	d := l.dlg.Load()
	bye := d.request(sip.BYE, d.seq.Add(1), l.e.contact())
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	res, err := l.e.client.Do(ctx, bye)
	if err != nil {
		l.log.Warn("BYE not confirmed", "err", err)
		return 0
	}
	if res.StatusCode >= 300 {
		// 481: the far end knows no such dialog, so the call may still be up there.
		l.log.Warn("BYE refused", "code", res.StatusCode)
	}
	return int(res.StatusCode)
}

// onBye takes the far end's BYE.
func (l *Leg) onBye(req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	l.remoteBye()
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay, "Signal=5").
func (l *Leg) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	ct := req.ContentType()
	if ct == nil || !strings.Contains(strings.ToLower(ct.Value()), "dtmf") {
		tx.Respond(sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil))
		return
	}
	d, err := parseDTMFRelay(req.Body())
	if err != nil {
		l.log.Warn("sip: bad INFO dtmf-relay", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad DTMF", nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	l.session.InjectDigit(d)
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

// onReinvite answers the far end's re-INVITE (hold, unhold, media move)
// with our SDP; one without a body gets our offer, sendrecv.
func (l *Leg) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	dir := media.SendRecv
	if body := req.Body(); len(body) > 0 {
		ep, err := media.ParseSDP(body)
		if err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		dir = ep.Direction
		l.applyReoffer(ep)
	}
	answer, err := l.localSDP([]media.Codec{l.negotiated()}, dir.Reverse())
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Error", nil))
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", answer)
	res.AppendHeader(l.e.contact())
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		l.log.Warn("answer re-INVITE", "err", err)
	}
	l.log.Info("re-INVITE answered", "direction", dir)
}

// Hold puts the far end on hold, or takes it off, with a re-INVITE in the
// call's dialog: our offer turns sendonly (we may still play to it; it
// need send nothing, RFC 3264 §8.4) or back to sendrecv. Calls placed and calls answered hold
// alike. The error says why not: the call is not answered, or the far end
// refused (491: its own re-INVITE crossed ours; try again).
func (l *Leg) Hold(ctx context.Context, on bool) error {
	if !l.is(legAnswered) {
		return fmt.Errorf("leg %s: hold: the call is not up", l.CallID)
	}
	dir := media.SendRecv
	if on {
		dir = media.SendOnly
	}
	offer, err := l.localSDP([]media.Codec{l.negotiated()}, dir)
	if err != nil {
		return fmt.Errorf("leg %s: hold: %w", l.CallID, err)
	}
	if on {
		// Before the far end answers: it may fall silent at once.
		l.setHeld(true)
	}
	res, err := l.reinvite(ctx, offer)
	if err == nil && !res.IsSuccess() {
		err = fmt.Errorf("answered %d %s", res.StatusCode, res.Reason)
	}
	if err != nil {
		l.setHeld(!on) // where we were
		return fmt.Errorf("leg %s: hold %v: re-INVITE: %w", l.CallID, on, err)
	}
	l.setHeld(on)
	l.log.Info("re-INVITE answered", "hold", on)
	return nil
}

// reinvite sends our new offer in the dialog and returns the final
// response, acknowledged when it is a 2xx. The answer's SDP changes
// nothing here: our stream already goes where the far end's packets come
// from, and a media move comes with a re-INVITE of its own.
func (l *Leg) reinvite(ctx context.Context, offer []byte) (*sip.Response, error) {
	d := l.dlg.Load()
	req := d.request(sip.INVITE, d.seq.Add(1), l.e.contact())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	tx, err := l.e.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	l.reackOn(tx)
	for {
		var res *sip.Response
		select {
		case res = <-tx.Responses():
		case <-tx.Done():
			// A final response may be queued behind Done (separate goroutines).
			select {
			case res = <-tx.Responses():
			default:
				if err := tx.Err(); err != nil {
					return nil, err
				}
				return nil, errors.New("transaction ended without a final response")
			}
		case <-ctx.Done():
			tx.Terminate()
			return nil, ctx.Err()
		}
		if res.StatusCode < 200 {
			continue
		}
		if res.IsSuccess() {
			l.sendAck(res)
		}
		return res, nil
	}
}

// Ping sends OPTIONS inside the call's dialog: a keep-alive that changes
// nothing (RFC 3261 §11.2) for a call that may stay up a long time, such as
// an agent's nailed-up leg. It returns nil when the far end answers with
// anything but 481 (it no longer knows the call) or 408; an error when the
// call is not up, nothing comes back before ctx ends, or it answers 481 or
// 408.
func (l *Leg) Ping(ctx context.Context) error {
	if !l.is(legAnswered) {
		return fmt.Errorf("leg %s: ping: the call is not up", l.CallID)
	}
	d := l.dlg.Load()
	req := d.request(sip.OPTIONS, d.seq.Add(1), l.e.contact())
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res, err := l.e.client.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("leg %s: OPTIONS: %w", l.CallID, err)
	}
	if res.StatusCode == 481 || res.StatusCode == 408 {
		return fmt.Errorf("leg %s: OPTIONS answered %d %s", l.CallID, res.StatusCode, res.Reason)
	}
	return nil
}
