package media

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/marcador/marcador/analytics/polltest"
)

// readStereo parses a WAV written by the recorder: checks the header and
// returns the channels.
func readStereo(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		t.Fatalf("not a WAV header: %q", b[:min(len(b), 44)])
	}
	ch, rate, bits := binary.LittleEndian.Uint16(b[22:]), binary.LittleEndian.Uint32(b[24:]), binary.LittleEndian.Uint16(b[34:])
	data := binary.LittleEndian.Uint32(b[40:])
	if ch != 2 || rate != 8000 || bits != 16 || binary.LittleEndian.Uint32(b[4:]) != 36+data || int(data) > len(b)-44 || data%4 != 0 {
		t.Fatalf("header: %d ch, %d Hz, %d bits, data %d of %d bytes", ch, rate, bits, data, len(b)-44)
	}
	for i := 44; i+4 <= 44+int(data); i += 4 {
		left = append(left, int16(binary.LittleEndian.Uint16(b[i:])))
		right = append(right, int16(binary.LittleEndian.Uint16(b[i+2:])))
	}
	return left, right
}

// Frames are placed by arrival: jitter moves nothing, a gap is silence, a
// side that sends nothing stays in step, and the shorter side is padded.
func TestRecorderAlignsByArrival(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.wav")
	t0 := time.Now()
	r, err := NewCallRecorder(RecorderOptions{Path: path, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	left := PCMU.Encode(nil, Tone(1000, 8000, 160))
	right := PCMA.Encode(nil, Tone(600, 8000, 160))
	// Debtor: 1 s of frames at 20 ms, ±8 ms of jitter, then a 500 ms gap,
	// then 200 ms more. Agent: silent 1 s (sends nothing), then 400 ms.
	// Pushed in arrival order, as the relay does.
	type push struct {
		at   int
		side Side
	}
	var pushes []push
	for i := 1; i <= 50; i++ {
		pushes = append(pushes, push{20*i + []int{0, 8, -8, 3}[i%4], Debtor})
	}
	for i := 1; i <= 10; i++ {
		pushes = append(pushes, push{1500 + 20*i, Debtor})
	}
	for i := 1; i <= 20; i++ {
		pushes = append(pushes, push{1000 + 20*i, Agent})
	}
	slices.SortStableFunc(pushes, func(a, b push) int { return a.at - b.at })
	for _, p := range pushes {
		if p.side == Debtor {
			r.Push(Debtor, PCMU, left, ms(p.at))
		} else {
			r.Push(Agent, PCMA, right, ms(p.at))
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Fatalf("temp file left: %v", err)
	}
	l, rt := readStereo(t, path)
	if len(l) != len(rt) || len(l) < 1700*8 || len(l) > 1720*8 {
		t.Fatalf("%d and %d samples, want 1.7 s on both", len(l), len(rt))
	}
	loud := func(s []int16, f float64) bool { return GoertzelPower(s, f) > 1e8 }
	for _, c := range []struct {
		name     string
		pcm      []int16
		from, to int // ms
		f        float64
		want     bool
	}{
		{"debtor's first second", l, 20, 990, 1000, true},
		{"debtor's gap", l, 1030, 1490, 1000, false},
		{"debtor after the gap", l, 1510, 1690, 1000, true},
		{"agent before it spoke", rt, 0, 990, 600, false},
		{"agent", rt, 1010, 1390, 600, true},
		{"no crosstalk left", l, 0, 1700, 600, false},
		{"no crosstalk right", rt, 0, 1700, 1000, false},
	} {
		if got := loud(c.pcm[c.from*8:c.to*8], c.f); got != c.want {
			t.Errorf("%s (%d-%d ms): %v Hz loud = %v", c.name, c.from, c.to, c.f, got)
		}
	}
	if st := r.Stats(); st.Dropped != 0 || st.Err != nil || st.Duration < 1700*time.Millisecond {
		t.Fatalf("stats %+v", st)
	}
}

// A full disk stops the recorder, not the caller: Push keeps returning at
// once, the error is reported once, and what reached the disk is kept as a
// valid WAV.
func TestRecorderDiskFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "full.wav")
	t0 := time.Now()
	var reported []error
	opt := RecorderOptions{Path: path, Start: t0, OnError: func(err error) { reported = append(reported, err) }}
	WithFullDisk(&opt, 44+64<<10+1000) // a little more than the first buffer
	r, err := NewCallRecorder(opt)
	if err != nil {
		t.Fatal(err)
	}
	frame := PCMU.Encode(nil, Tone(1000, 8000, 160))
	for i := 1; i <= 500; i++ { // 10 s: 320 KB
		at := t0.Add(time.Duration(i) * FrameDuration)
		r.Push(Debtor, PCMU, frame, at)
		r.Push(Agent, PCMU, frame, at)
		if i%50 == 0 {
			// Let the writer catch up so nothing is dropped for being behind.
			polltest.Until(5*time.Second, func() bool { return len(r.frames) == 0 })
		}
	}
	err = r.Close()
	if !errors.Is(err, syscall.ENOSPC) || len(reported) != 1 || !errors.Is(reported[0], syscall.ENOSPC) {
		t.Fatalf("close: %v; reported %v", err, reported)
	}
	l, _ := readStereo(t, path)
	if d := time.Duration(len(l)) * time.Second / 8000; d < 2*time.Second || d > 2200*time.Millisecond {
		t.Fatalf("kept %s, want the ~2.1 s that fitted", d)
	}
	if r.Stats().Err == nil {
		t.Fatal("stats do not say why the recording stopped")
	}
	r.Push(Debtor, PCMU, frame, time.Now()) // after the failure: ignored, no panic
}

// A directory that cannot be written: no recording, a clear error at once.
func TestRecorderUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	_, err := NewCallRecorder(RecorderOptions{Path: filepath.Join(file, "x.wav")})
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("recording under a file: %v", err)
	}
}
