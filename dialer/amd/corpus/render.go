package corpus

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/marcador/marcador/ivr/media"
)

// minCallMS is the shortest recording of a person or a machine: the
// detector's longest analysis (total_analysis_time) fits in it, so only
// the hang-up class ends before a decision.
const minCallMS = 9000

// ms converts milliseconds to samples.
func ms(n int) int { return n * media.SampleRate / 1000 }

// gen renders speech once per distinct text and voice.
type gen struct {
	mu      sync.Mutex
	renders map[string]*render
}

type render struct {
	once sync.Once
	pcm  []int16
	err  error
}

// speak renders sentences (joined by SSML pauses) with espeak-ng and
// converts them with sox to 8 kHz, leading and trailing silence trimmed,
// peak at -1 dBFS.
func (g *gen) speak(ctx context.Context, v voice, speed, pitch int, sentences []string, pauses []int) ([]int16, error) {
	var ssml strings.Builder
	ssml.WriteString("<speak>")
	for i, s := range sentences {
		if i > 0 {
			fmt.Fprintf(&ssml, `<break time="%dms"/>`, pauses[i-1])
		}
		ssml.WriteString(s)
	}
	ssml.WriteString("</speak>")
	key := fmt.Sprintf("%s|%d|%d|%s", v.name, speed, pitch, ssml.String())
	g.mu.Lock()
	r := g.renders[key]
	if r == nil {
		r = &render{}
		g.renders[key] = r
	}
	g.mu.Unlock()
	r.once.Do(func() {
		espeak := exec.CommandContext(ctx, "espeak-ng", "-m", "-v", v.name, "-s", fmt.Sprint(speed), "-p", fmt.Sprint(pitch), "--stdout", ssml.String())
		sox := exec.CommandContext(ctx, "sox", "-D", "-R", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-",
			"silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse", "norm", "-1")
		pipe, err := espeak.StdoutPipe()
		if err != nil {
			r.err = err
			return
		}
		sox.Stdin = pipe
		var out, errb, espeakErr bytes.Buffer // one stderr each: they write at once
		sox.Stdout, sox.Stderr = &out, &errb
		espeak.Stderr = &espeakErr
		if err := espeak.Start(); err != nil {
			r.err = fmt.Errorf("corpus: espeak-ng: %w", err)
			return
		}
		err = sox.Run()
		if werr := espeak.Wait(); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			r.err = fmt.Errorf("corpus: render %q with %s: %w: %s%s", key, v.name, err, espeakErr.String(), errb.String())
			return
		}
		r.pcm = pcm16(out.Bytes())
		if len(r.pcm) == 0 {
			r.err = fmt.Errorf("corpus: render %q with %s: no audio", key, v.name)
		}
	})
	return r.pcm, r.err
}

func pcm16(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// gain is a dB value as an amplitude factor.
func gain(db float64) float64 { return math.Pow(10, db/20) }

// track is a recording being assembled, in float samples.
type track []float64

// put mixes x in at sample at, scaled by g, growing the track as needed.
func (t *track) put(at int, x []int16, g float64) {
	if need := at + len(x); need > len(*t) {
		*t = append(*t, make([]float64, need-len(*t))...)
	}
	for i, v := range x {
		(*t)[at+i] += float64(v) * g
	}
}

// pad adds n samples of silence.
func (t *track) pad(n int) { *t = append(*t, make([]float64, n)...) }

// atMS is the track's length in milliseconds.
func (t track) atMS() int { return len(t) * 1000 / media.SampleRate }

// build renders, assembles and writes one recording.
func (g *gen) build(ctx context.Context, dir string, p plan) (Entry, error) {
	e := Entry{Class: p.class, Expect: Expect(p.class), Kind: p.kind, SpeechMS: -1, GreetingEndMS: -1,
		Noise: p.noise, NoiseDB: int(math.Round(p.noiseDB)), Codec: p.codec, Click: p.click}
	var t track
	if len(p.sentences) > 0 {
		if err := g.speech(ctx, p, &e, &t); err != nil {
			return e, err
		}
	} else {
		t.pad(ms(p.totalMS))
	}
	rng := rand.New(rand.NewPCG(p.noiseSeed, uint64(p.idx)))
	addNoise(t, p.noise, p.noiseDB, rng)
	if len(p.babble) > 0 {
		if err := g.babble(ctx, p, e, t); err != nil {
			return e, err
		}
		e.Noise = "babble+" + e.Noise
	}
	if p.click {
		at := ms(p.clickMS)
		for i := 0; i < ms(15) && at+i < len(t); i++ {
			t[at+i] += rng.NormFloat64() * 3000 * math.Exp(-float64(i)/30)
		}
	}
	pcm := make([]int16, len(t))
	for i, v := range t {
		pcm[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	out, err := channel(ctx, pcm, p.codec)
	if err != nil {
		return e, err
	}
	e.DurationMS = len(out) * 1000 / media.SampleRate
	e.File = filepath.Join("wav", fmt.Sprintf("%04d-%s.wav", p.idx, p.class))
	if err := os.WriteFile(filepath.Join(dir, e.File), media.EncodeWAV(out), 0o644); err != nil {
		return e, fmt.Errorf("corpus: %w", err)
	}
	return e, nil
}

// speech assembles what is said: the lead, the greeting or answer, a person's
// second utterance, a machine's beep, and the tail; e gets its labels.
func (g *gen) speech(ctx context.Context, p plan, e *Entry, t *track) error {
	e.Lang, e.Voice, e.Speed, e.Pitch, e.SpeechDB = p.v.lang, p.v.name, p.speed, p.pitch, int(math.Round(p.speechDB))
	e.Text = strings.Join(p.sentences, " ")
	s, err := g.speak(ctx, p.v, p.speed, p.pitch, p.sentences, p.pauses)
	if err != nil {
		return err
	}
	t.pad(ms(p.leadMS))
	e.SpeechMS = p.leadMS
	t.put(len(*t), s, gain(p.speechDB+1))
	e.GreetingEndMS = t.atMS()
	if p.again != "" {
		a, err := g.speak(ctx, p.v, p.speed, p.pitch, []string{p.again}, nil)
		if err != nil {
			return err
		}
		t.pad(ms(p.againMS))
		t.put(len(*t), a, gain(p.speechDB+1))
		e.Text += " … " + p.again
	}
	if len(p.beepNotes) > 0 {
		t.pad(ms(p.beepGapMS))
		start := t.atMS()
		e.BeepMS, e.BeepKind, e.BeepHz = &start, p.beepKind, p.beepNotes[0]
		for i, f := range p.beepNotes {
			if i > 0 {
				t.pad(ms(p.beepGapsMS[i-1]))
			}
			t.put(len(*t), beep(f, p.beepLenMS[i], p.beepDB), 1)
		}
		end := t.atMS()
		e.BeepEndMS = &end
	}
	t.pad(ms(p.tailMS))
	if p.class == Human || p.class == Machine {
		// Long enough for any analysis (the recording ending is a hang-up).
		t.pad(max(0, ms(minCallMS)-len(*t)))
	}
	return nil
}

// babble mixes voices in the room under the speaker. A person's room is
// heard all through the call; a machine's only in its recorded greeting
// (the box that beeps and records is a server).
func (g *gen) babble(ctx context.Context, p plan, e Entry, t track) error {
	var b []float64
	for len(b) < len(t) {
		for _, text := range p.babble {
			s, err := g.speak(ctx, p.babbleV, 170, 50, []string{text}, nil)
			if err != nil {
				return err
			}
			for _, v := range s {
				b = append(b, float64(v))
			}
		}
	}
	end := len(t)
	if p.class == Machine {
		end = min(end, ms(e.GreetingEndMS))
	}
	k := gain(p.speechDB + p.babbleRel)
	for i := range end {
		t[i] += b[i] * k
	}
	return nil
}

// beep is a tone of freq Hz, lenMS long, peak at db dBFS, with 5 ms ramps.
func beep(freq float64, lenMS int, db float64) []int16 {
	n := ms(lenMS)
	out := make([]int16, n)
	amp := 32767 * gain(db)
	ramp := float64(ms(5))
	for i := range out {
		env := min(1, float64(i)/ramp, float64(n-1-i)/ramp)
		out[i] = int16(amp * env * math.Sin(2*math.Pi*freq*float64(i)/media.SampleRate))
	}
	return out
}

// addNoise mixes seeded noise of a colour at rms dBFS into x.
func addNoise(x []float64, colour string, rmsDB float64, rng *rand.Rand) {
	n := make([]float64, len(x))
	var b0, b1, b2, brown float64
	for i := range n {
		w := rng.NormFloat64()
		switch colour {
		case "pink": // Paul Kellet's economy filter
			b0 = 0.99765*b0 + w*0.0990460
			b1 = 0.96300*b1 + w*0.2965164
			b2 = 0.57000*b2 + w*1.0526913
			n[i] = b0 + b1 + b2 + w*0.1848
		case "brown":
			brown = 0.995*brown + w
			n[i] = brown
		default:
			n[i] = w
		}
	}
	var sum float64
	for _, v := range n {
		sum += v * v
	}
	if sum == 0 {
		return
	}
	k := 32768 * gain(rmsDB) / math.Sqrt(sum/float64(len(n)))
	for i := range x {
		x[i] += n[i] * k
	}
}

// channel is the telephone line: sox band-limits to 300-3400 Hz and encodes
// G.711 (μ-law or A-law), which ivr/media decodes as the call path does;
// pcm is the band limit alone.
func channel(ctx context.Context, pcm []int16, codec string) ([]int16, error) {
	in := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(in[2*i:], uint16(v))
	}
	enc := map[string][]string{"pcm": {"-e", "signed", "-b", "16"}, "ulaw": {"-e", "u-law"}, "alaw": {"-e", "a-law"}}[codec]
	if enc == nil {
		return nil, fmt.Errorf("corpus: codec %q", codec)
	}
	args := []string{"-D", "-R", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-", "-t", "raw"}
	args = append(args, enc...)
	args = append(args, "-", "highpass", "300", "lowpass", "3400")
	cmd := exec.CommandContext(ctx, "sox", args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("corpus: sox channel (%s): %w: %s", codec, err, errb.String())
	}
	b := out.Bytes()
	switch codec {
	case "ulaw":
		return media.PCMU.Decode(nil, b), nil
	case "alaw":
		return media.PCMA.Decode(nil, b), nil
	}
	return pcm16(b), nil
}
