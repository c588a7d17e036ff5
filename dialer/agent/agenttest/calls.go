package agenttest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

// Call is one call the phone answered.
type Call struct {
	// Invite is the INVITE as received (its headers: Call-Info,
	// Alert-Info).
	Invite  *sip.Request
	Session *media.Session
	phone   *Phone
	rec     *mediatest.Recorder
	dlg     *sipgo.DialogServerSession
	ended   chan struct{}
	once    sync.Once
}

// AutoAnswer says whether an INVITE asks the phone to answer by itself:
// Call-Info with answer-after (RFC 7462's predecessor draft, as Snom,
// Yealink and Polycom read it) or Alert-Info with an auto-answer info
// parameter (Grandstream, Cisco SPA).
func AutoAnswer(req *sip.Request) bool {
	for _, h := range req.GetHeaders("Call-Info") {
		if strings.Contains(strings.ToLower(h.Value()), "answer-after=") {
			return true
		}
	}
	for _, h := range req.GetHeaders("Alert-Info") {
		v := strings.ToLower(h.Value())
		if strings.Contains(v, "alert-autoanswer") || strings.Contains(v, "auto answer") {
			return true
		}
	}
	return false
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			p.onReinvite(req, tx)
			return
		}
	}
	if !p.opt.AnswerAll && !AutoAnswer(req) {
		tx.Respond(sip.NewResponseFromRequest(req, 480, "Temporarily Unavailable", nil))
		return
	}
	offer, err := media.ParseSDP(req.Body())
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	prefs := p.opt.Codecs
	if len(prefs) == 0 {
		prefs = []media.Codec{media.PCMU, media.PCMA}
	}
	codec, err := media.Negotiate(prefs, offer.Codecs)
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg, err := p.cache.ReadInvite(req, tx)
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	conn, err := media.ListenRTP(netip.MustParseAddr(p.host), p.opt.RTPPorts)
	if err != nil {
		dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	c := &Call{Invite: req, phone: p, dlg: dlg, ended: make(chan struct{})}
	so := media.SessionOptions{Conn: conn, Remote: offer.Addr, Codec: codec, DTMFType: offer.DTMFType, Pacer: p.opt.Pacer,
		Probe: 5 * time.Second, Logger: p.log}
	if p.opt.Record {
		c.rec = &mediatest.Recorder{}
		so.OnAudio = c.rec.OnAudio
	}
	c.Session = media.NewSession(so)
	answer, err := media.MarshalSDP(media.OfferOptions{Addr: c.Session.LocalAddr(), Codecs: []media.Codec{codec},
		SessionID: uint64(time.Now().UnixNano()), Version: 1, Direction: offer.Direction.Reverse()})
	if err != nil {
		c.Session.Close()
		dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		c.Session.Close()
		return
	}
	p.calls[req.CallID().Value()] = c
	p.mu.Unlock()
	c.Session.Start()
	if err := dlg.RespondSDP(answer); err != nil {
		p.log.Warn("test phone: answer not confirmed", "err", err)
		c.end()
		return
	}
	go func() {
		<-dlg.Context().Done()
		c.end()
	}()
	select {
	case p.incoming <- c:
	default:
	}
}

// onReinvite answers a re-INVITE in a call with the call's media as it is.
func (p *Phone) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := p.call(req)
	if c == nil {
		tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	dir := media.SendRecv
	if ep, err := media.ParseSDP(req.Body()); err == nil {
		dir = ep.Direction.Reverse()
	}
	body, _ := media.MarshalSDP(media.OfferOptions{Addr: c.Session.LocalAddr(), SessionID: 1, Version: uint64(time.Now().UnixNano()),
		Direction: dir})
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	ct := p.contact()
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	tx.Respond(res)
}

func (p *Phone) call(req *sip.Request) *Call {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[cid.Value()]
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := p.cache.ReadBye(req, tx); err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	}
}

// onOptions answers 200 outside a dialog and inside one of its calls, 481
// inside a dialog it does not know.
func (p *Phone) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok && p.call(req) == nil {
			tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
	}
	if p.call(req) != nil {
		p.mu.Lock()
		p.pings++
		p.mu.Unlock()
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"))
	tx.Respond(res)
}

// Pings counts the OPTIONS the phone answered inside its calls (the far
// end's keep-alives).
func (p *Phone) Pings() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pings
}

// NextCall waits for the next call the phone answers.
func (p *Phone) NextCall(ctx context.Context) (*Call, error) {
	select {
	case c := <-p.incoming:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("test phone %s: no call answered: %w", p.opt.User, ctx.Err())
	}
}

// Active counts the calls up.
func (p *Phone) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// Ended is closed when the call is over.
func (c *Call) Ended() <-chan struct{} { return c.ended }

// Heard is what the call has heard so far (Options.Record).
func (c *Call) Heard() []int16 {
	if c.rec == nil {
		return nil
	}
	return c.rec.Samples()
}

// Hangup ends the call from the phone (BYE).
func (c *Call) Hangup(ctx context.Context) error {
	err := c.dlg.Bye(ctx)
	c.end()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("test phone: BYE: %w", err)
	}
	return nil
}

func (c *Call) end() {
	c.once.Do(func() {
		c.Session.Close()
		p := c.phone
		p.mu.Lock()
		if p.calls[c.Invite.CallID().Value()] == c {
			delete(p.calls, c.Invite.CallID().Value())
		}
		p.mu.Unlock()
		c.dlg.Close()
		close(c.ended)
	})
}
