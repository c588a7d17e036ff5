package dialer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/marcador/marcador/dialer/sparselog"
	"github.com/marcador/marcador/ivr/media"
)

// EndpointOptions say where this node speaks SIP and RTP.
type EndpointOptions struct {
	// Listen is the UDP address for SIP, e.g. "0.0.0.0:5060"; port 0 picks one.
	Listen string
	// PublicAddr is host[:port] put in Via and Contact; default the bound address.
	PublicAddr string
	// RTPAddr is the IP RTP binds to and SDP advertises; default the SIP IP.
	RTPAddr  netip.Addr
	RTPPorts media.PortRange
	// UserAgent header value.
	UserAgent string
	Logger    *slog.Logger
	// OnInvite is offered each new inbound call the Inbound policy admits,
	// on its own goroutine; it may block for the whole call. Without it
	// admitted calls get 480.
	OnInvite func(in *Inbound)
	// Inbound says who may call in and how many at once; its zero value
	// admits nobody (403).
	Inbound InboundPolicy
	// PacerShards is how many goroutines send every call's RTP on shared
	// 20 ms ticks; default media.DefaultPacerShards.
	PacerShards int
	// RTPSockets > 0 carries every call's RTP on that many shared sockets
	// (media.Mux, bound in RTPPorts; SDP advertises their ports, and calls
	// are told apart by source address and SSRC); 0 binds one socket per
	// call, for peers that need a port of their own per call.
	RTPSockets int
	// OnRegister, when set, answers every REGISTER (the agents' registrar,
	// registrar.Registrar.Handle) on its server transaction; without it
	// REGISTER gets 405. It must respond before it returns.
	OnRegister func(req *sip.Request, tx sip.ServerTransaction)
}

// Endpoint is this node's SIP user agent: it places calls (Dial), offers
// the calls it admits to OnInvite, and routes in-dialog requests (BYE,
// INFO, re-INVITE) to the leg whose dialog they name.
type Endpoint struct {
	opt    EndpointOptions
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	conn   net.PacketConn
	pacer  *media.Pacer
	mux    *media.Mux // nil: one socket per call
	host   string
	port   int
	in     inbound
	// inPorts is the part of RTPPorts inbound calls bind in: the ports
	// above it are kept for outbound dialing.
	inPorts media.PortRange

	mu   sync.Mutex
	legs map[string]*Leg // by Call-ID

	done chan struct{}
}

// NewEndpoint binds the SIP socket and starts serving.
func NewEndpoint(opt EndpointOptions) (*Endpoint, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "marcador"
	}
	if opt.RTPPorts == (media.PortRange{}) {
		opt.RTPPorts = media.PortRange{Min: 20000, Max: 29999}
	}
	if err := opt.RTPPorts.Validate(); err != nil {
		return nil, err
	}
	pol, err := inboundPolicy(opt)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenPacket("udp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip listen %s: %w", opt.Listen, err)
	}
	e := &Endpoint{opt: opt, log: opt.Logger, conn: pc, legs: map[string]*Leg{}, done: make(chan struct{}),
		inPorts: opt.RTPPorts.Below(pol.ReserveOutbound)}
	e.in.policy, e.in.forbiddenLog, e.in.busyLog = pol, sparselog.New(), sparselog.New()
	if err := e.setAddrs(pc.LocalAddr().(*net.UDPAddr)); err != nil {
		pc.Close()
		return nil, err
	}
	if err := e.startSIP(); err != nil {
		pc.Close()
		return nil, err
	}
	if opt.RTPSockets > 0 {
		e.mux, err = media.NewMux(media.MuxOptions{Addr: e.opt.RTPAddr, Ports: opt.RTPPorts, Sockets: opt.RTPSockets, Logger: opt.Logger})
		if err != nil {
			e.srv.Close()
			pc.Close()
			return nil, err
		}
	}
	e.pacer = media.NewPacer(opt.PacerShards)
	go func() {
		defer close(e.done)
		e.srv.ServeUDP(pc)
	}()
	if err := e.waitListening(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// inboundPolicy is opt.Inbound with its defaults, checked against the RTP
// port range.
func inboundPolicy(opt EndpointOptions) (InboundPolicy, error) {
	pol := opt.Inbound
	if pol.MaxCalls == 0 {
		pol.MaxCalls = DefaultInboundMaxCalls
	}
	if pol.MaxCalls < 0 {
		return pol, fmt.Errorf("inbound max calls %d: negative", pol.MaxCalls)
	}
	even := opt.RTPPorts.Even()
	switch {
	case pol.ReserveOutbound == 0:
		pol.ReserveOutbound = even / 2
	case pol.ReserveOutbound < 0:
		pol.ReserveOutbound = 0
	}
	if pol.ReserveOutbound >= even {
		return pol, fmt.Errorf("rtp ports reserved for outbound calls: %d of the %d in %d-%d leaves none for inbound calls",
			pol.ReserveOutbound, even, opt.RTPPorts.Min, opt.RTPPorts.Max)
	}
	return pol, nil
}

// setAddrs decides what we put in Via, Contact and SDP: the public address
// when configured, else the bound one; RTP on the SIP IP unless set.
func (e *Endpoint) setAddrs(la *net.UDPAddr) error {
	e.host, e.port = la.IP.String(), la.Port
	if pub := e.opt.PublicAddr; pub != "" {
		h, p, err := net.SplitHostPort(pub)
		if err != nil {
			h, p = pub, strconv.Itoa(la.Port)
		}
		e.host = h
		if e.port, err = strconv.Atoi(p); err != nil {
			return fmt.Errorf("sip public address %q: bad port", pub)
		}
	}
	if !e.opt.RTPAddr.IsValid() {
		ip, ok := netip.AddrFromSlice(la.IP)
		if !ok || ip.IsUnspecified() {
			ip = netip.MustParseAddr("127.0.0.1")
			if a, err := netip.ParseAddr(e.host); err == nil {
				ip = a
			}
		}
		e.opt.RTPAddr = ip.Unmap()
	}
	return nil
}

// startSIP builds sipgo's user agent, server and client and routes the
// requests we take (endpoint_route.go).
func (e *Endpoint) startSIP() error {
	opt, la := e.opt, e.conn.LocalAddr().String()
	var err error
	if e.ua, err = sipgo.NewUA(sipgo.WithUserAgent(opt.UserAgent), sipgo.WithUserAgentHostname(e.host),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(opt.Logger),
			sip.WithTransactionLayerUnhandledResponseHandler(e.onStrayResponse)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(opt.Logger))); err != nil {
		return fmt.Errorf("sip user agent: %w", err)
	}
	if e.srv, err = sipgo.NewServer(e.ua, sipgo.WithServerLogger(opt.Logger)); err != nil {
		return fmt.Errorf("sip server: %w", err)
	}
	// The client sends from the listening socket, so replies and in-dialog
	// requests come back to the address in our Via and Contact.
	if e.client, err = sipgo.NewClient(e.ua, sipgo.WithClientHostname(e.host), sipgo.WithClientPort(e.port),
		sipgo.WithClientConnectionAddr(la), sipgo.WithClientLogger(opt.Logger)); err != nil {
		return fmt.Errorf("sip client: %w", err)
	}
	e.srv.OnBye(e.onBye)
	e.srv.OnInfo(e.onInfo)
	e.srv.OnInvite(e.onInvite)
	// The ACK to our 2xx is a transaction of its own, with nothing to do.
	e.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	e.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	if opt.OnRegister != nil {
		e.srv.OnRegister(opt.OnRegister)
	}
	return nil
}

// waitListening waits until the client finds the listening socket in the
// transport's pool, which ServeUDP fills asynchronously, so the first Dial
// sends from it.
func (e *Endpoint) waitListening() error {
	la := e.conn.LocalAddr().String()
	for range 500 {
		if c, err := e.ua.TransportLayer().GetConnection("udp", la); err == nil && c != nil {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("sip listen %s: socket did not register", la)
}

// Addr is the bound SIP address.
func (e *Endpoint) Addr() string { return e.conn.LocalAddr().String() }

// contact is our Contact header.
func (e *Endpoint) contact() *sip.ContactHeader {
	return &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "marcador", Host: e.host, Port: e.port}}
}

// InboundStats count the inbound calls in progress and the INVITEs refused.
func (e *Endpoint) InboundStats() InboundStats {
	return InboundStats{Active: e.in.active.Load(), Forbidden: e.in.forbidden.Load(), Busy: e.in.busy.Load()}
}

// MediaStats counts the shared RTP sockets' traffic; zero with a socket
// per call.
func (e *Endpoint) MediaStats() media.MuxStats {
	if e.mux == nil {
		return media.MuxStats{}
	}
	return e.mux.Stats()
}

// ActiveLegs counts the calls placed or answered that have not ended
// (inbound offers not yet answered are not legs).
func (e *Endpoint) ActiveLegs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.legs)
}

// Close stops serving. The calls still up end first, all at once: answered
// ones with a BYE, ringing ones with a CANCEL (they end cancelled). Each
// waits for the far end only so long (byeTimeout, cancelGuard), so Close
// returns in seconds whatever the ring timeouts.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	legs := make([]*Leg, 0, len(e.legs))
	for _, l := range e.legs {
		legs = append(legs, l)
	}
	e.mu.Unlock()
	for _, l := range legs {
		l.stop()
	}
	// A CANCEL whose INVITE is answered anyway is followed by a BYE.
	ctx, cancel := context.WithTimeout(context.Background(), cancelGuard+byeTimeout+time.Second)
	defer cancel()
	for _, l := range legs {
		if r := l.Hangup(ctx); r.Ended.IsZero() {
			l.log.Warn("closing with the call not ended")
		}
	}
	err := e.conn.Close()
	e.srv.Close()
	e.client.Close()
	e.ua.Close()
	<-e.done
	e.pacer.Close()
	if e.mux != nil {
		e.mux.Close()
	}
	return err
}

func (e *Endpoint) register(l *Leg) {
	e.mu.Lock()
	e.legs[l.CallID] = l
	e.mu.Unlock()
}

func (e *Endpoint) unregister(l *Leg) {
	e.mu.Lock()
	if e.legs[l.CallID] == l {
		delete(e.legs, l.CallID)
	}
	e.mu.Unlock()
}
