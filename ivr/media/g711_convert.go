package media

// μ-law ↔ A-law conversion for a relay between legs that negotiated
// different G.711 laws: one table lookup per byte, in place, no decode to
// linear in between (the tables are that decode and re-encode, done once).

var (
	ulawToAlaw = convertTable(DecodeUlaw, EncodeAlaw)
	alawToUlaw = convertTable(DecodeAlaw, EncodeUlaw)
)

func convertTable(dec func(byte) int16, enc func(int16) byte) (t [256]byte) {
	for i := range t {
		t[i] = enc(dec(byte(i)))
	}
	return t
}

// Transcode converts a G.711 payload from src to dst in place; nothing
// happens when they are the same law.
func Transcode(payload []byte, src, dst Codec) {
	if src.PayloadType == dst.PayloadType {
		return
	}
	t := &ulawToAlaw
	if src.PayloadType == PCMA.PayloadType {
		t = &alawToUlaw
	}
	for i, c := range payload {
		payload[i] = t[c]
	}
}
