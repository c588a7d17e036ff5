package dialer

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/ivr/media"
)

func (l *Leg) nextCSeq() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cseq++
	return l.cseq
}

// dialog is what in-dialog requests are built from (RFC 3261 §12).
type dialog struct {
	local  sip.Uri // our address-of-record side
	ltag   string
	remote sip.Uri
	rtag   string
	target sip.Uri  // the peer's Contact
	routes []string // route set, in the order to send
}

// outboundDialog is the dialog our INVITE and its 2xx made (UAC side).
func outboundDialog(inv *sip.Request, ok *sip.Response) dialog {
	d := dialog{local: inv.From().Address, remote: ok.To().Address, target: inv.Recipient}
	d.ltag, _ = inv.From().Params.Get("tag")
	d.rtag, _ = ok.To().Params.Get("tag")
	if c := ok.Contact(); c != nil {
		d.target = c.Address
	}
	rr := ok.GetHeaders("Record-Route") // reversed for the UAC (§12.1.2)
	for i := len(rr) - 1; i >= 0; i-- {
		d.routes = append(d.routes, rr[i].Value())
	}
	return d
}

// inboundDialog is the dialog a received INVITE and our 2xx made (UAS side).
func inboundDialog(inv *sip.Request, ourTag string) dialog {
	d := dialog{local: inv.To().Address, ltag: ourTag, remote: inv.From().Address, target: inv.Recipient}
	d.rtag, _ = inv.From().Params.Get("tag")
	if c := inv.Contact(); c != nil {
		d.target = c.Address
	}
	for _, h := range inv.GetHeaders("Record-Route") { // in order for the UAS (§12.1.1)
		d.routes = append(d.routes, h.Value())
	}
	return d
}

// inDialog builds a request inside the leg's dialog.
func (l *Leg) inDialog(method sip.RequestMethod, seq uint32) *sip.Request {
	d := l.dlg
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
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(sip.HeaderClone(l.invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(l.e.contact())
	req.SetTransport(l.invite.Transport())
	return req
}

func (l *Leg) sendAck(res *sip.Response) {
	ack := l.inDialog(sip.ACK, l.invite.CSeq().SeqNo)
	if err := l.e.client.WriteRequest(ack); err != nil {
		l.log.Warn("send ACK", "err", err)
	}
}

// sendBye ends the dialog and returns the far end's status (0 for none).
func (l *Leg) sendBye() int {
	bye := l.inDialog(sip.BYE, l.nextCSeq())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
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

func (l *Leg) remoteBye() { l.byeOnce.Do(func() { close(l.bye) }) }

func (l *Leg) infoDigit(d rune) { l.session.InjectDigit(d) }

// reinvite answers a re-INVITE (hold, unhold, media move) with our SDP.
func (l *Leg) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	dir := media.SendRecv
	if body := req.Body(); len(body) > 0 {
		ep, err := media.ParseSDP(body)
		if err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		dir = ep.Direction
		l.session.SetRemote(ep.Addr)
		l.session.SetHold(dir == media.SendOnly || dir == media.Inactive)
	}
	answer, err := media.MarshalSDP(media.OfferOptions{Addr: l.session.LocalAddr(), Codecs: []media.Codec{l.codec},
		SessionID: uint64(l.result.Started.UnixNano()), Version: uint64(time.Now().Unix()), Direction: dir.Reverse()})
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
