package dialer

import (
	"fmt"
	"net"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// OutboundProbe is how long an outbound call sends to the address the
// carrier's SDP names before any RTP comes back: some carriers and gateways
// send nothing until they hear us, but nothing real stays silent longer
// than this.
const OutboundProbe = 5 * time.Second

// localSDP is our side of the offer/answer (RFC 3264): one session id for
// the whole call and a new version each time.
func (l *Leg) localSDP(codecs []media.Codec, dir media.Direction) ([]byte, error) {
	return media.MarshalSDP(media.OfferOptions{Addr: l.session.LocalAddr(), Codecs: codecs,
		SessionID: l.sdpID, Version: l.sdpVersion.Add(1), Direction: dir, SSRC: l.session.SSRC()})
}

// openOutboundMedia binds the call's RTP port (anywhere in the range: the
// ports inbound calls may not take are outbound's), or takes a shared
// socket, and returns our offer.
func (l *Leg) openOutboundMedia() ([]byte, error) {
	r := l.out.req
	o := media.SessionOptions{Mux: l.e.mux, Logger: l.log, OnAudio: r.OnAudio, OnSend: r.OnSend,
		Pacer: l.e.pacer, Probe: OutboundProbe}
	if l.e.mux == nil {
		conn, err := media.ListenRTP(l.e.opt.RTPAddr, l.e.opt.RTPPorts)
		if err != nil {
			return nil, err
		}
		o.Conn = conn
	}
	l.session = media.NewSession(o)
	offer, err := l.localSDP(r.codecs(), media.SendRecv)
	if err != nil {
		l.session.Close()
		return nil, err
	}
	return offer, nil
}

// earlyMedia plays what a 183's SDP sends (announcements, ringback) before
// the answer; an SDP it cannot use is ignored.
func (l *Leg) earlyMedia(body []byte) {
	ep, err := media.ParseSDP(body)
	if err != nil {
		l.log.Debug("183 with unusable SDP", "err", err)
		return
	}
	c, err := media.Negotiate(l.out.req.codecs(), ep.Codecs)
	if err != nil {
		return
	}
	l.setCodec(c)
	l.session.SetPeer(ep.Addr, ep.SSRC)
	l.session.Start()
}

// startMedia applies the answer SDP. The answer must name one of our codecs.
func (l *Leg) startMedia(body []byte) error {
	ep, err := media.ParseSDP(body)
	if err != nil {
		return fmt.Errorf("answer SDP: %w", err)
	}
	c, err := media.Negotiate(l.out.req.codecs(), ep.Codecs[:min(1, len(ep.Codecs))])
	if err != nil {
		return fmt.Errorf("answer SDP: %w", err)
	}
	if early := l.setCodec(c); early.Name != "" && early != c {
		// Early media used another codec: the session keeps its socket, so
		// the answered codec wins for new packets.
		l.log.Debug("codec changed at answer", "early", early.Name, "answer", c.Name)
	}
	l.session.SetCodec(c, ep.DTMFType)
	l.session.SetPeer(ep.Addr, ep.SSRC)
	l.session.Start()
	return nil
}

// negotiateOffer reads a caller's SDP offer and picks our codec for it.
func negotiateOffer(body []byte, ours []media.Codec) (media.Endpoint, media.Codec, error) {
	offer, err := media.ParseSDP(body)
	if err != nil {
		return offer, media.Codec{}, err
	}
	codec, err := media.Negotiate(ours, offer.Codecs)
	return offer, codec, err
}

// openInboundMedia runs the answered call's media on conn (nil: on a
// shared socket) and returns our answer to offer.
func (l *Leg) openInboundMedia(conn *net.UDPConn, offer media.Endpoint, codec media.Codec, o AnswerOptions) ([]byte, error) {
	l.setCodec(codec)
	// No Probe: nothing goes to the address the caller's SDP names until
	// media arrives from the caller (symmetric RTP), so an INVITE cannot aim
	// our stream at a third party.
	so := media.SessionOptions{Conn: conn, Remote: offer.Addr, RemoteSSRC: offer.SSRC, Codec: codec, DTMFType: offer.DTMFType,
		Pacer: l.e.pacer, Logger: l.log, OnAudio: o.OnAudio, OnSend: o.OnSend}
	if conn == nil {
		so.Mux = l.e.mux
	}
	l.session = media.NewSession(so)
	answer, err := l.localSDP([]media.Codec{codec}, offer.Direction.Reverse())
	if err != nil {
		l.session.Close()
		return nil, fmt.Errorf("answer SDP: %w", err)
	}
	return answer, nil
}

// setCodec records the negotiated codec and returns the one before. A
// re-INVITE may read it from another goroutine as soon as the dialog is up.
func (l *Leg) setCodec(c media.Codec) (was media.Codec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	was, l.codec = l.codec, c
	return was
}

// negotiated is the codec in use; zero before any SDP answer.
func (l *Leg) negotiated() media.Codec {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codec
}

// applyReoffer follows the far end's new offer: where to send, and whether
// it holds the call (sendonly or inactive: prompts pause and the session
// sends silence).
func (l *Leg) applyReoffer(ep media.Endpoint) {
	l.session.SetPeer(ep.Addr, ep.SSRC)
	l.session.SetHold(ep.Direction == media.SendOnly || ep.Direction == media.Inactive)
}

// setHeld records that we hold the far end, or no longer do.
func (l *Leg) setHeld(on bool) {
	if !on {
		l.unheldAt.Store(time.Now().UnixNano())
	}
	l.held.Store(on)
}

// silence is how long the far end has sent nothing that it should have
// sent: while we hold it, it sends nothing (RFC 3264 §8.4), so the RTP
// timeout does not run, and it counts again from the unhold.
func (l *Leg) silence() time.Duration {
	if l.held.Load() {
		return 0
	}
	last := l.session.LastReceived()
	if u := time.Unix(0, l.unheldAt.Load()); u.After(last) {
		last = u
	}
	return time.Since(last)
}
