// Package spool is an append-only, segmented, on-disk log of opaque records.
//
// Producers Append records to the active segment; a consumer Seals it, reads
// sealed segments oldest first, and Removes each once its records are safely
// elsewhere. A record Append has returned is in the kernel's page cache, so it
// survives the process being killed; with FsyncAlways it also survives power
// loss before Append returns, with FsyncBatch once the segment is sealed.
//
// On-disk record framing (little endian):
//
//	uint32 payload length | uint32 CRC-32C of payload | payload
//
// A torn or corrupt tail (a crash mid-write) is truncated at Open; a corrupt
// record inside a sealed segment ends that segment's reading with an error the
// consumer logs, and the intact records before it are still delivered.
package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// FsyncPolicy says when appended bytes are forced to stable storage.
type FsyncPolicy string

const (
	// FsyncAlways syncs before Append returns (group commit: concurrent
	// appenders share one fsync).
	FsyncAlways FsyncPolicy = "always"
	// FsyncBatch syncs each segment when it is sealed, i.e. once per flush batch.
	FsyncBatch FsyncPolicy = "batch"
	// FsyncNever leaves syncing to the kernel.
	FsyncNever FsyncPolicy = "never"
)

// ParseFsyncPolicy accepts "always", "batch" or "never".
func ParseFsyncPolicy(s string) (FsyncPolicy, error) {
	switch p := FsyncPolicy(strings.ToLower(s)); p {
	case FsyncAlways, FsyncBatch, FsyncNever:
		return p, nil
	}
	return "", fmt.Errorf("fsync policy %q: want always, batch or never", s)
}

const (
	headerLen = 8
	// MaxRecord bounds one record so a corrupt length cannot make us allocate GBs.
	MaxRecord = 1 << 20
	segPrefix = "seg-"
	segSuffix = ".log"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrFull is returned (wrapped) by Append when the spool is at MaxBytes and the
// context ended before space came back.
var ErrFull = errors.New("spool full")

// ErrCorrupt marks a record whose framing or checksum is wrong.
var ErrCorrupt = errors.New("spool record corrupt")

// Options configures a Spool. Zero values take the documented defaults.
type Options struct {
	// Dir holds the segment files. Required. Created if missing.
	Dir string
	// MaxBytes bounds the total size of all segments; Append waits for room
	// beyond it. Default 1 GiB.
	MaxBytes int64
	// Fsync policy. Default FsyncBatch.
	Fsync FsyncPolicy
	// Logger for recovery and back-pressure events. Default slog.Default().
	Logger *slog.Logger
	// OnFull is called with true when Append first has to wait for room and
	// with false when room comes back (for metrics). Optional.
	OnFull func(full bool)
	// Now is the clock that stamps a segment's first record (for Oldest).
	// Default time.Now.
	Now func() time.Time
}

// Spool is safe for concurrent use.
type Spool struct {
	opt Options
	log *slog.Logger

	lock     *os.File // flock'd: one process per spool directory
	mu       sync.Mutex
	room     *sync.Cond // signalled when bytes shrink
	active   *os.File
	seq      uint64    // sequence of the active segment
	activeN  int64     // bytes in the active segment
	records  int64     // records in the active segment
	first    time.Time // when the active segment's first record was appended
	sealed   []Segment
	total    int64 // bytes in all segments
	totalRec int64 // records in all segments
	full     bool
	closed   bool
	notify   chan struct{}
	syncMu   sync.Mutex
	syncedTo int64 // bytes of the active segment known to be on disk
	syncSeq  uint64
	// activeEnd mirrors activeN for syncUpTo, which must not take mu (Seal
	// holds mu while it takes syncMu).
	activeEnd atomic.Int64
}

// ErrLocked is returned by Open when another process holds the directory.
var ErrLocked = errors.New("spool locked")

// Open opens (or creates) the spool in opt.Dir, recovering whatever a previous
// process left: every existing segment becomes sealed, in order, and the last
// one's torn tail, if any, is truncated.
func Open(opt Options) (*Spool, error) {
	if opt.Dir == "" {
		return nil, errors.New("spool: dir is empty")
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 30
	}
	if opt.Fsync == "" {
		opt.Fsync = FsyncBatch
	}
	if _, err := ParseFsyncPolicy(string(opt.Fsync)); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: create dir %s: %w", opt.Dir, err)
	}
	// Two processes appending to and deleting the same segments would lose
	// rows, so the directory is locked for the life of the spool.
	lock, err := os.OpenFile(filepath.Join(opt.Dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: %s is in use by another process: %w", opt.Dir, ErrLocked)
	}
	s := &Spool{opt: opt, log: opt.Logger, notify: make(chan struct{}, 1), lock: lock}
	s.room = sync.NewCond(&s.mu)
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.openActive(); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// openActive starts a fresh active segment. Callers hold s.mu (or are Open).
func (s *Spool) openActive() error {
	s.seq++
	p := filepath.Join(s.opt.Dir, segName(s.seq))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("spool: create segment %s: %w", p, err)
	}
	s.active, s.activeN, s.records = f, 0, 0
	s.activeEnd.Store(0)
	s.syncMu.Lock()
	s.syncedTo, s.syncSeq = 0, s.seq
	s.syncMu.Unlock()
	return nil
}

// Append writes one record. It waits (until ctx ends) while the spool is at
// MaxBytes, so a stalled consumer slows producers instead of losing records.
func (s *Spool) Append(ctx context.Context, rec []byte) error {
	if len(rec) > MaxRecord {
		return fmt.Errorf("spool: record of %d bytes exceeds %d", len(rec), MaxRecord)
	}
	frame := make([]byte, headerLen+len(rec))
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(rec, crcTable))
	copy(frame[headerLen:], rec)

	s.mu.Lock()
	if err := s.waitRoom(ctx, int64(len(frame))); err != nil {
		s.mu.Unlock()
		return err
	}
	f, seq := s.active, s.seq
	if _, err := f.Write(frame); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("spool: append to %s: %w", f.Name(), err)
	}
	s.activeN += int64(len(frame))
	s.activeEnd.Store(s.activeN)
	if s.records == 0 {
		s.first = s.opt.Now()
	}
	s.records++
	s.total += int64(len(frame))
	s.totalRec++
	end := s.activeN
	s.mu.Unlock()
	s.signal()

	if s.opt.Fsync == FsyncAlways {
		return s.syncUpTo(f, seq, end)
	}
	return nil
}

// waitRoom blocks with s.mu held (released while waiting) until n bytes fit.
func (s *Spool) waitRoom(ctx context.Context, n int64) error {
	if s.closed {
		return errors.New("spool: closed")
	}
	if s.total+n <= s.opt.MaxBytes || s.total == 0 {
		return nil
	}
	if !s.full {
		s.full = true
		s.log.Error("SPOOL FULL: applying back-pressure; attempt records are waiting for the flusher (is ClickHouse down?)",
			"dir", s.opt.Dir, "bytes", s.total, "max_bytes", s.opt.MaxBytes)
		if s.opt.OnFull != nil {
			s.opt.OnFull(true)
		}
	}
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.room.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	for s.total+n > s.opt.MaxBytes && !s.closed {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("spool %s: %w (%d of %d bytes): %w", s.opt.Dir, ErrFull, s.total, s.opt.MaxBytes, err)
		}
		s.room.Wait()
	}
	if s.closed {
		return errors.New("spool: closed")
	}
	return nil
}

// syncUpTo fsyncs f unless a concurrent call already covered offset end.
func (s *Spool) syncUpTo(f *os.File, seq uint64, end int64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.syncSeq != seq || s.syncedTo >= end {
		return nil // sealed meanwhile (sealing syncs) or covered by another fsync
	}
	upto := s.activeEnd.Load()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %s: %w", f.Name(), err)
	}
	s.syncedTo = upto
	return nil
}

func (s *Spool) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Notify receives a value after records are appended or recovered.
func (s *Spool) Notify() <-chan struct{} { return s.notify }

// Pending returns how many records the active segment holds.
func (s *Spool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

// Records is how many records all segments hold (appended, not yet removed).
func (s *Spool) Records() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.totalRec
}

// Bytes is the total size of all segments.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Oldest is when the oldest record still in the spool was appended (a lower
// bound for segments found at Open); zero when the spool is empty.
func (s *Spool) Oldest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sealed) > 0 {
		return s.sealed[0].First
	}
	if s.records > 0 {
		return s.first
	}
	return time.Time{}
}

// Full reports whether producers are currently held back.
func (s *Spool) Full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}

// Close seals nothing: unsealed records stay in the active file and are
// recovered as a sealed segment by the next Open. It releases waiting appenders.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.room.Broadcast()
	var err error
	if s.opt.Fsync != FsyncNever {
		err = s.active.Sync()
	}
	if cerr := s.active.Close(); err == nil {
		err = cerr
	}
	if s.records == 0 {
		_ = os.Remove(s.active.Name())
	}
	s.lock.Close() // releases the flock
	return err
}
