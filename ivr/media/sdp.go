package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Direction is an SDP media direction (RFC 3264 §5.1); hold is sendonly or inactive.
type Direction string

const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Reverse is the direction an answerer uses for an offer's direction.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	}
	return d
}

// DefaultDTMFPayloadType is what we offer for telephone-event.
const DefaultDTMFPayloadType = 101

// Endpoint is one side's audio as SDP describes it.
type Endpoint struct {
	Addr      netip.AddrPort // where to send RTP
	Codec     Codec          // the negotiated (answer) or preferred (offer) codec
	DTMFType  uint8          // telephone-event payload type; 0 when not offered
	Direction Direction
	// Codecs lists the G.711 codecs offered, in preference order.
	Codecs []Codec
	// SSRC is the stream's SSRC if announced (a=ssrc, RFC 5576), else 0.
	SSRC uint32
}

// OfferOptions describe our local media for an offer or an answer.
type OfferOptions struct {
	Addr      netip.AddrPort // our RTP address as the peer must reach it
	Codecs    []Codec        // preference order; default PCMU, PCMA
	SessionID uint64
	Version   uint64
	Direction Direction // default sendrecv
	// SSRC, if not 0, is announced (a=ssrc): a peer that carries many calls
	// on one port (as we do on a shared socket) tells our stream apart by it.
	SSRC uint32
}

// MarshalSDP writes an audio offer (or answer when Codecs holds the one
// chosen codec) with telephone-event, ptime 20.
func MarshalSDP(o OfferOptions) ([]byte, error) {
	if !o.Addr.IsValid() {
		return nil, errors.New("sdp: local media address is not set")
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []Codec{PCMU, PCMA}
	}
	if o.Direction == "" {
		o.Direction = SendRecv
	}
	ip := o.Addr.Addr().Unmap()
	addrType := "IP4"
	if ip.Is6() {
		addrType = "IP6"
	}
	formats := make([]string, 0, len(o.Codecs)+1)
	attrs := make([]sdp.Attribute, 0, len(o.Codecs)+5)
	for _, c := range o.Codecs {
		formats = append(formats, strconv.Itoa(int(c.PayloadType)))
		attrs = append(attrs, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", c.PayloadType, c.Name)))
	}
	formats = append(formats, strconv.Itoa(DefaultDTMFPayloadType))
	attrs = append(attrs,
		sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/8000", DefaultDTMFPayloadType)),
		sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", DefaultDTMFPayloadType)),
		sdp.NewAttribute("ptime", "20"),
		sdp.NewPropertyAttribute(string(o.Direction)),
	)
	if o.SSRC != 0 {
		attrs = append(attrs, sdp.NewAttribute("ssrc", fmt.Sprintf("%d cname:marcador", o.SSRC)))
	}
	s := sdp.SessionDescription{
		Origin: sdp.Origin{Username: "marcador", SessionID: o.SessionID, SessionVersion: o.Version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: ip.String()},
		SessionName:           "marcador",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip.String()}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(o.Addr.Port())},
				Protos: []string{"RTP", "AVP"}, Formats: formats},
			Attributes: attrs,
		}},
	}
	return s.Marshal()
}

// ParseSDP reads the peer's first active audio stream: address, the G.711
// codecs it lists (in its order), telephone-event type and direction.
func ParseSDP(body []byte) (Endpoint, error) {
	var e Endpoint
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return e, fmt.Errorf("sdp: %w", err)
	}
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		ci := m.ConnectionInformation
		if ci == nil {
			ci = s.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return e, errors.New("sdp: audio stream has no connection address (c=)")
		}
		host := ci.Address.Address
		// A host name in c= is legal but rare; resolving it would let a peer
		// make us do DNS on the call path, so it is refused.
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return e, fmt.Errorf("sdp: connection address %q: not an IP address", host)
		}
		port := m.MediaName.Port.Value
		if port <= 0 || port > 65535 {
			return e, fmt.Errorf("sdp: audio port %d out of range", port)
		}
		e.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
		e.Direction = SendRecv
		for _, a := range append(append([]sdp.Attribute{}, s.Attributes...), m.Attributes...) {
			switch Direction(a.Key) {
			case SendRecv, SendOnly, RecvOnly, Inactive:
				e.Direction = Direction(a.Key)
			}
		}
		if ip.IsUnspecified() && e.Direction == SendRecv { // RFC 2543-style hold: c=0.0.0.0
			e.Direction = Inactive
		}
		names := map[uint8]string{}
		e.SSRC = announcedSSRC(m.Attributes)
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, rest, ok := strings.Cut(a.Value, " ")
			n, err := strconv.Atoi(pt)
			if !ok || err != nil || n < 0 || n > 127 {
				continue
			}
			names[uint8(n)] = strings.ToLower(strings.SplitN(rest, "/", 2)[0])
		}
		for _, f := range m.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				continue
			}
			pt := uint8(n)
			name, named := names[pt]
			switch {
			case name == "pcmu" || (!named && pt == PCMU.PayloadType):
				e.Codecs = append(e.Codecs, PCMU)
			case name == "pcma" || (!named && pt == PCMA.PayloadType):
				e.Codecs = append(e.Codecs, PCMA)
			case name == "telephone-event":
				if e.DTMFType == 0 {
					e.DTMFType = pt
				}
			}
		}
		if len(e.Codecs) > 0 {
			e.Codec = e.Codecs[0]
		}
		return e, nil
	}
	return e, errors.New("sdp: no active audio stream")
}

// announcedSSRC is the first a=ssrc's id (RFC 5576), 0 when there is none.
func announcedSSRC(attrs []sdp.Attribute) uint32 {
	for _, a := range attrs {
		if a.Key == "ssrc" {
			id, _, _ := strings.Cut(a.Value, " ")
			if n, err := strconv.ParseUint(id, 10, 32); err == nil {
				return uint32(n)
			}
		}
	}
	return 0
}

// Negotiate picks the codec for an answer: the first of ours (preference
// order) that the offer lists. Offerers list theirs in preference too, but a
// dialer's trunk preference is what the operator configured.
func Negotiate(ours []Codec, offered []Codec) (Codec, error) {
	for _, c := range ours {
		for _, o := range offered {
			if c == o {
				return c, nil
			}
		}
	}
	return Codec{}, fmt.Errorf("sdp: no common codec (we have %s, peer offers %s)", codecNames(ours), codecNames(offered))
}

func codecNames(cs []Codec) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ",")
}
