package media

import (
	"net/netip"
	"slices"
	"sync"
)

// muxIndex finds the session a datagram on a shared socket belongs to. The
// port no longer says which call a packet is for, so the source address and
// the SSRC do, under the same rules a per-call socket applies (symmetric
// RTP: a session answers where its peer's media comes from, latched on the
// first packet; once latched, another source is a stranger until the call
// is re-negotiated), in this order:
//
//  1. a latched session at this source with this SSRC;
//  2. a session not yet latched whose peer's SDP announced this SSRC
//     (a=ssrc, RFC 5576), from the IP its SDP names;
//  3. the one session not yet latched whose SDP names exactly this
//     address and port;
//  4. the one session latched at this source (its peer changed SSRC);
//  5. none, if a session on this host already latched this SSRC at another
//     port: its peer moved (NAT rebinding, or a forgery), and is not
//     re-latched until the call is re-negotiated (SetRemote);
//  6. the one session not yet latched from this IP that knows no SSRC of
//     its peer (a NAT changed the port its SDP names).
//
// Anything else is dropped and counted as stray. Peers that send every
// call from one address and port are told apart by the SSRC their SDP
// announces; without it, only by the port. Guarded by mu, then the
// session's mu: a session's remote, latched, peerSSRC and tracked change
// only with both held.
type muxIndex struct {
	mu      sync.Mutex
	bySrc   map[netip.AddrPort][]muxEntry // latched sessions by their peer's address
	bySSRC  map[uint32]*Session           // latched sessions by their peer's SSRC
	pending map[netip.Addr][]*Session     // started sessions not latched, by the IP their SDP names
	n       int                           // sessions tracked
}

type muxEntry struct {
	s    *Session
	ssrc uint32 // the peer's SSRC last seen
}

func (x *muxIndex) init() {
	x.bySrc, x.bySSRC, x.pending = map[netip.AddrPort][]muxEntry{}, map[uint32]*Session{}, map[netip.Addr][]*Session{}
}

func (x *muxIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n
}

// track starts routing to s (Start).
func (x *muxIndex) track(s *Session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tracked || s.ctx.Err() != nil {
		return
	}
	s.tracked = true
	x.n++
	x.addPendingLocked(s)
}

// untrack stops routing to s (Close).
func (x *muxIndex) untrack(s *Session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tracked {
		return
	}
	x.removeLocked(s)
	s.tracked = false
	x.n--
}

func (x *muxIndex) addPendingLocked(s *Session) {
	if s.remote.IsValid() {
		a := s.remote.Addr()
		x.pending[a] = append(x.pending[a], s)
	}
}

func (x *muxIndex) removeLocked(s *Session) {
	if !s.latched {
		if !s.remote.IsValid() {
			return
		}
		a := s.remote.Addr()
		if l := slices.DeleteFunc(x.pending[a], func(o *Session) bool { return o == s }); len(l) > 0 {
			x.pending[a] = l
		} else {
			delete(x.pending, a)
		}
		return
	}
	l := x.bySrc[s.remote]
	for i, e := range l {
		if e.s == s {
			if x.bySSRC[e.ssrc] == s {
				delete(x.bySSRC, e.ssrc)
			}
			l = slices.Delete(l, i, i+1)
			break
		}
	}
	if len(l) > 0 {
		x.bySrc[s.remote] = l
	} else {
		delete(x.bySrc, s.remote)
	}
}

// find is the session a packet from src with ssrc is for, latching it if
// this is its first; nil when none may take it.
func (x *muxIndex) find(src netip.AddrPort, ssrc uint32) *Session {
	x.mu.Lock()
	defer x.mu.Unlock()
	l := x.bySrc[src]
	for _, e := range l {
		if e.ssrc == ssrc {
			return e.s
		}
	}
	cands := x.pending[src.Addr()]
	for _, s := range cands {
		if s.peerSSRC != 0 && s.peerSSRC == ssrc {
			return x.latchLocked(s, src, ssrc)
		}
	}
	if s := onlyOne(cands, func(s *Session) bool { return s.remote == src }); s != nil {
		return x.latchLocked(s, src, ssrc)
	}
	if len(l) == 1 {
		e := &l[0]
		if x.bySSRC[e.ssrc] == e.s {
			delete(x.bySSRC, e.ssrc)
		}
		e.ssrc = ssrc
		x.bySSRC[ssrc] = e.s
		return e.s
	}
	if o := x.bySSRC[ssrc]; o != nil && o.remote.Addr() == src.Addr() {
		o.bad.Add(1) // as on a per-call socket: a stranger's packets
		return nil
	}
	if s := onlyOne(cands, func(s *Session) bool { return s.peerSSRC == 0 }); s != nil {
		return x.latchLocked(s, src, ssrc)
	}
	return nil
}

func onlyOne(l []*Session, ok func(*Session) bool) *Session {
	var found *Session
	for _, s := range l {
		if ok(s) {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

func (x *muxIndex) latchLocked(s *Session, src netip.AddrPort, ssrc uint32) *Session {
	s.mu.Lock()
	x.removeLocked(s)
	if s.remote != src {
		s.log.Debug("rtp: latched to source", "sdp", s.remote, "seen", src)
	}
	s.remote, s.latched = src, true
	s.mu.Unlock()
	x.bySrc[src] = append(x.bySrc[src], muxEntry{s: s, ssrc: ssrc})
	x.bySSRC[ssrc] = s
	return s
}
