package spool

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Segment names one sealed segment file.
type Segment struct {
	Seq     uint64
	Path    string
	Bytes   int64
	Records int64
	// First is when the segment's first record was appended; for a segment
	// found at Open, the file's modification time (its newest record), so
	// ages computed from it are lower bounds.
	First time.Time
}

// recover seals what an earlier run left: every segment file in the
// directory, its torn tail cut off, empty ones removed.
func (s *Spool) recover() error {
	entries, err := os.ReadDir(s.opt.Dir)
	if err != nil {
		return fmt.Errorf("spool: list %s: %w", s.opt.Dir, err)
	}
	for _, e := range entries {
		seq, ok := parseSegName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		p := filepath.Join(s.opt.Dir, e.Name())
		good, recs, err := scanValid(p)
		if err != nil {
			return fmt.Errorf("spool: recover %s: %w", p, err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("spool: recover %s: %w", p, err)
		}
		if good < fi.Size() {
			s.log.Warn("spool: truncating torn tail", "segment", p, "valid_bytes", good, "file_bytes", fi.Size())
			if err := os.Truncate(p, good); err != nil {
				return fmt.Errorf("spool: truncate %s: %w", p, err)
			}
		}
		if seq > s.seq {
			s.seq = seq
		}
		if recs == 0 {
			_ = os.Remove(p)
			continue
		}
		s.sealed = append(s.sealed, Segment{Seq: seq, Path: p, Bytes: good, Records: int64(recs), First: fi.ModTime()})
		s.total += good
		s.totalRec += int64(recs)
	}
	slices.SortFunc(s.sealed, func(a, b Segment) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(s.sealed) > 0 {
		s.log.Info("spool: recovered segments to replay", "segments", len(s.sealed), "bytes", s.total)
		s.signal()
	}
	return nil
}

// scanValid returns the length of the valid prefix of a segment and its record count.
func scanValid(path string) (int64, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r := NewReader(f)
	n := 0
	for {
		_, err := r.Next()
		if err != nil {
			// EOF or a torn/corrupt record: the valid prefix ends here.
			return r.Offset(), n, nil
		}
		n++
	}
}

func segName(seq uint64) string { return fmt.Sprintf("%s%016d%s", segPrefix, seq, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
	return n, err == nil
}

// Seal closes the active segment if it holds any record (syncing it unless the
// policy is FsyncNever) and starts a new one.
func (s *Spool) Seal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool: closed")
	}
	if s.records == 0 {
		return nil
	}
	return s.sealLocked()
}

func (s *Spool) sealLocked() error {
	f := s.active
	s.syncMu.Lock()
	if s.opt.Fsync != FsyncNever {
		if err := f.Sync(); err != nil {
			s.syncMu.Unlock()
			return fmt.Errorf("spool: fsync %s: %w", f.Name(), err)
		}
	}
	s.syncSeq = 0 // appenders waiting on this segment are covered
	s.syncMu.Unlock()
	if err := f.Close(); err != nil {
		return fmt.Errorf("spool: close %s: %w", f.Name(), err)
	}
	s.sealed = append(s.sealed, Segment{Seq: s.seq, Path: f.Name(), Bytes: s.activeN, Records: s.records, First: s.first})
	return s.openActive()
}

// Sealed lists the sealed segments, oldest first.
func (s *Spool) Sealed() []Segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sealed)
}

// Remove deletes a sealed segment whose records are delivered.
func (s *Spool) Remove(seg Segment) error {
	if err := os.Remove(seg.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: remove %s: %w", seg.Path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.sealed, func(x Segment) bool { return x.Seq == seg.Seq })
	if i < 0 {
		return nil
	}
	s.sealed = slices.Delete(s.sealed, i, i+1)
	s.total -= seg.Bytes
	s.totalRec -= seg.Records
	if s.full && s.total < s.opt.MaxBytes {
		s.full = false
		s.log.Warn("spool: room again, back-pressure released", "dir", s.opt.Dir, "bytes", s.total)
		if s.opt.OnFull != nil {
			s.opt.OnFull(false)
		}
	}
	s.room.Broadcast()
	return nil
}

// ReadSegment calls fn for each record of a sealed segment in order. The slice
// passed to fn is only valid during the call. A corrupt record stops the scan
// with an error wrapping ErrCorrupt, after the records before it were passed.
func ReadSegment(seg Segment, fn func(rec []byte) error) error {
	f, err := os.Open(seg.Path)
	if err != nil {
		return fmt.Errorf("spool: open %s: %w", seg.Path, err)
	}
	defer f.Close()
	r := NewReader(f)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("spool: read %s at offset %d: %w", seg.Path, r.Offset(), err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
