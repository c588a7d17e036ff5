package dialer

import (
	"fmt"

	"github.com/marcador/marcador/ivr/media"
)

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
