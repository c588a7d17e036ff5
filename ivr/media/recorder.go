package media

// The call recorder: a bridged call as a stereo WAV file (debtor left,
// agent right, 8 kHz 16-bit), streamed to disk as the call goes.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// RecorderOptions configure a CallRecorder.
type RecorderOptions struct {
	// Path is the finished recording's file name. The file is written as
	// Path + ".part" and renamed to Path on Close, so a file at Path is
	// always a whole WAV file.
	Path string
	// Start is time zero of the recording (default: when NewCallRecorder
	// runs); audio is placed by its arrival time since then.
	Start time.Time
	// OnError is called once, on the recorder's own goroutine, when
	// writing fails (disk full, I/O error): the recorder stops, keeps what
	// reached the disk as a valid WAV file, and Close returns the error.
	// The call is not affected. Optional; it must not block.
	OnError func(error)
	Logger  *slog.Logger

	create func(name string) (recFile, error) // tests: a file that fails
}

// recFile is what the recorder needs of its file.
type recFile interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
}

// Where a channel's audio goes is its arrival time. A channel that falls
// more than recSlack behind where its next frame arrives (packets lost, a
// phone that sends nothing in silence) is filled with silence up to it; a
// frame arriving more than recMaxLead before its channel's place (a burst
// after a gap already filled) is dropped, so the channels never drift
// apart by more than that. A channel that sends nothing at all is kept
// within recQuiet of the other one with silence. Jitter below recSlack
// moves nothing.
const (
	recSlack   = 3 * FrameSamples  // 60 ms
	recMaxLead = 15 * FrameSamples // 300 ms
	recQuiet   = 10 * FrameSamples // 200 ms
	recFlushAt = 5 * FrameSamples  // write out in 100 ms steps
	recPending = 4 * SampleRate    // per channel, more than any of the above
	recQueue   = 256               // frames between the relay and the writer: 2.5 s of both sides
	maxWAVData = 1<<32 - 1 - 36    // what a RIFF size field can describe (37 hours of stereo)
	sampleTime = time.Second / SampleRate
)

// recFrame is one piece of G.711 audio on its way to the writer, by value
// (a channel of these allocates nothing per frame).
type recFrame struct {
	at   time.Duration // arrival, since Start: the end of these samples
	side Side
	alaw bool
	n    uint16
	b    [FrameSamples]byte
}

// CallRecorder writes both sides of a call as they arrive. Push never
// blocks (the relay calls it): a writer goroutine decodes, aligns and
// writes, buffering only what alignment needs (a few hundred ms) and 64 KB
// of file output.
type CallRecorder struct {
	opt    RecorderOptions
	path   string
	start  time.Time
	frames chan recFrame
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
	log    *slog.Logger

	stopped atomic.Bool // failed or closed: Push ignores audio
	dropped atomic.Uint64
	written atomic.Int64 // samples per channel in the file

	mu  sync.Mutex
	err error

	// The writer goroutine's own.
	f        recFile
	cw       countingWriter
	w        *bufio.Writer
	pend     [2][]int16 // samples from base on, per channel
	base     int64      // samples per channel written out
	pcm      [FrameSamples]int16
	scratch  []byte
	finished bool
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// NewCallRecorder creates the file (as Path + ".part") and starts the
// writer. An error here (a directory that does not exist or cannot be
// written) means no recording; the call goes on without one.
func NewCallRecorder(opt RecorderOptions) (*CallRecorder, error) {
	if opt.Path == "" {
		return nil, errors.New("recording: no file name")
	}
	if opt.Start.IsZero() {
		opt.Start = time.Now()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	create := opt.create
	if create == nil {
		create = func(name string) (recFile, error) {
			return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
		}
	}
	f, err := create(opt.Path + ".part")
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", opt.Path, err)
	}
	r := &CallRecorder{opt: opt, path: opt.Path, start: opt.Start, log: opt.Logger, f: f,
		frames: make(chan recFrame, recQueue), quit: make(chan struct{}), done: make(chan struct{}),
		scratch: make([]byte, 4*recFlushAt*4)}
	r.cw.w = f
	r.w = bufio.NewWriterSize(&r.cw, 64<<10)
	for i := range r.pend {
		r.pend[i] = make([]int16, 0, recPending)
	}
	// The header's sizes are patched on Close; until then they say "empty".
	if _, err := r.w.Write(wavHeader(make([]byte, 0, wavHeaderLen), 2, 0)); err != nil {
		f.Close()
		os.Remove(opt.Path + ".part")
		return nil, fmt.Errorf("recording %s: %w", opt.Path, err)
	}
	go r.run()
	return r, nil
}

// Path is the finished recording's file name.
func (r *CallRecorder) Path() string { return r.path }

// Push adds G.711 audio from one side that arrived at at. It copies what
// it needs, never blocks and does not allocate; audio that finds the
// writer 2.5 s behind is dropped (counted in Stats).
func (r *CallRecorder) Push(from Side, c Codec, g711 []byte, at time.Time) {
	if r.stopped.Load() {
		return
	}
	end := at.Sub(r.start)
	for len(g711) > 0 {
		var f recFrame
		n := copy(f.b[:], g711)
		g711 = g711[n:]
		f.at, f.side, f.alaw, f.n = end-time.Duration(len(g711))*sampleTime, from, c.PayloadType == PCMA.PayloadType, uint16(n)
		select {
		case r.frames <- f:
		default:
			r.dropped.Add(1)
		}
	}
}

// RecorderStats says how a recording went.
type RecorderStats struct {
	Duration time.Duration // written to the file so far
	Dropped  uint64        // 20 ms frames lost: the writer was behind, or a frame came too early for its place
	Err      error         // why the recorder stopped early, if it did
}

// Stats returns the counters.
func (r *CallRecorder) Stats() RecorderStats {
	return RecorderStats{Duration: time.Duration(r.written.Load()) * sampleTime, Dropped: r.dropped.Load(), Err: r.Err()}
}

// Err is the error that stopped the recorder, nil while it records.
func (r *CallRecorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close writes what is left (the shorter channel padded with silence),
// fixes the header's sizes, syncs and renames the file to Path. It returns
// the error that stopped the recorder, if any. Safe to call twice.
func (r *CallRecorder) Close() error {
	r.once.Do(func() {
		r.stopped.Store(true)
		close(r.quit)
	})
	<-r.done
	return r.Err()
}

func (r *CallRecorder) run() {
	defer close(r.done)
	for {
		select {
		case f := <-r.frames:
			r.place(&f)
		case <-r.quit:
			for {
				select {
				case f := <-r.frames:
					r.place(&f)
				default:
					r.finish(nil)
					return
				}
			}
		}
	}
}

func (r *CallRecorder) cur(s Side) int64 { return r.base + int64(len(r.pend[s])) }

// place puts one frame on its channel at its arrival time.
func (r *CallRecorder) place(f *recFrame) {
	if r.finished {
		return
	}
	t := &ulawTable
	if f.alaw {
		t = &alawTable
	}
	pcm := r.pcm[:f.n]
	for i, c := range f.b[:f.n] {
		pcm[i] = t[c]
	}
	end := max(int64(f.at/sampleTime), int64(f.n))
	start := end - int64(f.n)
	x, y := f.side, 1-f.side
	if r.cur(x) < start-recSlack {
		r.fill(x, start)
	}
	if r.cur(x) > end+recMaxLead {
		r.dropped.Add(1)
		return
	}
	r.add(x, pcm)
	if r.cur(y) < start-recQuiet {
		r.fill(y, start-recSlack)
	}
	if min(len(r.pend[0]), len(r.pend[1])) >= recFlushAt {
		r.flush()
	}
}

// fill extends a channel with silence up to sample to.
func (r *CallRecorder) fill(s Side, to int64) {
	for !r.finished && r.cur(s) < to {
		if len(r.pend[s]) == cap(r.pend[s]) {
			r.makeRoom(s)
			continue
		}
		k := int(min(int64(cap(r.pend[s])-len(r.pend[s])), to-r.cur(s)))
		l := len(r.pend[s])
		r.pend[s] = r.pend[s][:l+k]
		clear(r.pend[s][l:])
	}
}

// add appends samples to a channel.
func (r *CallRecorder) add(s Side, pcm []int16) {
	for !r.finished && len(pcm) > 0 {
		if len(r.pend[s]) == cap(r.pend[s]) {
			r.makeRoom(s)
			continue
		}
		k := min(cap(r.pend[s])-len(r.pend[s]), len(pcm))
		r.pend[s] = append(r.pend[s], pcm[:k]...)
		pcm = pcm[k:]
	}
}

// makeRoom writes out a full channel, the other one silent up to it (it
// has sent nothing for the whole buffer).
func (r *CallRecorder) makeRoom(s Side) {
	o := 1 - s
	if n := len(r.pend[s]); len(r.pend[o]) < n {
		l := len(r.pend[o])
		r.pend[o] = r.pend[o][:n]
		clear(r.pend[o][l:])
	}
	r.flush()
}

// flush writes out the samples both channels have, interleaved.
func (r *CallRecorder) flush() {
	m := min(len(r.pend[0]), len(r.pend[1]))
	if m == 0 || r.finished {
		return
	}
	if r.cw.n+int64(r.w.Buffered())+int64(4*m) > wavHeaderLen+maxWAVData {
		r.finish(errors.New("longer than a WAV file can hold"))
		return
	}
	l, rt := r.pend[0][:m], r.pend[1][:m]
	for len(l) > 0 {
		k := min(len(l), len(r.scratch)/4)
		for i := range k {
			binary.LittleEndian.PutUint16(r.scratch[4*i:], uint16(l[i]))
			binary.LittleEndian.PutUint16(r.scratch[4*i+2:], uint16(rt[i]))
		}
		if _, err := r.w.Write(r.scratch[:4*k]); err != nil {
			r.finish(err)
			return
		}
		l, rt = l[k:], rt[k:]
	}
	for s := range r.pend {
		r.pend[s] = r.pend[s][:copy(r.pend[s], r.pend[s][m:])]
	}
	r.base += int64(m)
	r.written.Store(r.base)
}

// finish ends the file: on a clean close the rest is written; either way
// the header gets the size of what reached the disk, and the file its
// name. cause is the write error that stopped the recording, if any.
func (r *CallRecorder) finish(cause error) {
	if r.finished {
		return
	}
	if cause == nil {
		n := max(len(r.pend[0]), len(r.pend[1]))
		for s := range r.pend {
			r.fill(Side(s), r.base+int64(n))
		}
		r.flush()
		if r.finished {
			return // flush failed and finished with its error
		}
		if err := r.w.Flush(); err != nil {
			cause = err
		}
	}
	r.finished = true
	r.stopped.Store(true)
	data := max(0, r.cw.n-wavHeaderLen)
	data -= data % 4 // whole stereo samples only
	r.written.Store(data / 4)
	tmp := r.path + ".part"
	_, herr := r.f.WriteAt(wavHeader(make([]byte, 0, wavHeaderLen), 2, uint32(data)), 0)
	var serr error
	if cause == nil && herr == nil {
		serr = r.f.Sync()
	}
	cerr := r.f.Close()
	err := errors.Join(cause, herr, serr, cerr)
	if herr == nil && cerr == nil && (cause == nil || data > 0) {
		// What reached the disk is a valid recording up to where it
		// stopped: evidence worth keeping even when the disk filled up.
		if rerr := os.Rename(tmp, r.path); rerr != nil {
			os.Remove(tmp)
			err = errors.Join(err, rerr)
		}
	} else {
		os.Remove(tmp)
	}
	if err != nil {
		err = fmt.Errorf("recording %s: %w", r.path, err)
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		if cause != nil {
			r.log.Error("recording stopped; the call goes on", "path", r.path, "kept", time.Duration(data/4)*sampleTime, "err", cause)
		}
		if r.opt.OnError != nil {
			r.opt.OnError(err)
		}
	}
}

// wavHeaderLen is the size of a canonical PCM WAV header.
const wavHeaderLen = 44

// wavHeader appends the header of an 8 kHz 16-bit PCM WAV file holding
// dataBytes of samples.
func wavHeader(b []byte, channels int, dataBytes uint32) []byte {
	le32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	le16 := func(v uint16) { b = binary.LittleEndian.AppendUint16(b, v) }
	b = append(b, "RIFF"...)
	le32(36 + dataBytes)
	b = append(b, "WAVEfmt "...)
	le32(16)
	le16(1) // PCM
	le16(uint16(channels))
	le32(SampleRate)
	le32(SampleRate * 2 * uint32(channels))
	le16(2 * uint16(channels))
	le16(16)
	b = append(b, "data"...)
	le32(dataBytes)
	return b
}
