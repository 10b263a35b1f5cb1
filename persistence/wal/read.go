package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// span is the durable part of one segment that a scan reads.
type span struct {
	path     string
	from, to int64 // byte offsets
}

// Scan calls fn with every durable record whose sequence is ≥ from, in
// order, until fn returns false or the records durable when Scan began
// are all read. data is valid only during the call. Records that
// retention removes while Scan runs are skipped.
func (l *Log) Scan(from uint64, fn func(seq uint64, data []byte) bool) error {
	var buf []byte
	for _, sp := range l.spans(from) {
		more, err := l.scanSpan(sp, from, &buf, fn)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return nil
}

// spans returns the durable byte ranges holding the records from `from`
// on, each starting at the indexed record nearest before from.
func (l *Log) spans(from uint64) []span {
	l.segMu.Lock()
	defer l.segMu.Unlock()
	var out []span
	for _, s := range l.segs {
		if s.last < from || s.durable <= headerSize {
			continue
		}
		start := int64(headerSize)
		// The last sparse mark at or before from.
		if i := sort.Search(len(s.sparse), func(i int) bool { return s.sparse[i].seq > from }); i > 0 {
			start = s.sparse[i-1].off
		}
		out = append(out, span{path: s.path, from: start, to: s.durable})
	}
	return out
}

// scanSpan reads the frames of sp, calling fn for those ≥ from; more is
// false when fn asked to stop.
func (l *Log) scanSpan(sp span, from uint64, buf *[]byte, fn func(uint64, []byte) bool) (more bool, err error) {
	f, err := os.Open(sp.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil // removed by retention meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("wal: read: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, sp.from, sp.to-sp.from), 64<<10)
	var hdr [frameSize]byte
	off := sp.from
	for off < sp.to {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return false, fmt.Errorf("wal: read %s at %d: %w", filepath.Base(sp.path), off, err)
		}
		n := int(binary.LittleEndian.Uint32(hdr[:]))
		if n == 0 || n > l.cfg.MaxRecord {
			return false, fmt.Errorf("wal: read %s at %d: frame length %d", filepath.Base(sp.path), off, n)
		}
		if cap(*buf) < n {
			*buf = make([]byte, n)
		}
		data := (*buf)[:n]
		if _, err := io.ReadFull(r, data); err != nil {
			return false, fmt.Errorf("wal: read %s at %d: %w", filepath.Base(sp.path), off, err)
		}
		crc := crc32.Update(crc32.Checksum(hdr[8:16], castagnoli), castagnoli, data)
		if crc != binary.LittleEndian.Uint32(hdr[4:]) {
			return false, fmt.Errorf("wal: read %s at %d: CRC mismatch (the file changed on disk)", filepath.Base(sp.path), off)
		}
		off += int64(frameSize + n)
		if seq := binary.LittleEndian.Uint64(hdr[8:]); seq >= from && !fn(seq, data) {
			return false, nil
		}
	}
	return true, nil
}
