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

// nextFrame is the next FrameSamples samples in codec c from the prompts'
// shared encodings, and whether anything is left after it. A frame that
// lies within one prompt is that encoding's own bytes (shared: read only);
// one that spans prompts or runs past the end (silence) is put together in
// scratch. The codec may change between frames (SetCodec): each frame is
// taken from the encoding asked for.
func (p *playback) nextFrame(c Codec, scratch []byte) (frame []byte, more bool) {
	if p.part < len(p.parts) {
		if enc := p.parts[p.part].Encoded(c); p.pos+FrameSamples <= len(enc) {
			frame = enc[p.pos : p.pos+FrameSamples]
			if p.pos += FrameSamples; p.pos == len(enc) {
				p.part, p.pos = p.part+1, 0
			}
			return frame, p.part < len(p.parts)
		}
	}
	frame = scratch[:FrameSamples]
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
	return frame, p.part < len(p.parts)
}

// silenceFrames are a frame of silence in PCMU and in PCMA, shared by
// every sender (read only).
var silenceFrames = [2][FrameSamples]byte{fillFrame(silenceByte(PCMU)), fillFrame(silenceByte(PCMA))}

func fillFrame(b byte) (f [FrameSamples]byte) {
	for i := range f {
		f[i] = b
	}
	return f
}

// silenceFrame is a frame of silence in c.
func silenceFrame(c Codec) []byte {
	if c.PayloadType == PCMA.PayloadType {
		return silenceFrames[1][:]
	}
	return silenceFrames[0][:]
}
