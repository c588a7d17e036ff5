package spool

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Reader decodes framed records from a segment stream.
type Reader struct {
	r   *bufio.Reader
	off int64
	hdr [headerLen]byte
	buf []byte
}

// NewReader reads records from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 256<<10)} }

// Offset is the byte offset just past the last record returned.
func (r *Reader) Offset() int64 { return r.off }

// Next returns the next record, io.EOF at a clean end, io.ErrUnexpectedEOF for
// a torn tail, or an error wrapping ErrCorrupt. The slice is reused by the next call.
func (r *Reader) Next() ([]byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	}
	n := binary.LittleEndian.Uint32(r.hdr[0:4])
	sum := binary.LittleEndian.Uint32(r.hdr[4:8])
	if n > MaxRecord {
		return nil, fmt.Errorf("%w: length %d exceeds %d", ErrCorrupt, n, MaxRecord)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	rec := r.buf[:n]
	if _, err := io.ReadFull(r.r, rec); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	if crc32.Checksum(rec, crcTable) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	r.off += headerLen + int64(n)
	return rec, nil
}
