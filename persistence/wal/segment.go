package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	headerSize = 16 // magic + first sequence
	frameSize  = 16 // length + crc + sequence, before the data
	segSuffix  = ".wal"
	// sparseEvery is how many records apart the in-memory index of a
	// segment points into it: a read seeks to the nearest indexed record
	// before the one it wants and scans at most this many frames.
	sparseEvery = 512
)

var (
	magic      = [8]byte{'F', 'H', 'W', 'A', 'L', 0, 0, 1}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// segment is one file of the log. Its fields other than first and path
// are guarded by Log.segMu.
type segment struct {
	first uint64 // the sequence in the file name (the first record's, or the next one's while empty)
	path  string

	last    uint64    // the last durable record's sequence; first-1 while none is
	durable int64     // bytes of the file covered by an fdatasync (readers stop there)
	size    int64     // bytes written (≥ durable)
	modTime time.Time // when the last record was written (retention)
	sparse  []mark    // every sparseEvery-th record's position, in order
	records int       // records found by recovery (the writer counts on from it)
}

// mark is a record's position in its segment.
type mark struct {
	seq uint64
	off int64
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segSuffix) }

// listSegments returns the segment files of dir in log order.
func listSegments(dir string) ([]*segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []*segment
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil || first == 0 {
			return nil, fmt.Errorf("segment file %q: not <first sequence>%s", name, segSuffix)
		}
		segs = append(segs, &segment{first: first, path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

func appendHeader(b []byte, first uint64) []byte {
	b = append(b, magic[:]...)
	return binary.LittleEndian.AppendUint64(b, first)
}

// appendFrame appends the frame of record seq to b.
func appendFrame(b []byte, seq uint64, data []byte) []byte {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	crc := crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, data)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, crc)
	b = append(b, s[:]...)
	return append(b, data...)
}

// parseFrame reads the frame at the start of b: its sequence and data,
// and its total size. ok is false when b does not start with an intact
// frame (too short, length out of bounds, CRC mismatch).
func parseFrame(b []byte, maxRecord int) (seq uint64, data []byte, n int, ok bool) {
	if len(b) < frameSize {
		return 0, nil, 0, false
	}
	length := binary.LittleEndian.Uint32(b)
	if length == 0 || int64(length) > int64(maxRecord) || int64(len(b)-frameSize) < int64(length) {
		return 0, nil, 0, false
	}
	crc := binary.LittleEndian.Uint32(b[4:])
	end := frameSize + int(length)
	if crc32.Checksum(b[8:end], castagnoli) != crc {
		return 0, nil, 0, false
	}
	return binary.LittleEndian.Uint64(b[8:]), b[frameSize:end], end, true
}

// Damage is a stretch of a segment that recovery could not read: torn by
// a crash or changed on disk. The records in it are lost.
type Damage struct {
	Segment string // file name
	Offset  int64  // where the unreadable bytes start
	Bytes   int64  // how many bytes were skipped
	// After is the sequence of the last intact record before the damage
	// (0 when none), Before the first intact one after it (0 when none:
	// the damage runs to the end of the log's records).
	After, Before uint64
	Reason        string
}

func (d Damage) String() string {
	return fmt.Sprintf("%s: %d bytes at offset %d unreadable (%s), between sequences %d and %d",
		d.Segment, d.Bytes, d.Offset, d.Reason, d.After, d.Before)
}

// scanned is what recovery read from one segment.
type scanned struct {
	frames  []mark // every intact record, in order
	ends    []int64
	damage  []Damage
	lastSeq uint64
	size    int64 // file size
}

// scanSegment reads the whole of seg, keeping the intact frames whose
// sequences follow prev (the last sequence before the segment, 0 when
// none). It resynchronises after damage on the next intact frame.
func scanSegment(seg *segment, prev uint64, maxRecord int) (scanned, []byte, error) {
	b, err := os.ReadFile(seg.path)
	if err != nil {
		return scanned{}, nil, fmt.Errorf("read segment %s: %w", filepath.Base(seg.path), err)
	}
	sc := scanned{size: int64(len(b)), lastSeq: prev}
	name := filepath.Base(seg.path)
	if len(b) < headerSize {
		// A crash between the creation of a segment and its header
		// leaves it empty or short: nothing in it was ever answered.
		if len(b) > 0 {
			sc.damage = append(sc.damage, Damage{Segment: name, Bytes: int64(len(b)), After: prev, Reason: "short segment header"})
		}
		return sc, b, nil
	}
	if [8]byte(b[:8]) != magic || binary.LittleEndian.Uint64(b[8:]) != seg.first {
		// The frames carry their own sequences and CRCs: read on, and
		// let the repair write a good header.
		sc.damage = append(sc.damage, Damage{Segment: name, Bytes: headerSize, After: prev, Reason: "bad segment header"})
	}
	off := headerSize
	for off < len(b) {
		seq, _, n, ok := parseFrame(b[off:], maxRecord)
		// Sequences only grow; a gap is left where damage was repaired
		// before (and reported then).
		if ok && seq > sc.lastSeq {
			sc.frames = append(sc.frames, mark{seq: seq, off: int64(off)})
			sc.ends = append(sc.ends, int64(off+n))
			if d := len(sc.damage); d > 0 && sc.damage[d-1].Before == 0 {
				sc.damage[d-1].Before = seq
			}
			sc.lastSeq = seq
			off += n
			continue
		}
		// Damage: skip to the next intact frame with a later sequence.
		reason := "bad frame (length or CRC)"
		if ok {
			reason = fmt.Sprintf("sequence %d after %d", seq, sc.lastSeq)
		}
		next := len(b)
		for p := off + 1; p+frameSize <= len(b); p++ {
			// The sequence first: it rules out most positions without
			// computing a CRC over what their length field claims.
			if binary.LittleEndian.Uint64(b[p+8:]) <= sc.lastSeq {
				continue
			}
			if s, _, _, ok := parseFrame(b[p:], maxRecord); ok && s > sc.lastSeq {
				next = p
				break
			}
		}
		sc.damage = append(sc.damage, Damage{Segment: name, Offset: int64(off), Bytes: int64(next - off), After: sc.lastSeq, Reason: reason})
		off = next
	}
	return sc, b, nil
}
