package media

import "sync/atomic"

// A prompt's G.711 bytes are encoded once per codec, the first time a call
// plays it in that codec, and then shared by every call that plays it: the
// same prompt on 2,000 calls is copied 2,000 times per frame, not encoded.
// A prompt's Samples must not change once it has been played.

// promptCodes holds a prompt's encodings: PCMU and PCMA. Read without a
// lock; two calls racing to encode first both do it and one result wins
// (they are equal).
type promptCodes struct {
	ulaw, alaw atomic.Pointer[[]byte]
}

// Encoded is the prompt's samples in codec c (one byte per sample),
// computed once and shared: callers must not modify it.
func (p *Prompt) Encoded(c Codec) []byte {
	slot := &p.codes.ulaw
	if c.PayloadType == PCMA.PayloadType {
		slot = &p.codes.alaw
	}
	if b := slot.Load(); b != nil {
		return *b
	}
	b := c.Encode(make([]byte, 0, len(p.Samples)), p.Samples)
	slot.Store(&b)
	return b
}

// silenceByte is the code of a zero sample in c: what fills a frame past
// the end of the last prompt.
func silenceByte(c Codec) byte {
	if c.PayloadType == PCMA.PayloadType {
		return 0xD5
	}
	return 0xFF
}

// nextEncoded fills frame with the next len(frame) samples in codec c
// (silence past the end) from the prompts' shared encodings, and reports
// whether anything is left after it. The codec may change between frames
// (SetCodec): each frame is taken from the encoding asked for.
func (p *playback) nextEncoded(c Codec, frame []byte) bool {
	k := 0
	for k < len(frame) && p.part < len(p.parts) {
		n := copy(frame[k:], p.parts[p.part].Encoded(c)[p.pos:])
		k += n
		if p.pos += n; p.pos >= len(p.parts[p.part].Samples) {
			p.part, p.pos = p.part+1, 0
		}
	}
	fill := silenceByte(c)
	for i := k; i < len(frame); i++ {
		frame[i] = fill
	}
	return p.part < len(p.parts)
}
