package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TelephoneEvent is the RFC 4733 §2.3 payload of a named telephone event.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	|     event     |E|R| volume    |          duration             |
type TelephoneEvent struct {
	Event    uint8  // 0-9 digits, 10 '*', 11 '#', 12-15 A-D (RFC 4733 §3.2)
	End      bool   // E bit: last packet(s) of the event
	Volume   uint8  // 0..63, -dBm0
	Duration uint16 // in timestamp units since the event's RTP timestamp
}

// TelephoneEventLen is the payload size of one event.
const TelephoneEventLen = 4

var errShortEvent = errors.New("telephone-event payload shorter than 4 bytes")

// Unmarshal parses the payload (RFC 4733 §2.3); trailing bytes (a second
// event in the same packet, rare) are ignored.
func (e *TelephoneEvent) Unmarshal(b []byte) error {
	if len(b) < TelephoneEventLen {
		return errShortEvent
	}
	e.Event = b[0]
	e.End = b[1]&0x80 != 0
	e.Volume = b[1] & 0x3F
	e.Duration = binary.BigEndian.Uint16(b[2:4])
	return nil
}

// MarshalTo writes the payload into b, which must hold 4 bytes.
func (e TelephoneEvent) MarshalTo(b []byte) (int, error) {
	if len(b) < TelephoneEventLen {
		return 0, errShortEvent
	}
	b[0] = e.Event
	b[1] = e.Volume & 0x3F
	if e.End {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], e.Duration)
	return TelephoneEventLen, nil
}

const dtmfDigits = "0123456789*#ABCD"

// DigitOf returns the DTMF character of an event code, ok=false for non-DTMF events.
func DigitOf(event uint8) (rune, bool) {
	if int(event) < len(dtmfDigits) {
		return rune(dtmfDigits[event]), true
	}
	return 0, false
}

// EventOf returns the event code of a DTMF character.
func EventOf(d rune) (uint8, error) {
	for i, c := range dtmfDigits {
		if c == d || (d >= 'a' && d <= 'd' && c == d-'a'+'A') {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not a DTMF digit", d)
}

// DTMFReceiver turns a stream of telephone-event packets into digits: one
// digit per event, however many packets carry it (RFC 4733 §2.5.1.3: an event
// keeps its RTP timestamp; the end packet is sent three times).
type DTMFReceiver struct {
	last    uint32
	started bool
	ended   uint16 // the duration in the last event's end packet; 0 until it ends
}

// Push takes one packet's RTP timestamp and payload and returns the digit if
// this packet begins an event not seen before.
func (r *DTMFReceiver) Push(timestamp uint32, payload []byte) (rune, bool, error) {
	var e TelephoneEvent
	if err := e.Unmarshal(payload); err != nil {
		return 0, false, err
	}
	if r.started && timestamp == r.last {
		// A continuation or a redundant end packet; but a packet that
		// starts over (not an end packet, duration well below the ended
		// event's) is a new press from a sender that reuses timestamps,
		// as replayed recordings do.
		if r.ended == 0 || e.End || e.Duration >= r.ended/2 {
			if e.End && e.Duration > r.ended {
				r.ended = e.Duration
			}
			return 0, false, nil
		}
	}
	d, ok := DigitOf(e.Event)
	if !ok {
		return 0, false, nil
	}
	r.started, r.last, r.ended = true, timestamp, 0
	if e.End {
		r.ended = max(e.Duration, 1)
	}
	return d, true, nil
}
