package media

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wavBytes builds a PCM WAV file in memory.
func wavBytes(rate, chans, bits int, frames [][]int) []byte {
	var data bytes.Buffer
	for _, f := range frames {
		for _, v := range f {
			switch bits {
			case 8:
				data.WriteByte(byte(v))
			case 16:
				binary.Write(&data, binary.LittleEndian, int16(v))
			case 24:
				data.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16)})
			}
		}
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint16(chans))
	binary.Write(&b, binary.LittleEndian, uint32(rate))
	binary.Write(&b, binary.LittleEndian, uint32(rate*chans*bits/8))
	binary.Write(&b, binary.LittleEndian, uint16(chans*bits/8))
	binary.Write(&b, binary.LittleEndian, uint16(bits))
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

func tone(rate, n int, hz float64, amp float64) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = int(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return out
}

func TestDecodeWAVNative(t *testing.T) {
	var frames [][]int
	for _, v := range tone(8000, 800, 440, 8000) {
		frames = append(frames, []int{v})
	}
	p, err := DecodeWAV("t", wavBytes(8000, 1, 16, frames))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Samples) != 800 || p.Duration().Milliseconds() != 100 || int(p.Samples[10]) != frames[10][0] {
		t.Fatalf("samples %d dur %s", len(p.Samples), p.Duration())
	}
}

func TestDecodeWAVConvertsStereo44k(t *testing.T) {
	l, r := tone(44100, 44100, 1000, 10000), tone(44100, 44100, 1000, 10000)
	var frames [][]int
	for i := range l {
		frames = append(frames, []int{l[i], r[i]})
	}
	p, err := DecodeWAV("s", wavBytes(44100, 2, 16, frames))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Samples); n < 7990 || n > 8010 {
		t.Fatalf("resampled to %d samples, want ~8000", n)
	}
	if f := DominantFrequency(p.Samples, []float64{500, 1000, 1500}); f != 1000 {
		t.Fatalf("tone after conversion: %v Hz", f)
	}
}

func TestDecodeWAVRejects(t *testing.T) {
	if _, err := DecodeWAV("x", []byte("not a wav")); err == nil || !strings.Contains(err.Error(), "not a valid WAV") {
		t.Fatalf("garbage: %v", err)
	}
	float := wavBytes(8000, 1, 16, [][]int{{1}})
	float[20] = 3 // IEEE float format tag
	if _, err := DecodeWAV("f", float); err == nil || !strings.Contains(err.Error(), "not integer PCM") {
		t.Fatalf("float: %v", err)
	}
}

func TestPromptsCache(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hola.wav"), wavBytes(8000, 1, 16, [][]int{{1}, {2}}), 0o644)
	ps := NewPrompts(dir)
	a, err := ps.Get("hola")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "hola.wav"))
	b, err := ps.Get("hola")
	if err != nil || a != b {
		t.Fatalf("not cached: %v", err)
	}
	if _, err := ps.Get("missing"); err == nil {
		t.Fatal("missing prompt loaded")
	}
}

func FuzzDecodeWAV(f *testing.F) {
	f.Add(wavBytes(8000, 1, 16, [][]int{{1}, {-1}}))
	f.Add(wavBytes(16000, 2, 8, [][]int{{1, 2}}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		DecodeWAV("fuzz", b)
	})
}

func TestEncodeWAVRoundTrip(t *testing.T) {
	in := Tone(440, 8000, 800)
	p, err := DecodeWAV("t", EncodeWAV(in))
	if err != nil || len(p.Samples) != len(in) || p.Samples[100] != in[100] {
		t.Fatalf("%v %d", err, len(p.Samples))
	}
}
