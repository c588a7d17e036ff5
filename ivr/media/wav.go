package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-audio/wav"
)

// SampleRate is the telephony rate every prompt is converted to.
const SampleRate = 8000

// Prompt is audio ready to send: 8 kHz mono 16-bit linear samples.
type Prompt struct {
	Name    string
	Samples []int16
	codes   promptCodes // Encoded's cache
}

// Duration of the prompt.
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.Samples)) * time.Second / SampleRate
}

// DecodeWAV reads a PCM WAV file. 8 kHz mono 16-bit is used as is; other
// integer PCM (8/16/24/32-bit, any rate, any channel count) is mixed down to
// mono and resampled to 8 kHz at load time; anything else is an error that
// says what the file is.
func DecodeWAV(name string, b []byte) (*Prompt, error) {
	d := wav.NewDecoder(bytes.NewReader(b))
	if !d.IsValidFile() {
		return nil, fmt.Errorf("prompt %s: not a valid WAV file", name)
	}
	if d.WavAudioFormat != 1 {
		return nil, fmt.Errorf("prompt %s: WAV format %d is not integer PCM (convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav)", name, d.WavAudioFormat)
	}
	switch d.BitDepth {
	case 8, 16, 24, 32:
	default:
		return nil, fmt.Errorf("prompt %s: %d-bit samples not supported", name, d.BitDepth)
	}
	if d.SampleRate < 4000 || d.SampleRate > 192000 || d.NumChans < 1 || d.NumChans > 8 {
		return nil, fmt.Errorf("prompt %s: %d Hz, %d channels: out of range", name, d.SampleRate, d.NumChans)
	}
	buf, err := d.FullPCMBuffer()
	if err != nil {
		return nil, fmt.Errorf("prompt %s: read samples: %w", name, err)
	}
	ch := int(d.NumChans)
	shift := int(d.BitDepth) - 16
	frames := len(buf.Data) / ch
	mono := make([]int16, frames)
	for i := range frames {
		sum := 0
		for c := range ch {
			v := buf.Data[i*ch+c]
			if d.BitDepth == 8 {
				v = (v - 128) << 8 // 8-bit WAV is unsigned
			} else if shift > 0 {
				v >>= shift
			}
			sum += v
		}
		mono[i] = clamp16(sum / ch)
	}
	if d.SampleRate != SampleRate {
		mono = resample(mono, int(d.SampleRate), SampleRate)
	}
	return &Prompt{Name: name, Samples: mono}, nil
}

func clamp16(v int) int16 {
	return int16(max(-32768, min(32767, v)))
}

// resample converts by linear interpolation, after a moving-average low-pass
// when decimating so higher-rate recordings do not alias into the voice band.
func resample(in []int16, from, to int) []int16 {
	if len(in) == 0 {
		return nil
	}
	src := in
	if from > to {
		k := (from + to - 1) / to
		src = make([]int16, len(in))
		acc := 0
		for i := range in {
			acc += int(in[i])
			if i >= k {
				acc -= int(in[i-k])
			}
			src[i] = int16(acc / min(i+1, k))
		}
	}
	n := int(int64(len(src)) * int64(to) / int64(from))
	out := make([]int16, n)
	for i := range out {
		pos := float64(i) * float64(from) / float64(to)
		j := int(pos)
		frac := pos - float64(j)
		a := float64(src[j])
		b := a
		if j+1 < len(src) {
			b = float64(src[j+1])
		}
		out[i] = clamp16(int(a + (b-a)*frac))
	}
	return out
}

// Prompts loads WAV prompts once and serves them from memory.
type Prompts struct {
	dir   string
	mu    sync.Mutex
	cache map[string]*Prompt
}

// NewPrompts serves prompts from dir; names without a directory resolve there.
func NewPrompts(dir string) *Prompts { return &Prompts{dir: dir, cache: map[string]*Prompt{}} }

// Get returns the prompt at name (a path, or a file in the prompt dir, with
// or without ".wav"), loading and converting it on first use.
func (p *Prompts) Get(name string) (*Prompt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr, ok := p.cache[name]; ok {
		return pr, nil
	}
	path := name
	if !filepath.IsAbs(path) && p.dir != "" && filepath.Dir(path) == "." {
		path = filepath.Join(p.dir, path)
	}
	if filepath.Ext(path) == "" {
		path += ".wav"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", name, err)
	}
	pr, err := DecodeWAV(name, b)
	if err != nil {
		return nil, err
	}
	p.cache[name] = pr
	return pr, nil
}

// EncodeWAV writes 8 kHz mono 16-bit samples as a WAV file (recordings, tests).
func EncodeWAV(samples []int16) []byte {
	n := len(samples) * 2
	b := wavHeader(make([]byte, 0, wavHeaderLen+n), 1, uint32(n))
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}
