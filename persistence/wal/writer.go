package wal

import (
	"fmt"
	"os"
	"path/filepath"
)

// writer is the first stage of the group commit, run by one goroutine:
// it numbers and frames the queued records and writes them to the active
// segment, starting a new segment when the active one is full.
type writer struct {
	l     *Log
	next  uint64   // the sequence of the next record
	seg   *segment // the active segment; nil until the first append needs one
	file  *os.File // seg's file, open for appending
	size  int64    // bytes written to file
	count int      // records in seg (the sparse index marks every sparseEvery-th)
	buf   []byte
}

// resume continues the last segment when the next sequence follows its
// records and it has room; otherwise the first append starts a new one.
func (w *writer) resume() error {
	l := w.l
	l.segMu.Lock()
	defer l.segMu.Unlock()
	if len(l.segs) == 0 {
		return nil
	}
	s := l.segs[len(l.segs)-1]
	if s.last+1 != w.next || s.size >= l.cfg.SegmentSize {
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open segment %s: %w", filepath.Base(s.path), err)
	}
	w.seg, w.file, w.size = s, f, s.size
	w.count = s.records
	return nil
}

// run takes what has queued (up to MaxBatch), writes it, and hands it to
// the syncer. It exits when the queue is closed and drained, sealing the
// active segment.
func (w *writer) run() {
	l := w.l
	defer close(l.written)
	reqs := make([]*request, 0, 64)
	for {
		req, ok := <-l.queue
		if !ok {
			if w.file != nil {
				l.written <- batch{seg: w.seg, file: w.file, seal: true}
			}
			return
		}
		reqs = append(reqs[:0], req)
	drain:
		for len(reqs) < l.cfg.MaxBatch {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
			default:
				break drain
			}
		}
		b := batch{reqs: append([]*request(nil), reqs...)}
		if b.err = l.failure(); b.err == nil {
			var fatal bool
			if fatal, b.err = w.write(&b); fatal {
				l.fail(b.err)
			}
		}
		l.written <- b
		clear(reqs)
	}
}

// write frames b's records with the next sequences and writes them to the
// active segment in one write(2).
//
// A failed write (a full or read-only disk) fails the batch alone when
// the log is as it was before it: nothing written, or the part written
// truncated away; the next batch takes the same sequences and offset.
// fatal is set when that cannot be made sure (see Log.fail).
func (w *writer) write(b *batch) (fatal bool, err error) {
	l := w.l
	if w.seg == nil || w.size >= l.cfg.SegmentSize {
		if fatal, err := w.roll(); err != nil {
			return fatal, err
		}
	}
	w.buf = w.buf[:0]
	count := w.count
	for i, r := range b.reqs {
		seq := w.next + uint64(i)
		if w.count%sparseEvery == 0 {
			b.marks = append(b.marks, mark{seq: seq, off: w.size + int64(len(w.buf))})
		}
		w.count++
		w.buf = appendFrame(w.buf, seq, r.data)
	}
	if n, err := l.cfg.WriteFile(w.file, w.buf); err != nil {
		werr := fmt.Errorf("wal: write %s: %w", filepath.Base(w.seg.path), err)
		w.count = count
		if n > 0 { // a part is on disk: take it back (the file appends at its end)
			if terr := w.file.Truncate(w.size); terr != nil {
				return true, fmt.Errorf("%w; truncating the part written: %w", werr, terr)
			}
		}
		return false, werr
	}
	for i, r := range b.reqs {
		r.seq = w.next + uint64(i)
	}
	w.next += uint64(len(b.reqs))
	w.size += int64(len(w.buf))
	b.seg, b.file, b.end = w.seg, w.file, w.size
	l.segMu.Lock()
	w.seg.size = w.size
	l.segMu.Unlock()
	l.statsMu.Lock()
	l.stats.Bytes += uint64(len(w.buf))
	l.statsMu.Unlock()
	if cap(w.buf) > 4<<20 {
		w.buf = nil // do not keep a buffer a rare huge batch grew
	}
	return false, nil
}

// roll seals the active segment (the syncer closes it after its last
// sync) and starts a new one named after the next sequence: the file is
// created with its header, synced, and the directory entry synced, before
// any record goes into it.
//
// A segment that cannot be created or given its header (a full or
// read-only disk) is removed again and the error is not fatal: the next
// batch tries again. A failed sync is fatal.
func (w *writer) roll() (fatal bool, err error) {
	l := w.l
	if w.file != nil {
		l.written <- batch{seg: w.seg, file: w.file, seal: true}
		w.seg, w.file = nil, nil
	}
	s := &segment{first: w.next, path: filepath.Join(l.cfg.Dir, segmentName(w.next))}
	s.last = s.first - 1
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, fmt.Errorf("wal: create segment: %w", err)
	}
	hdr := appendHeader(nil, s.first)
	if _, err := l.cfg.WriteFile(f, hdr); err != nil {
		_ = f.Close()
		if rerr := os.Remove(s.path); rerr != nil {
			return true, fmt.Errorf("wal: write segment header: %w; removing the segment: %w", err, rerr)
		}
		return false, fmt.Errorf("wal: write segment header: %w", err)
	}
	if !l.cfg.NoSync {
		if err := l.cfg.SyncFile(f); err != nil {
			_ = f.Close()
			return true, fmt.Errorf("wal: sync new segment: %w", err)
		}
		if err := syncDir(l.cfg.Dir); err != nil {
			_ = f.Close()
			return true, err
		}
	}
	s.size, s.durable = int64(len(hdr)), int64(len(hdr))
	l.segMu.Lock()
	l.segs = append(l.segs, s)
	l.segMu.Unlock()
	w.seg, w.file, w.size, w.count = s, f, s.size, 0
	return false, nil
}

// syncDir makes the directory's entries (a created, renamed or removed
// file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync directory: %w", err)
	}
	return nil
}
