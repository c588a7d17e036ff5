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
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/ivr/media"
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
