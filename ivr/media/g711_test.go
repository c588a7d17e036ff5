package media

import "testing"

// Reference points from ITU-T G.711 tables (and every G.711 implementation):
// μ-law 0xFF and 0x7F are ±0, 0x00/0x80 the extremes ∓32124; A-law 0xD5/0x55
// are ±8, 0xAA/0x2A the extremes ±32256.
func TestG711ReferenceValues(t *testing.T) {
	ulaw := map[byte]int16{0xFF: 0, 0x7F: 0, 0x00: -32124, 0x80: 32124, 0xF0: 120, 0x70: -120, 0xEF: 132, 0xDF: 396, 0x8F: 16764}
	for code, want := range ulaw {
		if got := DecodeUlaw(code); got != want {
			t.Errorf("DecodeUlaw(%#x) = %d, want %d", code, got, want)
		}
	}
	alaw := map[byte]int16{0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xD4: 24, 0xC5: 264, 0xF5: 528}
	for code, want := range alaw {
		if got := DecodeAlaw(code); got != want {
			t.Errorf("DecodeAlaw(%#x) = %d, want %d", code, got, want)
		}
	}
	enc := []struct {
		in         int16
		ulaw, alaw byte
	}{{0, 0xFF, 0xD5}, {-1, 0x7F, 0x55}, {32767, 0x80, 0xAA}, {-32768, 0x00, 0x2A}, {1000, 0xCE, 0xFA}, {-1000, 0x4E, 0x7A}}
	for _, tc := range enc {
		if got := EncodeUlaw(tc.in); got != tc.ulaw {
			t.Errorf("EncodeUlaw(%d) = %#x, want %#x", tc.in, got, tc.ulaw)
		}
		if got := EncodeAlaw(tc.in); got != tc.alaw {
			t.Errorf("EncodeAlaw(%d) = %#x, want %#x", tc.in, got, tc.alaw)
		}
	}
}

// Every code decodes to a value that encodes back to the same code (except
// μ-law's negative zero, 0x7F, which encodes as positive zero).
func TestG711RoundTripAllCodes(t *testing.T) {
	for i := range 256 {
		c := byte(i)
		if got := EncodeUlaw(DecodeUlaw(c)); got != c && c != 0x7F {
			t.Errorf("ulaw %#x -> %d -> %#x", c, DecodeUlaw(c), got)
		}
		if got := EncodeAlaw(DecodeAlaw(c)); got != c {
			t.Errorf("alaw %#x -> %d -> %#x", c, DecodeAlaw(c), got)
		}
	}
}

// Quantisation error stays within half a step of each segment (monotone codec).
func TestG711ErrorBounded(t *testing.T) {
	for s := -32768; s <= 32767; s += 7 {
		for _, c := range []Codec{PCMU, PCMA} {
			out := c.Decode(nil, c.Encode(nil, []int16{int16(s)}))[0]
			diff := int(out) - s
			if diff < 0 {
				diff = -diff
			}
			limit := max(16, abs(s)/16) // a step is 1/16 of the segment
			if diff > limit {
				t.Fatalf("%s: %d -> %d (error %d > %d)", c.Name, s, out, diff, limit)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func BenchmarkEncodeUlaw160(b *testing.B) {
	pcm := make([]int16, 160)
	for i := range pcm {
		pcm[i] = int16(i * 200)
	}
	buf := make([]byte, 0, 160)
	for b.Loop() {
		buf = PCMU.Encode(buf[:0], pcm)
	}
}
