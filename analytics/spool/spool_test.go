package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func readAll(t *testing.T, s *Spool) []string {
	t.Helper()
	var out []string
	for _, seg := range s.Sealed() {
		if err := ReadSegment(seg, func(rec []byte) error { out = append(out, string(rec)); return nil }); err != nil {
			t.Fatalf("read %v: %v", seg, err)
		}
	}
	return out
}

func TestAppendSealReadRemove(t *testing.T) {
	for _, pol := range []FsyncPolicy{FsyncAlways, FsyncBatch, FsyncNever} {
		t.Run(string(pol), func(t *testing.T) {
			s, err := Open(Options{Dir: t.TempDir(), Fsync: pol})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			for i := range 10 {
				if err := s.Append(ctx, fmt.Appendf(nil, "r%d", i)); err != nil {
					t.Fatal(err)
				}
				if i == 4 {
					if err := s.Seal(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Seal(); err != nil {
				t.Fatal(err)
			}
			if err := s.Seal(); err != nil { // empty: no new segment
				t.Fatal(err)
			}
			segs := s.Sealed()
			if len(segs) != 2 {
				t.Fatalf("sealed = %d, want 2", len(segs))
			}
			got := readAll(t, s)
			if fmt.Sprint(got) != "[r0 r1 r2 r3 r4 r5 r6 r7 r8 r9]" {
				t.Fatalf("records = %v", got)
			}
			for _, seg := range segs {
				if err := s.Remove(seg); err != nil {
					t.Fatal(err)
				}
			}
			if s.Bytes() != 0 || s.Records() != 0 || len(s.Sealed()) != 0 {
				t.Fatalf("after remove: bytes=%d sealed=%d", s.Bytes(), len(s.Sealed()))
			}
		})
	}
}

func TestRecoverAfterCrashTruncatesTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if err := s.Append(ctx, fmt.Appendf(nil, "rec-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	active := s.active.Name()
	// Simulate a crash mid-write: a header promising more bytes than follow.
	f, _ := os.OpenFile(active, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{50, 0, 0, 0, 1, 2, 3, 4, 'x'})
	f.Close()
	// No Close: the process "died", and the kernel dropped its lock.
	s.lock.Close()

	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := readAll(t, s2)
	if fmt.Sprint(got) != "[rec-0 rec-1 rec-2]" {
		t.Fatalf("recovered %v", got)
	}
	if err := s2.Append(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	s2.Seal()
	if got := readAll(t, s2); len(got) != 4 || got[3] != "after" {
		t.Fatalf("after recovery %v", got)
	}
}

func TestCorruptRecordStopsSegmentWithError(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir})
	ctx := context.Background()
	s.Append(ctx, []byte("good"))
	s.Append(ctx, []byte("flipme"))
	s.Seal()
	seg := s.Sealed()[0]
	b, _ := os.ReadFile(seg.Path)
	b[len(b)-1] ^= 0xff
	os.WriteFile(seg.Path, b, 0o640)
	var got []string
	err := ReadSegment(seg, func(rec []byte) error { got = append(got, string(rec)); return nil })
	if !errors.Is(err, ErrCorrupt) || fmt.Sprint(got) != "[good]" {
		t.Fatalf("got %v err %v", got, err)
	}
}

func TestBackPressureWhenFull(t *testing.T) {
	var mu sync.Mutex
	var events []bool
	s, err := Open(Options{Dir: t.TempDir(), MaxBytes: 100, OnFull: func(f bool) { mu.Lock(); events = append(events, f); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := bytes.Repeat([]byte("a"), 40) // 48 bytes framed
	ctx := context.Background()
	s.Append(ctx, rec)
	s.Append(ctx, rec)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := s.Append(short, rec); !errors.Is(err, ErrFull) {
		t.Fatalf("third append err = %v, want ErrFull", err)
	}
	if !s.Full() {
		t.Fatal("Full() = false")
	}
	done := make(chan error)
	go func() { done <- s.Append(ctx, rec) }()
	select {
	case err := <-done:
		t.Fatalf("append returned while full: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.Seal()
	s.Remove(s.Sealed()[0])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(events) != "[true false]" {
		t.Fatalf("OnFull events %v", events)
	}
}

func TestConcurrentAppendAlwaysSyncs(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Dir: dir, Fsync: FsyncAlways})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				if err := s.Append(context.Background(), fmt.Appendf(nil, "%d-%d", g, i)); err != nil {
					t.Error(err)
				}
				if i%50 == 0 {
					s.Seal()
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	s2, _ := Open(Options{Dir: dir})
	defer s2.Close()
	if got := readAll(t, s2); len(got) != 1600 {
		t.Fatalf("records = %d, want 1600", len(got))
	}
}

func TestIgnoresForeignFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o640)
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c'})
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 1000 {
			rec, err := r.Next()
			if err != nil {
				return
			}
			if r.Offset() > int64(len(data)) || len(rec) > MaxRecord {
				t.Fatalf("offset %d beyond %d", r.Offset(), len(data))
			}
		}
	})
}

func TestSecondOpenOfSameDirFails(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

// Oldest follows the first record still spooled, by the injected clock.
func TestOldest(t *testing.T) {
	now := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	s, err := Open(Options{Dir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if !s.Oldest().IsZero() {
		t.Fatal("empty spool has an oldest record")
	}
	t0 := now
	s.Append(ctx, []byte("a"))
	now = now.Add(time.Minute)
	s.Append(ctx, []byte("b"))
	if got := s.Oldest(); !got.Equal(t0) {
		t.Fatalf("oldest %v, want %v", got, t0)
	}
	s.Seal()
	now = now.Add(time.Minute)
	t2 := now
	s.Append(ctx, []byte("c"))
	if got := s.Oldest(); !got.Equal(t0) {
		t.Fatalf("oldest with a sealed segment %v, want %v", got, t0)
	}
	s.Remove(s.Sealed()[0])
	if got := s.Oldest(); !got.Equal(t2) {
		t.Fatalf("oldest after the first segment went %v, want %v", got, t2)
	}
	s.Seal()
	s.Remove(s.Sealed()[0])
	if !s.Oldest().IsZero() {
		t.Fatal("drained spool has an oldest record")
	}
}
