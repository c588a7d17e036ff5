package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/phone"
)

// Call timing. A ring timeout defaults to DefaultRingTimeout and is never
// below queue.MinRingTimeout (Reg F).
const (
	DefaultRingTimeout = 25 * time.Second
	DefaultRTPTimeout  = 30 * time.Second
	// cancelGuard bounds the wait for a final response after our CANCEL.
	cancelGuard = 8 * time.Second
	// OutboundProbe is how long an outbound call sends to the address the
	// carrier's SDP names before any RTP comes back: some carriers and
	// gateways send nothing until they hear us, but nothing real stays
	// silent longer than this.
	OutboundProbe = 5 * time.Second
)

// ErrLocal marks every error Dial returns: the call never left this node (no
// INVITE was sent), so nobody was contacted. The error says why: no free RTP
// port, no trunk channel or CPS slot before the context ended, no caller id,
// a destination that is not a number.
var ErrLocal = errors.New("call not placed")

// ErrCallerID is why a dial without a valid caller id is refused: calls
// never go out anonymous (CONDUSEF, the TSR and Ofcom want a number the
// debtor can call back).
var ErrCallerID = errors.New("no valid caller id")

// CheckCallerID accepts a caller id that is a valid E.164 number as written
// (+ and digits, nothing to normalise).
func CheckCallerID(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrCallerID)
	}
	if !phone.IsE164(s) {
		return fmt.Errorf("%w: %q is not an E.164 number such as +525550000100", ErrCallerID, s)
	}
	return nil
}

// DialRequest is one outbound call.
type DialRequest struct {
	Trunk       *Trunk
	To          string // E.164 number or SIP URI
	CallerID    string // overrides the trunk's
	RingTimeout time.Duration
	RTPTimeout  time.Duration
	// OnAudio receives decoded inbound audio (AMD, recording). Optional.
	OnAudio func(pcm []int16)
	// OnSend receives outbound packet intervals (jitter metrics). Optional.
	OnSend func(time.Duration)
}

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
	invite *sip.Request  // outbound: our INVITE; inbound: theirs
	ok     *sip.Response // outbound: the 2xx that made the dialog
	dlg    dialog
	// dialogUp is set once dlg is final (2xx seen), for other goroutines.
	dialogUp atomic.Bool
	session  *media.Session
	codec    media.Codec
	release  func()

	mu       sync.Mutex
	cseq     uint32
	result   Result
	ended    chan struct{}
	endOnce  sync.Once
	bye      chan struct{} // remote BYE
	byeOnce  sync.Once
	hangup   chan struct{}
	hupOnce  sync.Once
	monitors sync.WaitGroup
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

// Dial places a call and returns when it is answered (media running; Ended
// still open) or over (Ended closed, Result says why). An error means the
// call was never placed: it wraps ErrLocal (and ErrCallerID when that is
// why), and nothing reached the network.
func (e *Endpoint) Dial(ctx context.Context, r DialRequest) (*Leg, error) {
	l, err := e.dial(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w: %w", r.To, ErrLocal, err)
	}
	return l, nil
}

func (e *Endpoint) dial(ctx context.Context, r DialRequest) (*Leg, error) {
	if r.Trunk == nil {
		return nil, errors.New("no trunk")
	}
	if r.RingTimeout == 0 {
		r.RingTimeout = DefaultRingTimeout
	}
	if r.RingTimeout < queue.MinRingTimeout {
		return nil, fmt.Errorf("ring timeout %s is below the %s minimum", r.RingTimeout, queue.MinRingTimeout)
	}
	if r.RTPTimeout == 0 {
		r.RTPTimeout = DefaultRTPTimeout
	}
	if r.CallerID == "" {
		r.CallerID = r.Trunk.CallerID
	}
	if r.CallerID == "" {
		return nil, fmt.Errorf("%w: set caller_id on the campaign or on trunk %s", ErrCallerID, r.Trunk.Name)
	}
	if err := CheckCallerID(r.CallerID); err != nil {
		return nil, err
	}
	target, err := r.Trunk.Target(r.To)
	if err != nil {
		return nil, err
	}
	release, err := r.Trunk.acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := media.ListenRTP(e.opt.RTPAddr, e.opt.RTPPorts)
	if err != nil {
		release()
		return nil, err
	}
	callID := sip.GenerateTagN(24)
	l := &Leg{CallID: callID, e: e, req: r, release: release, cseq: 1,
		ended: make(chan struct{}), bye: make(chan struct{}), hangup: make(chan struct{}),
		log: e.log.With("call_id", callID, "to", r.To, "trunk", r.Trunk.Name)}
	l.session = media.NewSession(media.SessionOptions{Conn: conn, Logger: l.log, OnAudio: r.OnAudio, OnSend: r.OnSend,
		Pacer: e.pacer, Probe: OutboundProbe})
	offer, err := media.MarshalSDP(media.OfferOptions{Addr: l.session.LocalAddr(), Codecs: r.Trunk.Codecs,
		SessionID: uint64(time.Now().UnixNano()), Version: 1})
	if err != nil {
		l.session.Close()
		release()
		return nil, err
	}
	l.invite = e.buildInvite(target, r, callID, offer)
	e.register(l)
	if err := l.invitePhase(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// buildInvite is our INVITE; r.CallerID is set and checked.
func (e *Endpoint) buildInvite(target sip.Uri, r DialRequest, callID string, offer []byte) *sip.Request {
	req := sip.NewRequest(sip.INVITE, target)
	cli := r.CallerID
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: cli, Host: e.host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: target.Scheme, User: target.User, Host: target.Host, Port: target.Port}}
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(e.contact())
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", fmt.Sprintf("<sip:%s@%s>", cli, e.host)))
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, INFO, OPTIONS"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	// Every initial request goes to the trunk (outbound proxy), whatever the URI's host.
	port := r.Trunk.URI.Port
	if port == 0 {
		port = 5060
	}
	req.SetDestination(net.JoinHostPort(r.Trunk.URI.Host, fmt.Sprint(port)))
	return req
}

// invitePhase owns the INVITE client transaction until a final outcome. An
// error means the INVITE could not be sent (the leg is finished, as
// local_error).
func (l *Leg) invitePhase(ctx context.Context) error {
	e, r := l.e, l.req
	lctx := context.Background() // the leg outlives the caller's ctx; ctx only cancels
	start := time.Now()
	l.mu.Lock()
	l.result.Started = start
	l.mu.Unlock()
	tx, err := e.client.TransactionRequest(lctx, l.invite)
	if err != nil {
		err = fmt.Errorf("send INVITE: %w", err)
		l.finish(Result{Disposition: analytics.LocalError, Reason: err.Error()})
		return err
	}
	l.reackOn(tx)
	st := &inviteState{tx: tx, start: start, timer: time.NewTimer(r.RingTimeout)}
	defer st.timer.Stop()
	timer := st.timer
	var guard <-chan time.Time
	ctxDone := ctx.Done()
	for {
		select {
		case res := <-st.tx.Responses():
			if l.onResponse(st, res) {
				return nil
			}
		case <-timer.C:
			st.timedOut = true
			if !st.heard {
				st.tx.Terminate()
				l.finish(Result{Disposition: analytics.NetworkError, Reason: fmt.Sprintf("no response from trunk in %s", r.RingTimeout)})
				return nil
			}
			if !st.cancelled {
				st.cancelled = true
				l.sendCancel()
				guard = time.After(cancelGuard)
			}
		case <-ctxDone:
			ctxDone = nil
			if !st.cancelled {
				st.cancelled = true
				l.sendCancel()
				guard = time.After(cancelGuard)
			}
		case <-guard:
			st.tx.Terminate()
			d := analytics.Cancelled
			if st.timedOut {
				d = analytics.NoAnswer
			}
			l.finish(Result{Disposition: d, Reason: "no final response to CANCEL"})
			return nil
		case <-st.tx.Done():
			// A final response may be queued behind Done (separate goroutines).
			select {
			case res := <-st.tx.Responses():
				if l.onResponse(st, res) {
					return nil
				}
				continue
			default:
			}
			reason := "INVITE transaction ended without a final response"
			if err := st.tx.Err(); err != nil {
				reason = err.Error()
			}
			d := analytics.NetworkError
			if st.cancelled && !st.timedOut {
				d = analytics.Cancelled
			}
			l.finish(Result{Disposition: d, Reason: reason})
			return nil
		}
	}
}

// reackOn answers each retransmission of the 2xx with another ACK: the far
// end retransmits because our ACK was lost (RFC 3261 §13.2.2.4), and drops
// the call when its retransmissions run out.
func (l *Leg) reackOn(tx sip.ClientTransaction) {
	tx.OnRetransmission(func(res *sip.Response) {
		if res.IsSuccess() && l.dialogUp.Load() {
			l.log.Debug("2xx retransmitted; ACK again")
			l.sendAck(res)
		}
	})
}

// inviteState is the INVITE phase's progress.
type inviteState struct {
	tx                        sip.ClientTransaction
	start                     time.Time
	timer                     *time.Timer
	heard, ringing, authTried bool
	cancelled, timedOut       bool
}

// onResponse handles one response to the INVITE; true when the phase is over.
func (l *Leg) onResponse(st *inviteState, res *sip.Response) bool {
	code := int(res.StatusCode)
	cancelled, timedOut := st.cancelled, st.timedOut
	switch {
	case code < 200:
		st.heard = true
		if (code == 180 || code == 183) && !st.ringing && !timedOut {
			st.ringing = true
			// Reg F: once it rings, let it ring at least the minimum.
			if left := l.req.RingTimeout - time.Since(st.start); left < queue.MinRingTimeout {
				st.timer.Reset(queue.MinRingTimeout)
			}
		}
		if code == 183 && len(res.Body()) > 0 {
			l.earlyMedia(res.Body())
		}
		return false
	case code < 300:
		l.ok = res
		l.dlg = outboundDialog(l.invite, res)
		l.dialogUp.Store(true)
		l.sendAck(res)
		if cancelled {
			// The answer raced our CANCEL: complete the dialog, then end it.
			bye := l.sendBye()
			d := analytics.Cancelled
			if timedOut {
				d = analytics.NoAnswer
			}
			l.finish(Result{Disposition: d, SIPCode: code, Reason: "answered after CANCEL; hung up", ByeStatus: bye})
			return true
		}
		if err := l.startMedia(res.Body()); err != nil {
			bye := l.sendBye()
			l.finish(Result{Disposition: analytics.ConfigError, SIPCode: code, Reason: err.Error(), ByeStatus: bye})
			return true
		}
		l.mu.Lock()
		l.result.Answered = time.Now()
		l.result.SIPCode = code
		l.mu.Unlock()
		l.log.Info("call answered", "codec", l.codec.Name, "ring_ms", time.Since(st.start).Milliseconds())
		l.monitors.Add(1)
		go l.monitor()
		return true
	case (code == 401 || code == 407) && !st.authTried && l.req.Trunk.Username != "":
		st.authTried = true
		ntx, err := l.e.client.TransactionDigestAuth(context.Background(), l.invite, res,
			sipgo.DigestAuth{Username: l.req.Trunk.Username, Password: l.req.Trunk.Password})
		if err != nil {
			l.finish(Result{Disposition: analytics.ConfigError, SIPCode: code, Reason: "digest: " + err.Error()})
			return true
		}
		st.tx.Terminate()
		st.tx = ntx
		l.reackOn(ntx)
		return false
	default:
		reason := res.Reason
		if code == 401 || code == 407 {
			reason = "digest challenge could not be answered (check trunk username/password)"
		}
		l.finish(Result{Disposition: Disposition(code, timedOut), SIPCode: code, Reason: reason})
		return true
	}
}

func (l *Leg) earlyMedia(body []byte) {
	ep, err := media.ParseSDP(body)
	if err != nil {
		l.log.Debug("183 with unusable SDP", "err", err)
		return
	}
	c, err := media.Negotiate(l.req.Trunk.Codecs, ep.Codecs)
	if err != nil {
		return
	}
	l.codec = c
	l.session.SetRemote(ep.Addr)
	l.session.Start() // hear early media (announcements) before the answer
}

// startMedia applies the answer SDP. The answer must name one of our codecs.
func (l *Leg) startMedia(body []byte) error {
	ep, err := media.ParseSDP(body)
	if err != nil {
		return fmt.Errorf("answer SDP: %w", err)
	}
	c, err := media.Negotiate(l.req.Trunk.Codecs, ep.Codecs[:min(1, len(ep.Codecs))])
	if err != nil {
		return fmt.Errorf("answer SDP: %w", err)
	}
	if l.codec.Name != "" && l.codec != c {
		// Early media used another codec: rebuild the session on the same socket is
		// not possible, so the answered codec wins for new packets.
		l.log.Debug("codec changed at answer", "early", l.codec.Name, "answer", c.Name)
	}
	l.codec = c
	l.session.SetCodec(c, ep.DTMFType)
	l.session.SetRemote(ep.Addr)
	l.session.Start()
	return nil
}

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

func (l *Leg) sendCancel() {
	inv := l.invite
	c := sip.NewRequest(sip.CANCEL, inv.Recipient)
	c.AppendHeader(sip.HeaderClone(inv.Via()))
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	sip.CopyHeaders("Route", inv, c)
	c.SetDestination(inv.Destination())
	c.SetTransport(inv.Transport())
	c.Laddr = inv.Laddr
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cancelGuard)
		defer cancel()
		if _, err := l.e.client.Do(ctx, c); err != nil {
			l.log.Debug("CANCEL not confirmed", "err", err)
		}
	}()
}

// monitor runs an answered call until a BYE, a local hangup or RTP silence.
func (l *Leg) monitor() {
	defer l.monitors.Done()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-l.bye:
			l.finish(Result{Disposition: analytics.Answered, Reason: "remote hangup"})
			return
		case <-l.hangup:
			bye := l.sendBye()
			l.finish(Result{Disposition: analytics.Answered, Reason: "local hangup", ByeStatus: bye})
			return
		case <-check.C:
			if silent := time.Since(l.session.LastReceived()); silent > l.req.RTPTimeout {
				l.log.Warn("no RTP; hanging up", "silent", silent.Round(time.Second))
				bye := l.sendBye()
				l.finish(Result{Disposition: analytics.Answered, Reason: fmt.Sprintf("no RTP for %s", l.req.RTPTimeout), ByeStatus: bye})
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
		if !strings.HasPrefix(r.Disposition, analytics.Answered) {
			l.log.Info("call ended", "disposition", r.Disposition, "sip_code", r.SIPCode, "reason", r.Reason)
		} else {
			l.log.Info("call ended", "talk_ms", r.TalkMS(), "reason", r.Reason)
		}
		close(l.ended)
	})
}
