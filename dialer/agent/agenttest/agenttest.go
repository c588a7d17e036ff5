// Package agenttest is an agent's softphone for tests, the demo and the
// bench: a sipgo user agent that REGISTERs with digest authentication (MD5
// or SHA-256, refreshing its registration), answers the calls that ask for
// auto-answer (Call-Info answer-after, Alert-Info auto-answer) with real
// RTP (ivr/media), answers OPTIONS inside and outside its calls, hangs up,
// and can vanish as a phone that loses power does (nothing more sent or
// answered, no BYE).
//
// Many phones can share one media.Pacer (Options.Pacer), so fifty of them
// cost fifty sockets and one set of 20 ms ticks.
package agenttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/marcador/marcador/ivr/media"
	"github.com/marcador/marcador/ivr/media/mediatest"
)

// Options configure a phone.
type Options struct {
	// User and Password are the agent's SIP credentials.
	User, Password string
	// Registrar is host:port of the node the phone registers with.
	Registrar string
	// Algorithm is the digest algorithm it answers with, "MD5" or
	// "SHA-256"; default the first the challenge offers.
	Algorithm string
	// Listen is its SIP address; default 127.0.0.1:0.
	Listen string
	// Advertise, when set, is the host:port its Contact names instead of
	// the one it listens on: a phone behind a NAT names its private
	// address, which nobody outside reaches (requests to it must go where
	// its packets come from).
	Advertise string
	// RTPPorts is where its calls' media binds; default 36000-36999.
	RTPPorts media.PortRange
	// Pacer, when set, sends every call's RTP on its shared ticks.
	Pacer *media.Pacer
	// Expires is the registration interval asked for; default 60s (the
	// registrar's minimum). The phone refreshes at half of what it is
	// granted.
	Expires time.Duration
	// AnswerAll answers every call. By default a call is answered only
	// when its INVITE asks for auto-answer; others get 480, as a phone
	// whose user is away.
	AnswerAll bool
	// Record keeps what each call hears (Call.Heard).
	Record bool
	// Codecs it accepts, in its order of preference; default PCMU, PCMA
	// (a phone that prefers PCMA makes a PCMU debtor's bridge convert).
	Codecs []media.Codec
	Logger *slog.Logger
}

// Phone is one running test phone.
type Phone struct {
	opt   Options
	log   *slog.Logger
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cli   *sipgo.Client
	conn  net.PacketConn
	done  chan struct{}
	cache *sipgo.DialogServerCache
	host  string
	port  int
	ahost string // what the Contact names
	aport int
	rhost string
	rport int

	mu       sync.Mutex
	callID   string
	cseq     uint32
	tag      string
	refresh  context.CancelFunc
	calls    map[string]*Call // by Call-ID
	incoming chan *Call
	gone     bool
	regs     int // successful REGISTERs
	pings    int // OPTIONS answered inside a call
	closed   sync.Once
}

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

// Start binds the phone's socket and serves; it does not register yet
// (Register).
func Start(opt Options) (*Phone, error) {
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if opt.RTPPorts == (media.PortRange{}) {
		opt.RTPPorts = media.PortRange{Min: 36000, Max: 36999}
	}
	if opt.Expires <= 0 {
		opt.Expires = time.Minute
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rhost, rport, err := splitHostPort(opt.Registrar)
	if err != nil {
		return nil, fmt.Errorf("test phone %s: registrar: %w", opt.User, err)
	}
	var ahost string
	var aport int
	if opt.Advertise != "" {
		if ahost, aport, err = splitHostPort(opt.Advertise); err != nil {
			return nil, fmt.Errorf("test phone %s: advertise: %w", opt.User, err)
		}
	}
	pc, err := net.ListenPacket("udp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("test phone %s: listen: %w", opt.User, err)
	}
	la := pc.LocalAddr().(*net.UDPAddr)
	p := &Phone{opt: opt, log: opt.Logger.With("phone", opt.User), conn: pc, done: make(chan struct{}),
		host: la.IP.String(), port: la.Port, ahost: la.IP.String(), aport: la.Port, rhost: rhost, rport: rport,
		callID: "reg-" + sip.GenerateTagN(16), tag: sip.GenerateTagN(12),
		calls: map[string]*Call{}, incoming: make(chan *Call, 16)}
	if ahost != "" {
		p.ahost, p.aport = ahost, aport
	}
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent("agenttest/1.0"), sipgo.WithUserAgentHostname(p.host)); err != nil {
		pc.Close()
		return nil, err
	}
	if p.srv, err = sipgo.NewServer(p.ua); err != nil {
		pc.Close()
		p.ua.Close()
		return nil, err
	}
	if p.cli, err = sipgo.NewClient(p.ua, sipgo.WithClientHostname(p.host), sipgo.WithClientPort(p.port),
		sipgo.WithClientConnectionAddr(la.String())); err != nil {
		pc.Close()
		p.ua.Close()
		return nil, err
	}
	p.cache = sipgo.NewDialogServerCache(p.cli, p.contact())
	p.srv.OnInvite(p.onInvite)
	p.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = p.cache.ReadAck(req, tx) })
	p.srv.OnBye(p.onBye)
	p.srv.OnOptions(p.onOptions)
	go func() {
		defer close(p.done)
		p.srv.ServeUDP(pc)
	}()
	for i := 0; ; i++ {
		if c, err := p.ua.TransportLayer().GetConnection("udp", la.String()); err == nil && c != nil {
			break
		}
		if i == 2000 {
			p.Close()
			return nil, fmt.Errorf("test phone %s: socket did not register", opt.User)
		}
		time.Sleep(time.Millisecond)
	}
	return p, nil
}

func splitHostPort(a string) (string, int, error) {
	h, ps, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return "", 0, fmt.Errorf("%q: bad port", a)
	}
	return h, port, nil
}

// Addr is the phone's SIP address (host:port).
func (p *Phone) Addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.port)) }

// ContactURI is the Contact the phone registers.
func (p *Phone) ContactURI() string {
	return "sip:" + p.opt.User + "@" + net.JoinHostPort(p.ahost, strconv.Itoa(p.aport))
}

func (p *Phone) contact() sip.ContactHeader {
	return sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.opt.User, Host: p.ahost, Port: p.aport}}
}

// StatusError is a final response other than the one wanted.
type StatusError struct {
	Method string
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.Method, e.Code, e.Reason)
}

// Register registers the phone's contact (digest-authenticated) and keeps
// it registered until Unregister, Vanish or Close. The error is a
// *StatusError when the registrar refused (401 for a wrong password, 403
// when locked out).
func (p *Phone) Register(ctx context.Context) error {
	granted, err := p.register(ctx, p.opt.Expires)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.refresh != nil {
		p.refresh()
	}
	rctx, cancel := context.WithCancel(context.Background())
	p.refresh = cancel
	p.mu.Unlock()
	go p.keepRegistered(rctx, granted)
	return nil
}

// Registrations counts the REGISTERs the registrar accepted (refreshes
// included).
func (p *Phone) Registrations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.regs
}

func (p *Phone) keepRegistered(ctx context.Context, granted time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(granted/2, time.Second)):
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		g, err := p.register(rctx, p.opt.Expires)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("test phone: refresh failed", "err", err)
			}
			continue
		}
		granted = g
	}
}

// Unregister removes the phone's binding (Expires: 0) and stops refreshing.
func (p *Phone) Unregister(ctx context.Context) error {
	p.mu.Lock()
	if p.refresh != nil {
		p.refresh()
		p.refresh = nil
	}
	p.mu.Unlock()
	_, err := p.register(ctx, 0)
	return err
}

// register sends one REGISTER asking for expires, answers its challenge
// and returns what the registrar granted.
func (p *Phone) register(ctx context.Context, expires time.Duration) (time.Duration, error) {
	res, err := p.cli.Do(ctx, p.registerReq(expires, ""))
	if err != nil {
		return 0, fmt.Errorf("test phone %s: REGISTER: %w", p.opt.User, err)
	}
	if res.StatusCode == 401 {
		auth, err := p.answer(res)
		if err != nil {
			return 0, err
		}
		if res, err = p.cli.Do(ctx, p.registerReq(expires, auth)); err != nil {
			return 0, fmt.Errorf("test phone %s: REGISTER: %w", p.opt.User, err)
		}
	}
	if res.StatusCode != 200 {
		return 0, &StatusError{Method: "REGISTER", Code: int(res.StatusCode), Reason: res.Reason}
	}
	p.mu.Lock()
	p.regs++
	p.mu.Unlock()
	granted := expires
	for _, h := range res.GetHeaders("Contact") {
		if strings.Contains(h.Value(), p.ContactURI()) {
			if i := strings.Index(h.Value(), "expires="); i >= 0 {
				if n, err := strconv.Atoi(strings.TrimSpace(h.Value()[i+len("expires="):])); err == nil {
					granted = time.Duration(n) * time.Second
				}
			}
		}
	}
	return granted, nil
}

func (p *Phone) registerReq(expires time.Duration, auth string) *sip.Request {
	p.mu.Lock()
	p.cseq++
	seq := p.cseq
	p.mu.Unlock()
	r := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: p.rhost, Port: p.rport})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.opt.User, Host: p.rhost}, Params: sip.NewParams()}
	from.Params.Add("tag", p.tag)
	r.AppendHeader(from)
	r.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: p.opt.User, Host: p.rhost}})
	cid := sip.CallIDHeader(p.callID)
	r.AppendHeader(&cid)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
	c := p.contact()
	r.AppendHeader(&c)
	r.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	r.AppendHeader(sip.NewHeader("User-Agent", "agenttest/1.0"))
	if auth != "" {
		r.AppendHeader(sip.NewHeader("Authorization", auth))
	}
	return r
}

// answer computes the Authorization for a 401: the challenge of the
// configured algorithm, else the first.
func (p *Phone) answer(res *sip.Response) (string, error) {
	var chosen *digest.Challenge
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			return "", fmt.Errorf("test phone %s: challenge %q: %w", p.opt.User, h.Value(), err)
		}
		if chosen == nil && (p.opt.Algorithm == "" || strings.EqualFold(c.Algorithm, p.opt.Algorithm)) {
			chosen = c
		}
	}
	if chosen == nil {
		return "", fmt.Errorf("test phone %s: no %s challenge offered", p.opt.User, p.opt.Algorithm)
	}
	uri := sip.Uri{Scheme: "sip", Host: p.rhost, Port: p.rport}
	cred, err := digest.Digest(chosen, digest.Options{Method: "REGISTER", URI: uri.Addr(), Username: p.opt.User,
		Password: p.opt.Password, Count: 1})
	if err != nil {
		return "", fmt.Errorf("test phone %s: digest: %w", p.opt.User, err)
	}
	return cred.String(), nil
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

// Vanish makes the phone disappear as one that lost power or network: its
// socket and its calls' media close at once, nothing is sent (no BYE, no
// un-REGISTER) and nothing is answered any more.
func (p *Phone) Vanish() {
	p.mu.Lock()
	p.gone = true
	if p.refresh != nil {
		p.refresh()
		p.refresh = nil
	}
	calls := p.calls
	p.calls = map[string]*Call{}
	p.mu.Unlock()
	p.conn.Close()
	for _, c := range calls {
		c.end()
	}
}

// Close hangs up the calls still up, stops refreshing (without
// un-REGISTERing: the binding lapses) and stops serving.
func (p *Phone) Close() {
	p.closed.Do(func() {
		p.mu.Lock()
		calls := make([]*Call, 0, len(p.calls))
		for _, c := range p.calls {
			calls = append(calls, c)
		}
		gone := p.gone
		p.mu.Unlock()
		if !gone {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			for _, c := range calls {
				_ = c.Hangup(ctx)
			}
			cancel()
		}
		p.Vanish()
		<-p.done
		p.cli.Close()
		p.srv.Close()
		p.ua.Close()
	})
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
