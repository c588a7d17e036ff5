package media

import (
	"bytes"
	"testing"
)

// μ-law ↔ A-law by table equals decoding and re-encoding, and a
// round trip keeps the signal.
func TestTranscodeTables(t *testing.T) {
	for i := range 256 {
		if ulawToAlaw[i] != EncodeAlaw(DecodeUlaw(byte(i))) || alawToUlaw[i] != EncodeUlaw(DecodeAlaw(byte(i))) {
			t.Fatalf("table entry %d", i)
		}
	}
	tone := Tone(1000, 8000, 800)
	b := PCMU.Encode(nil, tone)
	Transcode(b, PCMU, PCMA)
	back := PCMA.Decode(nil, b)
	if f := DominantFrequency(back, []float64{440, 1000, 1400}); f != 1000 {
		t.Fatalf("PCMU→PCMA carries %v Hz", f)
	}
	same := PCMU.Encode(nil, tone)
	Transcode(same, PCMU, PCMU)
	if !bytes.Equal(same, PCMU.Encode(nil, tone)) {
		t.Fatal("same-law transcode changed the payload")
	}
}
