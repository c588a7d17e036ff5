// Package media carries call audio: RTP sessions (pion/rtp), G.711 μ-law and
// A-law, RFC 4733 telephone events, SDP offer/answer (pion/sdp) and WAV prompts.
package media

// G.711 (ITU-T G.711, 11/1988): 16-bit linear PCM to and from 8-bit
// companded codes. Encoding is computed; decoding uses 256-entry tables built
// once (they are constants in all but syntax).

const (
	ulawBias = 0x84
	ulawClip = 32635
)

// EncodeUlaw compands one sample to μ-law (G.711 §3, segment encoding with
// bias 132, codes inverted on the wire).
func EncodeUlaw(s int16) byte {
	v := int(s)
	sign := 0
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > ulawClip {
		v = ulawClip
	}
	v += ulawBias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

func decodeUlaw(u byte) int16 {
	u = ^u
	exp := int(u>>4) & 7
	mant := int(u) & 0x0F
	v := ((mant << 3) + ulawBias) << exp
	v -= ulawBias
	if u&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

// EncodeAlaw compands one sample to A-law (G.711 §2, even bits inverted: XOR 0x55).
func EncodeAlaw(s int16) byte {
	v := int(s) >> 3 // A-law works on 13 bits
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := 0
	for end := 0x1F; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0x0F
	} else {
		a |= (v >> seg) & 0x0F
	}
	return byte(a) ^ mask
}

func decodeAlaw(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := int(a&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

var (
	ulawTable = buildTable(decodeUlaw)
	alawTable = buildTable(decodeAlaw)
)

func buildTable(f func(byte) int16) (t [256]int16) {
	for i := range t {
		t[i] = f(byte(i))
	}
	return t
}

// DecodeUlaw expands a μ-law code.
func DecodeUlaw(u byte) int16 { return ulawTable[u] }

// DecodeAlaw expands an A-law code.
func DecodeAlaw(a byte) int16 { return alawTable[a] }

// Codec is a G.711 variant with its static RTP payload type (RFC 3551 §6).
type Codec struct {
	Name        string // "PCMU" or "PCMA"
	PayloadType uint8
}

var (
	PCMU = Codec{"PCMU", 0}
	PCMA = Codec{"PCMA", 8}
)

// CodecByName returns PCMU or PCMA (case-insensitive), ok=false otherwise.
func CodecByName(name string) (Codec, bool) {
	switch name {
	case "PCMU", "pcmu":
		return PCMU, true
	case "PCMA", "pcma":
		return PCMA, true
	}
	return Codec{}, false
}

// Encode appends the companded form of pcm to dst.
func (c Codec) Encode(dst []byte, pcm []int16) []byte {
	enc := EncodeUlaw
	if c.PayloadType == PCMA.PayloadType {
		enc = EncodeAlaw
	}
	for _, s := range pcm {
		dst = append(dst, enc(s))
	}
	return dst
}

// Decode appends the linear samples of payload to dst.
func (c Codec) Decode(dst []int16, payload []byte) []int16 {
	t := &ulawTable
	if c.PayloadType == PCMA.PayloadType {
		t = &alawTable
	}
	for _, b := range payload {
		dst = append(dst, t[b])
	}
	return dst
}
