package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/analytics"
	"github.com/marcador/marcador/queue"
	"github.com/marcador/marcador/queue/phone"
)

// Ring timeout bounds: US Reg F wants at least 15 s of ringing.
const (
	DefaultRingTimeout = 25 * time.Second
	MinRingTimeout     = 15 * time.Second
	// cancelGuard bounds the wait for a final response after our CANCEL.
	cancelGuard = 8 * time.Second
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
	Trunk *Trunk
	// Direct, instead of a trunk, calls a SIP user agent itself (an
	// agent's registered phone); To is then its SIP URI.
	Direct      *Direct
	To          string // E.164 number or SIP URI
	CallerID    string // overrides the trunk's
	RingTimeout time.Duration
	RTPTimeout  time.Duration
	// OnAudio receives decoded inbound audio (AMD, recording). Optional.
	OnAudio func(pcm []int16)
	// OnSend receives outbound packet intervals (jitter metrics). Optional.
	OnSend func(time.Duration)
}

// checked fills the defaults and refuses a request that must not be dialled.
func (r DialRequest) checked() (DialRequest, error) {
	if r.Direct != nil {
		return r.checkDirect()
	}
	if r.Trunk == nil {
		return r, errors.New("no trunk")
	}
	if r.RingTimeout == 0 {
		r.RingTimeout = DefaultRingTimeout
	}
	if r.RingTimeout < queue.MinRingTimeout {
		return r, fmt.Errorf("ring timeout %s is below the %s minimum", r.RingTimeout, queue.MinRingTimeout)
	}
	if r.CallerID == "" {
		r.CallerID = r.Trunk.CallerID
	}
	if r.CallerID == "" {
		return r, fmt.Errorf("%w: set caller_id on the campaign or on trunk %s", ErrCallerID, r.Trunk.Name)
	}
	return r, CheckCallerID(r.CallerID)
}

// outbound is what only a leg we placed has.
type outbound struct {
	req    DialRequest
	invite *sip.Request // ours; sipgo adds credentials and a new Via to it after a challenge
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
	r, err := r.checked()
	if err != nil {
		return nil, err
	}
	target, err := r.target()
	if err != nil {
		return nil, err
	}
	release, err := r.acquire(ctx)
	if err != nil {
		return nil, err
	}
	callID := sip.GenerateTagN(24)
	k, v := r.via()
	l := newLeg(e, callID, e.log.With("call_id", callID, "to", r.To, k, v), r.RTPTimeout, release)
	l.out = &outbound{req: r}
	offer, err := l.openOutboundMedia()
	if err != nil {
		release()
		return nil, err
	}
	l.out.invite = e.buildInvite(target, r, callID, offer)
	e.register(l)
	if err := l.invitePhase(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// buildInvite is our INVITE; r.CallerID is set and checked (a direct dial
// has none: directInvite sets its From).
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
	if r.Direct == nil {
		req.AppendHeader(sip.NewHeader("P-Asserted-Identity", fmt.Sprintf("<sip:%s@%s>", cli, e.host)))
	}
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, INFO, OPTIONS"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer)
	if r.Direct != nil {
		e.directInvite(req, r.Direct)
		return req
	}
	// Every initial request goes to the trunk (outbound proxy), whatever the URI's host.
	port := r.Trunk.URI.Port
	if port == 0 {
		port = 5060
	}
	req.SetDestination(net.JoinHostPort(r.Trunk.URI.Host, fmt.Sprint(port)))
	return req
}

// inviteTx is the INVITE phase's progress: the client transaction we own
// (sipgo's dialog helpers give up after 10 provisional responses) and what
// it has seen. The leg's state says whether it rings or is being cancelled.
type inviteTx struct {
	tx        sip.ClientTransaction
	start     time.Time
	ring      *time.Timer
	guard     <-chan time.Time // runs once we sent CANCEL
	heard     bool             // a provisional response came: the trunk is there
	ringing   bool             // 180 or 183 seen: the Reg F minimum applies
	authTried bool
	timedOut  bool // the ring timeout, not the caller, stopped the call
}

// cancelledAs is the disposition of a call we stopped before its answer.
func (st *inviteTx) cancelledAs() string {
	if st.timedOut {
		return analytics.NoAnswer
	}
	return analytics.Cancelled
}

// invitePhase owns the INVITE client transaction until a final outcome:
// answered (the monitor takes over) or ended. An error means the INVITE
// could not be sent (the leg is finished, as local_error). ctx ending, or
// a hangup (the endpoint closing), cancels the call; the leg outlives ctx.
func (l *Leg) invitePhase(ctx context.Context) error {
	st, err := l.sendInvite()
	if err != nil {
		return err
	}
	defer st.ring.Stop()
	ctxDone, hangup := ctx.Done(), l.hangup
	for {
		select {
		case res := <-st.tx.Responses():
			if l.onResponse(st, res) {
				return nil
			}
		case <-st.ring.C:
			if l.onRingTimeout(st) {
				return nil
			}
		case <-ctxDone:
			ctxDone = nil
			l.cancel(st)
		case <-hangup:
			hangup = nil
			l.cancel(st)
		case <-st.guard:
			st.tx.Terminate()
			l.finish(Result{Disposition: st.cancelledAs(), Reason: "no final response to CANCEL"})
			return nil
		case <-st.tx.Done():
			if l.onTxDone(st) {
				return nil
			}
		}
	}
}

func (l *Leg) sendInvite() (*inviteTx, error) {
	start := time.Now()
	l.mu.Lock()
	l.result.Started = start
	l.mu.Unlock()
	if err := l.moveTo(legCalling); err != nil {
		l.finish(Result{Disposition: analytics.LocalError, Reason: err.Error()})
		return nil, err
	}
	tx, err := l.e.client.TransactionRequest(context.Background(), l.out.invite)
	if err != nil {
		err = fmt.Errorf("send INVITE: %w", err)
		l.finish(Result{Disposition: analytics.LocalError, Reason: err.Error()})
		return nil, err
	}
	l.reackOn(tx)
	return &inviteTx{tx: tx, start: start, ring: time.NewTimer(l.out.req.RingTimeout)}, nil
}

// reackOn answers each retransmission of the 2xx with another ACK: the far
// end retransmits because our ACK was lost (RFC 3261 §13.2.2.4), and drops
// the call when its retransmissions run out.
func (l *Leg) reackOn(tx sip.ClientTransaction) {
	tx.OnRetransmission(func(res *sip.Response) {
		if res.IsSuccess() && l.dlg.Load() != nil {
			l.log.Debug("2xx retransmitted; ACK again")
			l.sendAck(res)
		}
	})
}

// onRingTimeout cancels a call that rang too long; one that never heard
// back from the trunk (cancelled or not) ends as a network error. True when
// the phase is over.
func (l *Leg) onRingTimeout(st *inviteTx) bool {
	st.timedOut = true
	if !st.heard {
		st.tx.Terminate()
		l.finish(Result{Disposition: analytics.NetworkError, Reason: fmt.Sprintf("no response from trunk in %s", l.out.req.RingTimeout)})
		return true
	}
	l.cancel(st)
	return false
}

// cancel sends CANCEL once and starts the wait for the INVITE's final
// response; the state machine refuses a second one, and one after the answer.
func (l *Leg) cancel(st *inviteTx) {
	if l.moveTo(legCancelling) != nil {
		return
	}
	l.sendCancel()
	st.guard = time.After(cancelGuard)
}

// onTxDone ends the phase when the transaction ended without a final
// response. True when the phase is over.
func (l *Leg) onTxDone(st *inviteTx) bool {
	// A final response may be queued behind Done (separate goroutines).
	select {
	case res := <-st.tx.Responses():
		return l.onResponse(st, res)
	default:
	}
	reason := "INVITE transaction ended without a final response"
	if err := st.tx.Err(); err != nil {
		reason = err.Error()
	}
	d := analytics.NetworkError
	if l.is(legCancelling) && !st.timedOut {
		d = analytics.Cancelled
	}
	l.finish(Result{Disposition: d, Reason: reason})
	return true
}

// onResponse handles one response to the INVITE; true when the phase is over.
func (l *Leg) onResponse(st *inviteTx, res *sip.Response) bool {
	code := int(res.StatusCode)
	switch {
	case code < 200:
		l.onProvisional(st, res)
		return false
	case code < 300:
		l.onAnswer(st, res)
		return true
	case code == 401 || code == 407:
		return l.onChallenge(st, res)
	}
	l.finish(Result{Disposition: Disposition(code, st.timedOut), SIPCode: code, Reason: res.Reason})
	return true
}

func (l *Leg) onProvisional(st *inviteTx, res *sip.Response) {
	code := int(res.StatusCode)
	st.heard = true
	// Refused once early, or cancelling: the call stays where it is.
	_ = l.moveTo(legEarly)
	if (code == 180 || code == 183) && !st.ringing && !st.timedOut {
		st.ringing = true
		// Reg F: once it rings, let it ring at least the minimum.
		if left := l.out.req.RingTimeout - time.Since(st.start); left < queue.MinRingTimeout {
			st.ring.Reset(queue.MinRingTimeout)
		}
	}
	if code == 183 && len(res.Body()) > 0 {
		l.earlyMedia(res.Body())
	}
}

// onAnswer takes the 2xx: the dialog is confirmed and acknowledged, then
// either the call runs or, when we had cancelled it or cannot use its SDP,
// it ends at once with a BYE.
func (l *Leg) onAnswer(st *inviteTx, res *sip.Response) {
	code := int(res.StatusCode)
	d := outboundDialog(l.out.invite, res)
	if dr := l.out.req.Direct; dr != nil {
		d.dest = dr.Addr // the phone's Contact may name its side of a NAT
	}
	l.dlg.Store(d)
	l.sendAck(res)
	if l.is(legCancelling) {
		// The answer raced our CANCEL: complete the dialog, then end it.
		l.hangUp(Result{Disposition: st.cancelledAs(), SIPCode: code, Reason: "answered after CANCEL; hung up"})
		return
	}
	if err := l.startMedia(res.Body()); err != nil {
		l.hangUp(Result{Disposition: analytics.ConfigError, SIPCode: code, Reason: err.Error()})
		return
	}
	if err := l.answered(code); err != nil {
		l.log.Warn("answer not recorded", "err", err)
		return
	}
	l.log.Info("call answered", "codec", l.negotiated().Name, "ring_ms", time.Since(st.start).Milliseconds())
}

// onChallenge answers a 401 or 407 with the trunk's credentials, once, and
// never for a call we have cancelled (the state machine refuses to start
// it again). True when the phase is over.
func (l *Leg) onChallenge(st *inviteTx, res *sip.Response) bool {
	code := int(res.StatusCode)
	user, password := l.out.req.credentials()
	if st.authTried || user == "" || l.moveTo(legCalling) != nil {
		reason := "digest challenge could not be answered (check trunk username/password)"
		if l.is(legCancelling) {
			reason = res.Reason
		}
		l.finish(Result{Disposition: Disposition(code, st.timedOut), SIPCode: code, Reason: reason})
		return true
	}
	st.authTried = true
	ntx, err := l.e.client.TransactionDigestAuth(context.Background(), l.out.invite, res,
		sipgo.DigestAuth{Username: user, Password: password})
	if err != nil {
		l.finish(Result{Disposition: analytics.ConfigError, SIPCode: code, Reason: "digest: " + err.Error()})
		return true
	}
	st.tx.Terminate()
	st.tx = ntx
	l.reackOn(ntx)
	return false
}

// sendCancel cancels our INVITE (RFC 3261 §9.1): the same Request-URI, Via,
// From, To, Call-ID and CSeq number. Its answer matters only for the log:
// the INVITE's final response (487) is what ends the call.
func (l *Leg) sendCancel() {
	inv := l.out.invite
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
