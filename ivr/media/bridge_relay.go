package media

import (
	"time"

	"github.com/pion/rtp"
)

// RFC 3550 A.1: a sequence number this far ahead of the highest seen, or
// this far behind it, means the source restarted its numbering.
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// forward relays one packet that src received from its latched peer. b is
// the datagram, parsed into pkt (pkt.Payload points into b); it is
// rewritten in place: the new 12-byte header is written just before the
// payload (over the source's header, CSRCs and extensions, which belong to
// the other leg's negotiation), so nothing is copied. It does not allocate.
// With q (a shared socket's reader), the packet is queued for the reader's
// batched send when dst is on a shared socket too; otherwise it goes now.
// now is when the packet was read; for a packet read before the bridge
// (replay) it is the time of the replay, and heard when it was read (the
// leg's OnAudio had it then, so OnDebtorAudio does not get it again).
func (d *relayDir) forward(pkt *rtp.Packet, b []byte, srcDTMF uint8, now time.Time, q *txQueue, heard time.Time) {
	replay := !heard.IsZero()
	if !replay {
		heard = now
	}
	payload := pkt.Payload
	hdr := len(b) - int(pkt.PaddingSize) - len(payload)
	src, event, ok := relayable(pkt, srcDTMF)
	if !ok || len(payload) == 0 || hdr < 12 {
		d.dropped.Add(1) // not negotiated with the other leg (comfort noise, video), empty or malformed
		return
	}

	dst := d.dst
	dst.mu.Lock()
	if !d.active {
		dst.mu.Unlock()
		return
	}
	to := dst.targetLocked(now)
	send := to.IsValid() && (!dst.hold || event)
	codec, dstDTMF, ssrc := dst.codec, dst.dtmfType, dst.ssrc
	restart := d.anchorLocked(pkt, now)
	seq, ts := pkt.SequenceNumber+d.seqOff, pkt.Timestamp+d.tsOff
	marker := pkt.Marker || (restart && !event) // talkspurt start; an event's marker is its own
	var tone []int16
	if !event {
		tone = d.toneLocked(ts)
	}
	var digit rune
	var pressed bool
	if event {
		digit, pressed, _ = d.dtmf.Push(pkt.Timestamp, payload)
	} else if r := d.b.opt.Recorder; r != nil {
		r.Push(d.from, src, payload, now) // before the payload is rewritten below
	}
	connected := false
	if send {
		connected = d.continueLocked(seq, ts, payload, event, now)
	}
	dst.mu.Unlock()
	if f := d.b.opt.OnDebtorAudio; f != nil && d.from == Debtor && !event && !replay {
		d.pcm = src.Decode(d.pcm[:0], payload) // before the payload is rewritten below
		f(d.pcm)
	}

	if send {
		pt := codec.PayloadType
		switch {
		case event:
			pt = dstDTMF
		case tone != nil:
			mixTone(payload, src, codec, tone)
		case src.PayloadType != codec.PayloadType:
			Transcode(payload, src, codec)
		}
		writeHeader(b[hdr-12:hdr], pt, marker, seq, ts, ssrc)
		out := b[hdr-12 : hdr+len(payload)]
		e := txEnt{s: dst, d: d, at: heard, bytes: len(payload), connected: connected,
			counts: relayCounts{transcoded: !event && src.PayloadType != codec.PayloadType}}
		if q == nil || dst.mc == nil {
			d.sent(&e, dst.transmit(out, to) == nil)
		} else if !q.add(dst.mc, out, to, e) {
			d.sent(&e, false)
		}
	} else {
		d.dropped.Add(1)
	}
	if pressed {
		d.digits.Add(1)
		if d.b.opt.OnDigit != nil {
			d.b.opt.OnDigit(d.from, digit)
		}
	}
}

// sent accounts a relayed packet once it has left (ok) or failed.
func (d *relayDir) sent(e *txEnt, ok bool) {
	if !ok {
		d.dropped.Add(1)
	} else {
		d.packets.Add(1)
		d.bytes.Add(uint64(e.bytes))
		if e.counts.transcoded {
			d.transcoded.Add(1)
		}
		if f := d.b.opt.OnRelay; f != nil {
			f(d.from, e.at)
		}
	}
	if e.connected {
		close(d.b.connected)
	}
}

// relayable says what pkt carries: a telephone event (srcDTMF, at least
// one event long) or G.711 audio in src; ok is false for anything else.
func relayable(pkt *rtp.Packet, srcDTMF uint8) (src Codec, event, ok bool) {
	switch {
	case pkt.PayloadType == srcDTMF:
		return Codec{}, true, len(pkt.Payload) >= TelephoneEventLen
	case pkt.PayloadType == PCMU.PayloadType:
		return PCMU, false, true
	case pkt.PayloadType == PCMA.PayloadType:
		return PCMA, false, true
	}
	return Codec{}, false, false
}

// anchorLocked (dst.mu held) tracks the source's numbering and says whether
// this packet starts it over: the first packet, a new SSRC or a jump
// (RFC 3550 A.1). A new start follows what dst sent last, at the time
// elapsed since.
func (d *relayDir) anchorLocked(pkt *rtp.Packet, now time.Time) (restart bool) {
	restart = !d.anchored || pkt.SSRC != d.srcSSRC
	if !restart {
		switch delta := pkt.SequenceNumber - d.maxSeq; {
		case delta < maxDropout:
			d.maxSeq = pkt.SequenceNumber // in order, a few lost, or a duplicate
		case delta <= 1<<16-maxMisorder:
			restart = true // a jump: the source started over
		}
	}
	if restart {
		start := d.dst.clockLocked(now)
		d.tsOff, d.seqOff = start-pkt.Timestamp, d.dst.out.seq-pkt.SequenceNumber
		d.srcSSRC, d.maxSeq, d.anchored = pkt.SSRC, pkt.SequenceNumber, true
		d.dtmf = DTMFReceiver{}
	}
	return restart
}

// toneLocked (dst.mu held) is the part of the connect tone that goes with
// the audio packet at ts; nil once it has played.
func (d *relayDir) toneLocked(ts uint32) []int16 {
	if d.tone == nil {
		return nil
	}
	if !d.toneSet {
		d.toneAt, d.toneSet = ts, true
	}
	if off := int32(ts - d.toneAt); off >= 0 && int(off) < len(d.tone) {
		return d.tone[off:]
	} else if off >= 0 {
		d.tone = nil // played
	}
	return nil
}

// continueLocked (dst.mu held) moves dst's stream past the relayed packet,
// so its own sender resumes after it; true for the debtor's first packet,
// which connects the bridge.
func (d *relayDir) continueLocked(seq uint16, ts uint32, payload []byte, event bool, now time.Time) (connected bool) {
	out := &d.dst.out
	if int16(seq+1-out.seq) > 0 {
		out.seq = seq + 1
	}
	end := ts + uint32(len(payload))
	if event {
		var e TelephoneEvent
		e.Unmarshal(payload)
		end = ts + uint32(e.Duration)
	}
	if int32(end-out.nextTS) > 0 {
		out.nextTS = end
	}
	if d.first.IsZero() {
		d.first = now
		return d.from == Debtor
	}
	return false
}

// writeHeader writes a 12-byte RTP header (RFC 3550 §5.1) into h.
func writeHeader(h []byte, pt uint8, marker bool, seq uint16, ts, ssrc uint32) {
	h[0] = 0x80 // V=2, no padding, no extension, no CSRC
	h[1] = pt & 0x7F
	if marker {
		h[1] |= 0x80
	}
	h[2], h[3] = byte(seq>>8), byte(seq)
	h[4], h[5], h[6], h[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	h[8], h[9], h[10], h[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
}

// mixTone adds tone to the G.711 payload in place, converting from src to
// dst on the way (the few packets the connect tone lasts are the only ones
// decoded when the codecs match).
func mixTone(payload []byte, src, dst Codec, tone []int16) {
	dec := &ulawTable
	if src.PayloadType == PCMA.PayloadType {
		dec = &alawTable
	}
	enc := EncodeUlaw
	if dst.PayloadType == PCMA.PayloadType {
		enc = EncodeAlaw
	}
	for i, c := range payload {
		v := int(dec[c])
		if i < len(tone) {
			v += int(tone[i])
		}
		payload[i] = enc(clamp16(v))
	}
}

// replay relays the last packet src received before the bridge, if it
// came within the last frame interval and this direction has relayed
// nothing yet: a bridge made between two of the peer's packets connects
// with the one just heard instead of waiting up to 20 ms for the next.
// The packet passed the leg's rules when it arrived (latched source) and is
// relayed once, as if the bridge had been there; a packet already relayed
// or an older one is left alone. src.rxMu keeps the leg's reader out.
func (d *relayDir) replay() {
	s := d.src
	s.rxMu.Lock()
	defer s.rxMu.Unlock()
	within := d.b.opt.replayWithin
	if within == 0 {
		within = FrameDuration
	}
	if s.rxClosed || s.rx.lastN == 0 || time.Since(s.rx.lastAt) > within {
		return
	}
	s.mu.Lock()
	tapped, dtmfType := s.tap == d, s.dtmfType
	s.mu.Unlock()
	d.dst.mu.Lock()
	relayed := !d.first.IsZero()
	d.dst.mu.Unlock()
	if !tapped || relayed {
		return
	}
	b := s.rx.last[:s.rx.lastN]
	s.rx.lastN = 0
	var pkt rtp.Packet
	if pkt.Unmarshal(b) != nil {
		return
	}
	d.forward(&pkt, b, dtmfType, time.Now(), nil, s.rx.lastAt)
}
