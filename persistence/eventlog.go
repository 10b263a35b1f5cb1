package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// EventLogConfig configures the group commit of the event log.
type EventLogConfig struct {
	// MaxBatch is the most events one commit (one fsync) carries.
	// Default 1024.
	MaxBatch int
	// QueueSize is how many appends may wait for the committer before
	// Append blocks. Default 8192.
	QueueSize int
	// NoSync skips the fsync after each commit: a process crash loses
	// nothing (badger writes through mmap) but a power loss may. Default
	// false; only benchmarks that compare against fsync set it.
	NoSync bool
	// OnCommit, when set, is called by the committer goroutine after every
	// durable commit with the events it made durable, in sequence order.
	// It must not block: hand the events on and return. The slice is the
	// callee's to keep; the events are shared with the appenders and must
	// be treated as read-only.
	OnCommit func([]*firehook.Event)
	// Retention is how long events are kept after they were received,
	// once the pipeline has processed them (see EventLog.Trim): the reach
	// of GET /v1/events and of a replay from the log. Default 7 days;
	// negative keeps every event.
	Retention time.Duration
}

// DefaultEventLogConfig returns the event log defaults.
func DefaultEventLogConfig() EventLogConfig {
	return EventLogConfig{MaxBatch: 1024, QueueSize: 8192, Retention: 7 * 24 * time.Hour}
}

func (c *EventLogConfig) withDefaults() {
	d := DefaultEventLogConfig()
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
	if c.Retention == 0 {
		c.Retention = d.Retention
	}
}

// EventLog is the node's append-only log of accepted events.
//
// Append hands an event to a two-stage committer. The writer goroutine
// takes whatever has queued up since its last write and writes it in one
// badger transaction; the syncer goroutine takes every batch written since
// its last fsync, fsyncs once and answers every waiting Append. Under load
// one fsync is shared by many requests (group commit), and the next batch
// is written while the previous one is being synced; an idle log commits
// a single event at once (no timer, no added latency).
type EventLog struct {
	db  *badger.DB
	cfg EventLogConfig

	// mu guards closed and sends on queue, so that close never races a send.
	mu     sync.RWMutex
	closed bool
	queue  chan *appendReq

	written chan writtenBatch // writeLoop → syncLoop
	done    chan struct{}     // closed when both stages have drained and exited

	brokenMu sync.Mutex
	broken   error // set after the first failed write or fsync; see fail

	statsMu sync.Mutex
	stats   EventLogStats // guarded by statsMu

	lastSeq atomic.Uint64 // highest durable sequence

	// sync makes written batches durable: db.Sync, replaced in tests to
	// inject disk faults.
	sync func() error
}

// EventLogStats counts the committer's work since the log was opened.
type EventLogStats struct {
	Commits  uint64        // durable commits: fsyncs, each covering one or more written batches
	Events   uint64        // events made durable
	SyncTime time.Duration // total time spent in fsync
}

type appendReq struct {
	ev   *firehook.Event
	val  []byte // ev encoded without Seq; the key carries the sequence
	done chan error
}

var reqPool = sync.Pool{New: func() any { return &appendReq{done: make(chan error, 1)} }}

// newEventLog opens the log over db; sync makes its written batches
// durable (the store passes the outbox's shared group commit).
func newEventLog(db *badger.DB, cfg EventLogConfig, sync func() error) (*EventLog, error) {
	cfg.withDefaults()
	last, err := lastEventSeq(db)
	if err != nil {
		return nil, err
	}
	l := &EventLog{
		db:    db,
		cfg:   cfg,
		queue: make(chan *appendReq, cfg.QueueSize),
		// A few written batches may wait for the fsync; more would let
		// writes run far ahead of durability.
		written: make(chan writtenBatch, 64),
		done:    make(chan struct{}),
	}
	l.sync = sync
	l.lastSeq.Store(last)
	go l.writeLoop(last + 1)
	go l.syncLoop()
	return l, nil
}

// lastEventSeq finds the highest sequence in the log (0 when empty).
func lastEventSeq(db *badger.DB) (uint64, error) {
	var last uint64
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.PrefetchValues = false
		opts.Prefix = []byte(prefixEvent)
		it := txn.NewIterator(opts)
		defer it.Close()
		// Seek past the end of the prefix range; Reverse lands on the last key.
		it.Seek(append([]byte(prefixEvent), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
		if it.ValidForPrefix([]byte(prefixEvent)) {
			last = eventSeq(it.Item().Key())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("find last event sequence: %w", err)
	}
	return last, nil
}

// Append stores ev durably and sets ev.Seq. It returns once the event is
// on disk (fsynced), or with an error when it could not be stored. After
// an error the event is not acknowledged, though a failed fsync may still
// leave it on disk (the client's retry then makes a duplicate, never a
// loss). ErrClosed after Close. A cancelled ctx
// returns ctx.Err(), though the event may still be committed.
func (l *EventLog) Append(ctx context.Context, ev *firehook.Event) error {
	if err := ctx.Err(); err != nil {
		// Already over: do not enqueue an event nobody waits for (a
		// select below would pick the ready queue half of the time).
		return err
	}
	ev.Seq = 0
	val, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("event log: encode event: %w", err)
	}
	req := reqPool.Get().(*appendReq)
	req.ev, req.val = ev, val

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		reqPool.Put(req)
		return fmt.Errorf("event log: append: %w", firehook.ErrClosed)
	}
	select {
	case l.queue <- req:
	case <-ctx.Done():
		l.mu.RUnlock()
		reqPool.Put(req)
		return ctx.Err()
	}
	l.mu.RUnlock()

	select {
	case err := <-req.done:
		req.ev, req.val = nil, nil
		reqPool.Put(req)
		return err
	case <-ctx.Done():
		// The committer still owns req and will answer into its buffered
		// channel; let it be garbage-collected rather than reused.
		return ctx.Err()
	}
}

// writeLoop is the first stage of the committer: it takes whatever has
// queued up (up to MaxBatch), writes it to badger in one transaction with
// the next sequences, and hands the batch to syncLoop. While syncLoop
// fsyncs, writeLoop already writes the next batch, so the disk wait and
// the CPU work overlap. It exits when the queue is closed and drained.
func (l *EventLog) writeLoop(next uint64) {
	defer close(l.written)
	for {
		req, ok := <-l.queue
		if !ok {
			return
		}
		batch := append(make([]*appendReq, 0, 16), req)
	drain:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := l.failure()
		if err == nil {
			if err = l.write(batch, next); err != nil {
				l.fail(err)
			}
		}
		if err == nil {
			for i, r := range batch {
				r.ev.Seq = next + uint64(i)
			}
			next += uint64(len(batch))
		}
		l.written <- writtenBatch{reqs: batch, err: err}
	}
}

// writtenBatch is a batch written to badger but not yet synced, or one
// that failed (err) and only needs its answers.
type writtenBatch struct {
	reqs []*appendReq
	err  error
}

// syncLoop is the second stage: it takes every batch written since its
// last fsync, fsyncs once, and answers their appends. It exits when
// writeLoop has exited and every batch is answered.
func (l *EventLog) syncLoop() {
	defer close(l.done)
	var pending []writtenBatch
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
		var syncErr error
		var syncTime time.Duration
		// Sync whenever a batch was written, even when a later write has
		// failed meanwhile: the batches written before it are answered as
		// durable, so they must be.
		written := false
		for _, b := range pending {
			written = written || b.err == nil
		}
		if !l.cfg.NoSync && written {
			start := time.Now()
			if err := l.sync(); err != nil {
				syncErr = fmt.Errorf("event log: fsync: %w", err)
				l.fail(syncErr)
			}
			syncTime = time.Since(start)
		}
		l.finish(pending, syncErr, syncTime)
	}
}

// finish answers the appends of the batches that one fsync covered and
// publishes the durable ones. Stats and LastSeq are updated before any
// Append returns, so a caller that saw its append succeed sees it counted.
func (l *EventLog) finish(batches []writtenBatch, syncErr error, syncTime time.Duration) {
	var events []*firehook.Event
	var durable, last uint64
	for i := range batches {
		if batches[i].err == nil {
			batches[i].err = syncErr
		}
		if b := batches[i]; b.err == nil && len(b.reqs) > 0 {
			durable += uint64(len(b.reqs))
			last = b.reqs[len(b.reqs)-1].ev.Seq // batches arrive in sequence order
			if l.cfg.OnCommit != nil {
				for _, r := range b.reqs {
					events = append(events, r.ev)
				}
			}
		}
	}
	if durable > 0 {
		l.lastSeq.Store(last)
		l.statsMu.Lock()
		l.stats.Commits++
		l.stats.Events += durable
		l.stats.SyncTime += syncTime
		l.statsMu.Unlock()
	}
	for _, b := range batches {
		for _, r := range b.reqs {
			r.done <- b.err
		}
	}
	if len(events) > 0 {
		l.cfg.OnCommit(events)
	}
}

// fail records the first failed write or fsync. Part of a batch may be on
// disk after it (a split transaction, or data written before a failed
// fsync), so its sequences must never be handed out again, and after a
// failed fsync the disk state is unknown: every later append is refused.
// A restart reads the log back and continues after what is really there.
func (l *EventLog) fail(err error) {
	l.brokenMu.Lock()
	defer l.brokenMu.Unlock()
	if l.broken == nil {
		l.broken = fmt.Errorf("event log: refusing appends after a failed commit (restart the node): %w", err)
	}
}

func (l *EventLog) failure() error {
	l.brokenMu.Lock()
	defer l.brokenMu.Unlock()
	return l.broken
}

// write stores batch under sequences first.. in one transaction (more if
// badger says the batch is too big for one). It does not fsync.
func (l *EventLog) write(batch []*appendReq, first uint64) error {
	txn := l.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for i, r := range batch {
		k := eventKey(first + uint64(i))
		err := txn.Set(k, r.val)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return fmt.Errorf("event log: commit: %w", err)
			}
			txn = l.db.NewTransaction(true)
			err = txn.Set(k, r.val)
		}
		if err != nil {
			return fmt.Errorf("event log: write event: %w", err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("event log: commit: %w", err)
	}
	return nil
}

// Stats returns the committer's counters.
func (l *EventLog) Stats() EventLogStats {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	return l.stats
}

// LastSeq returns the highest durable sequence (0 for an empty log).
func (l *EventLog) LastSeq() uint64 { return l.lastSeq.Load() }

// Read returns up to limit events with sequence ≥ from, in sequence order.
func (l *EventLog) Read(from uint64, limit int) ([]firehook.Event, error) {
	var out []firehook.Event
	err := l.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixEvent)
		if limit > 0 && limit < opts.PrefetchSize {
			opts.PrefetchSize = limit
		}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(eventKey(from)); it.Valid() && (limit <= 0 || len(out) < limit); it.Next() {
			var ev firehook.Event
			err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &ev) })
			if err != nil {
				return fmt.Errorf("decode event %d: %w", eventSeq(it.Item().Key()), err)
			}
			ev.Seq = eventSeq(it.Item().Key())
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("event log: read: %w", err)
	}
	return out, nil
}

// close stops accepting appends, commits what is queued and waits for the
// committer to exit.
func (l *EventLog) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
}
