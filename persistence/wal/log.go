package wal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Log is an open write-ahead log. Append is safe for concurrent use; so
// are the readers (Scan, LastSeq, Stats), which see durable records only.
//
// Appends go through a two-stage group commit: the writer goroutine takes
// whatever has queued since its last write (up to MaxBatch), frames it
// into one buffer and writes it with one write(2); the syncer goroutine
// takes every batch written since its last fdatasync, syncs once, and
// answers their appends. While one fdatasync runs the next batch is
// written, and an idle log commits a lone record at once (no timer).
type Log struct {
	cfg Config

	// mu guards closed and the sends on queue, so that Close never races a send.
	mu     sync.RWMutex
	closed bool
	queue  chan *request

	written chan batch    // writer → syncer
	done    chan struct{} // closed when both stages have drained and exited

	// segMu guards segs and the mutable fields of every segment.
	segMu sync.Mutex
	segs  []*segment

	brokenMu sync.Mutex
	broken   error // the first failed write or sync; see fail

	damage  []Damage      // found by Open; read-only after it
	lastSeq atomic.Uint64 // the last durable record's sequence

	statsMu sync.Mutex
	stats   Stats // guarded by statsMu
}

// Stats counts a log's work since it was opened, and its size now.
type Stats struct {
	Records  uint64        // records made durable
	Bytes    uint64        // bytes written (frames and headers)
	Syncs    uint64        // fdatasyncs, each covering one or more written batches
	SyncTime time.Duration // time spent in them
	// SyncBuckets counts the fdatasyncs by duration: SyncBuckets[i] those
	// that took at most SyncBucketBounds[i], the last one the rest.
	SyncBuckets [len(SyncBucketBounds) + 1]uint64
	// Segments and DiskBytes describe the files now; FirstSeq is the
	// first sequence the log still holds (0 when it is empty).
	Segments  int
	DiskBytes int64
	FirstSeq  uint64
}

// SyncBucketBounds are the upper bounds of Stats.SyncBuckets: an
// fdatasync's latency is what a 202 waits for, and its tail is the disk's
// (other files' writeback, the journal), not the log's.
var SyncBucketBounds = [...]time.Duration{
	250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// syncBucket returns the index in Stats.SyncBuckets of a sync that took d.
func syncBucket(d time.Duration) int {
	for i, b := range SyncBucketBounds {
		if d <= b {
			return i
		}
	}
	return len(SyncBucketBounds)
}

// request is one Append on its way through the writer and the syncer.
type request struct {
	data []byte
	tag  any
	seq  uint64
	done chan error
}

var requestPool = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

// batch is a write handed from the writer to the syncer: records written
// to seg's file, not yet synced; or a failed write (err) that only needs
// its answers; or, with seal, the end of a file the syncer closes once
// everything written to it before is synced.
type batch struct {
	reqs  []*request
	seg   *segment
	file  *os.File
	end   int64  // the file's size after the write
	marks []mark // sparse index entries of the written records
	err   error
	seal  bool
}

// Open opens the log in cfg.Dir, creating the directory if missing, and
// recovers it: every segment is read, damage is repaired and reported
// (Damage), and appends continue after the last intact record.
func Open(cfg Config) (*Log, error) {
	cfg.withDefaults()
	if cfg.Dir == "" {
		return nil, fmt.Errorf("wal: open: no directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	l := &Log{
		cfg:   cfg,
		queue: make(chan *request, cfg.QueueSize),
		// A few written batches may wait for the sync; more would let
		// writes run far ahead of durability.
		written: make(chan batch, 64),
		done:    make(chan struct{}),
	}
	next, err := l.recover()
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", cfg.Dir, err)
	}
	w := &writer{l: l, next: next}
	if err := w.resume(); err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", cfg.Dir, err)
	}
	go w.run()
	go l.syncLoop()
	return l, nil
}

// Append stores data as the next record and returns its sequence once an
// fdatasync has covered it. tag is handed to Config.OnDurable with the
// record. data may be reused once Append returns. After an error the
// record is not acknowledged, though it may still be on disk (a failed
// sync leaves the disk state unknown): a client's retry then makes a
// duplicate, never a loss. A cancelled ctx returns ctx.Err(), though the
// record may still be committed. ErrClosed after Close.
func (l *Log) Append(ctx context.Context, data []byte, tag any) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err // do not queue a record nobody waits for
	}
	if len(data) == 0 || len(data) > l.cfg.MaxRecord {
		return 0, fmt.Errorf("wal: append: %d bytes (1 to %d): %w", len(data), l.cfg.MaxRecord, ErrTooLarge)
	}
	req := requestPool.Get().(*request)
	req.data, req.tag = data, tag

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		requestPool.Put(req)
		return 0, ErrClosed
	}
	select {
	case l.queue <- req:
	case <-ctx.Done():
		l.mu.RUnlock()
		requestPool.Put(req)
		return 0, ctx.Err()
	}
	l.mu.RUnlock()

	select {
	case err := <-req.done:
		seq := req.seq
		req.data, req.tag, req.seq = nil, nil, 0
		requestPool.Put(req)
		return seq, err
	case <-ctx.Done():
		// The log still owns req and answers into its buffered channel;
		// leave it to the garbage collector rather than reuse it. The
		// writer may still read data, so the caller must not reuse it
		// either: the error says so only through this comment, so
		// callers that pool their buffers drop them after an error.
		return 0, ctx.Err()
	}
}

// LastSeq returns the last durable record's sequence (0 for an empty log).
func (l *Log) LastSeq() uint64 { return l.lastSeq.Load() }

// Damage returns what Open found unreadable and repaired, in log order.
func (l *Log) Damage() []Damage { return append([]Damage(nil), l.damage...) }

// Stats returns the log's counters and its size.
func (l *Log) Stats() Stats {
	l.statsMu.Lock()
	st := l.stats
	l.statsMu.Unlock()
	l.segMu.Lock()
	defer l.segMu.Unlock()
	st.Segments = len(l.segs)
	for _, s := range l.segs {
		st.DiskBytes += s.size
	}
	if len(l.segs) > 0 && l.segs[len(l.segs)-1].last > 0 {
		st.FirstSeq = l.segs[0].first
	}
	return st
}

// Close stops accepting appends, commits what is queued, waits for both
// stages to exit and closes the files. Safe to call more than once. (A
// failed write or sync was reported to the appends it failed.)
func (l *Log) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
	return nil
}

// fail records the first failed write or sync. After a failed write part
// of a batch may be on disk; after a failed fdatasync the disk state is
// unknown (the kernel may have dropped the dirty pages): every later
// append is refused, and a restart reads back what is really there.
func (l *Log) fail(err error) {
	l.brokenMu.Lock()
	defer l.brokenMu.Unlock()
	if l.broken == nil {
		l.broken = fmt.Errorf("wal: refusing appends after a failed write (restart the node): %w", err)
	}
}

func (l *Log) failure() error {
	l.brokenMu.Lock()
	defer l.brokenMu.Unlock()
	return l.broken
}

// syncLoop is the second stage: it takes every batch written since its
// last fdatasync, syncs each file written once, and answers the batches'
// appends. It exits when the writer has exited and every batch is answered.
func (l *Log) syncLoop() {
	defer close(l.done)
	var pending []batch
	for {
		b, ok := <-l.written
		if !ok {
			return
		}
		pending = append(pending[:0], b)
	drain:
		for {
			select {
			case b, ok := <-l.written:
				if !ok {
					break drain
				}
				pending = append(pending, b)
			default:
				break drain
			}
		}
		l.commit(pending)
		clear(pending)
	}
}

// commit syncs the files the batches wrote to, publishes the durable
// records and answers their appends.
func (l *Log) commit(pending []batch) {
	var syncErr error
	var took time.Duration
	if !l.cfg.NoSync {
		start := time.Now()
		var synced *os.File
		for _, b := range pending {
			// Sync whenever something was written, even when a later write
			// failed: the batches before it are answered as durable.
			if b.seal || b.err != nil || b.file == synced {
				continue
			}
			if err := l.cfg.SyncFile(b.file); err != nil {
				syncErr = fmt.Errorf("wal: fdatasync %s: %w", filepath.Base(b.seg.path), err)
				l.fail(syncErr)
				break
			}
			synced = b.file
		}
		took = time.Since(start)
	}
	var entries []Entry
	var records, last uint64
	now := time.Now()
	l.segMu.Lock()
	for i := range pending {
		b := &pending[i]
		if b.err == nil && !b.seal {
			b.err = syncErr
		}
		if b.err != nil || len(b.reqs) == 0 {
			continue
		}
		s := b.seg
		s.durable = b.end
		s.last = b.reqs[len(b.reqs)-1].seq
		s.modTime = now
		s.sparse = append(s.sparse, b.marks...)
		records += uint64(len(b.reqs))
		last = s.last
		if l.cfg.OnDurable != nil {
			for _, r := range b.reqs {
				entries = append(entries, Entry{Seq: r.seq, Tag: r.tag})
			}
		}
	}
	l.segMu.Unlock()
	for _, b := range pending {
		if b.seal {
			_ = b.file.Close() // synced above or by an earlier commit; a close error loses nothing
		}
	}
	if records > 0 {
		l.lastSeq.Store(last)
		l.statsMu.Lock()
		l.stats.Records += records
		l.stats.Syncs++
		l.stats.SyncTime += took
		l.stats.SyncBuckets[syncBucket(took)]++
		l.statsMu.Unlock()
	}
	if len(entries) > 0 {
		l.cfg.OnDurable(entries)
	}
	for _, b := range pending {
		for _, r := range b.reqs {
			r.done <- b.err
		}
	}
}
