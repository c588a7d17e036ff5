package mediatest

// Which recorded prompts the far end of a call heard, from the audio that
// crossed a real RTP stream.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/marcador/marcador/ivr/media"
)

// Recorder keeps the decoded audio a call received, in arrival order (use
// OnAudio as the leg's OnAudio).
type Recorder struct {
	mu  sync.Mutex
	pcm []int16
}

// OnAudio appends a received frame (the caller reuses its buffer).
func (r *Recorder) OnAudio(pcm []int16) {
	r.mu.Lock()
	r.pcm = append(r.pcm, pcm...)
	r.mu.Unlock()
}

// Samples is a copy of everything received so far.
func (r *Recorder) Samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pcm)
}

// window is how many samples of a prompt a mark holds (20 ms).
const window = media.FrameSamples

// mark is a window of a prompt and where in the prompt it starts.
type mark struct {
	at int
	w  []int16
}

// Detector finds prompts in received audio. G.711 works sample by sample,
// so a prompt sent over a stream arrives as exactly the codec's round trip
// of its samples, whatever the packet boundaries. A prompt counts as heard
// when its marks (the loudest window of each half and its last loud one)
// all arrive sample for sample, each at its own distance from the start:
// two phrases that end with the same words may share a window, never all
// three at those distances.
type Detector struct {
	marks map[string][]mark
}

// NewDetector prepares prompts as sent with codec.
func NewDetector(codec media.Codec, prompts ...*media.Prompt) *Detector {
	d := &Detector{marks: map[string][]mark{}}
	for _, p := range prompts {
		sent := codec.Decode(nil, codec.Encode(nil, p.Samples))
		if m := marks(sent); len(m) > 0 {
			d.marks[p.Name] = m
		}
	}
	return d
}

// marks picks the loudest window of each half of s and its last loud one.
func marks(s []int16) []mark {
	if len(s) < window {
		return nil
	}
	energy := func(i int) (e int64) {
		for _, x := range s[i : i+window] {
			e += int64(x) * int64(x)
		}
		return e
	}
	var loudest int64
	for i := 0; i+window <= len(s); i += window / 4 {
		loudest = max(loudest, energy(i))
	}
	if loudest == 0 {
		return nil
	}
	best := func(from, to int) int {
		at, top := -1, int64(-1)
		for i := from; i+window <= to; i += window / 4 {
			if e := energy(i); e > top {
				at, top = i, e
			}
		}
		return at
	}
	var out []mark
	half := len(s) / 2
	for _, at := range []int{best(0, half), best(half, len(s))} {
		if at >= 0 {
			out = append(out, mark{at, s[at : at+window]})
		}
	}
	for i := len(s) - window; i >= 0; i -= window / 4 {
		if energy(i) >= loudest/10 {
			out = append(out, mark{i, s[i : i+window]})
			break
		}
	}
	return out
}

// at says whether every mark of ms is in pcm for a prompt starting at start.
func at(pcm []int16, ms []mark, start int) bool {
	for _, m := range ms {
		i := start + m.at
		if i < 0 || i+window > len(pcm) || !slices.Equal(pcm[i:i+window], m.w) {
			return false
		}
	}
	return true
}

// Heard lists, sorted, the prompts pcm holds to their end.
func (d *Detector) Heard(pcm []int16) []string {
	// Index pcm by pairs of samples so a first mark is checked only where
	// its first two samples occur.
	index := map[uint32][]int32{}
	for i := 0; i+window <= len(pcm); i++ {
		k := uint32(uint16(pcm[i]))<<16 | uint32(uint16(pcm[i+1]))
		index[k] = append(index[k], int32(i))
	}
	var out []string
	for name, ms := range d.marks {
		first := ms[0]
		for _, i := range index[uint32(uint16(first.w[0]))<<16|uint32(uint16(first.w[1]))] {
			if at(pcm, ms, int(i)-first.at) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// EndOf is where in pcm the prompt's first full playing ends (just after
// its last loud window), or -1 when pcm does not hold it to its end.
func (d *Detector) EndOf(pcm []int16, name string) int {
	ms := d.marks[name]
	if len(ms) == 0 {
		return -1
	}
	first, last := ms[0], ms[len(ms)-1]
	for i := 0; i+window <= len(pcm); i++ {
		if pcm[i] == first.w[0] && at(pcm, ms, i-first.at) {
			return i - first.at + last.at + window
		}
	}
	return -1
}

// Wait returns once r has received the prompt to its end after sample from
// (so a prompt heard again is waited for again), and where it ended. It
// fails when ctx ends (give it a generous deadline) or done closes first
// (the call ended).
func (d *Detector) Wait(ctx context.Context, r *Recorder, name string, from int, done <-chan struct{}) (int, error) {
	if d.marks[name] == nil {
		return -1, fmt.Errorf("mediatest: no prompt %s", name)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	end := func() int {
		pcm := r.Samples()
		if from > len(pcm) {
			return -1
		}
		if i := d.EndOf(pcm[from:], name); i >= 0 {
			return from + i
		}
		return -1
	}
	for {
		if i := end(); i >= 0 {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("mediatest: %s not heard: %w (heard %v)", name, ctx.Err(), d.Heard(r.Samples()[from:]))
		case <-done:
			if i := end(); i >= 0 {
				return i, nil
			}
			return -1, fmt.Errorf("mediatest: the call ended before %s was heard (heard %v)", name, d.Heard(r.Samples()[from:]))
		case <-t.C:
		}
	}
}
