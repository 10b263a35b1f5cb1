package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
}

// DefaultEventLogConfig returns the event log defaults.
func DefaultEventLogConfig() EventLogConfig {
	return EventLogConfig{MaxBatch: 1024, QueueSize: 8192}
}

func (c *EventLogConfig) withDefaults() {
	d := DefaultEventLogConfig()
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
}

// EventLog is the node's append-only log of accepted events.
//
// Append hands an event to a single committer goroutine that writes
// whatever has queued up since its last commit in one badger transaction,
// fsyncs once and then answers every waiting Append. Under load a commit
// carries many events, so one fsync is shared by many requests
// (group commit); an idle log commits a single event at once.
type EventLog struct {
	db  *badger.DB
	cfg EventLogConfig

	// mu guards closed and sends on queue, so that close never races a send.
	mu     sync.RWMutex
	closed bool
	queue  chan *appendReq

	done chan struct{} // closed when the committer has drained and exited

	// broken is set by the committer (and only read by it) after a failed
	// commit; every later append fails with it.
	broken error

	statsMu sync.Mutex
	stats   EventLogStats
	lastSeq uint64 // highest durable sequence; guarded by statsMu
}

// EventLogStats counts the committer's work since the log was opened.
type EventLogStats struct {
	Commits  uint64        // transactions written (and fsynced)
	Events   uint64        // events made durable
	SyncTime time.Duration // total time spent in fsync
}

type appendReq struct {
	ev   *firehook.Event
	val  []byte // ev encoded without Seq; the key carries the sequence
	done chan error
}

var reqPool = sync.Pool{New: func() any { return &appendReq{done: make(chan error, 1)} }}

func newEventLog(db *badger.DB, cfg EventLogConfig) (*EventLog, error) {
	cfg.withDefaults()
	last, err := lastEventSeq(db)
	if err != nil {
		return nil, err
	}
	l := &EventLog{
		db:      db,
		cfg:     cfg,
		queue:   make(chan *appendReq, cfg.QueueSize),
		done:    make(chan struct{}),
		lastSeq: last,
	}
	go l.commitLoop(last + 1)
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

// commitLoop is the single committer. It exits when the queue is closed
// and drained.
func (l *EventLog) commitLoop(next uint64) {
	defer close(l.done)
	batch := make([]*appendReq, 0, l.cfg.MaxBatch)
	for {
		req, ok := <-l.queue
		if !ok {
			return
		}
		batch = append(batch[:0], req)
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
		err := l.broken
		if err == nil {
			if err = l.commit(batch, next); err != nil {
				// Part of the batch may be on disk (a split transaction, or a
				// failed fsync after the write): its sequences must never be
				// handed out again, and after a failed fsync the disk state is
				// unknown. Refuse every later append; a restart reads the log
				// back from disk and continues after what is really there.
				l.broken = fmt.Errorf("event log: refusing appends after a failed commit (restart the node): %w", err)
			}
		}
		var events []*firehook.Event
		if err == nil {
			if l.cfg.OnCommit != nil {
				events = make([]*firehook.Event, len(batch))
			}
			for i, r := range batch {
				r.ev.Seq = next + uint64(i)
				if events != nil {
					events[i] = r.ev
				}
			}
			next += uint64(len(batch))
		}
		for i, r := range batch {
			r.done <- err
			batch[i] = nil
		}
		if events != nil {
			l.cfg.OnCommit(events)
		}
	}
}

// commit writes batch under sequences first.. in one transaction (more if
// badger says the batch is too big for one) and fsyncs.
func (l *EventLog) commit(batch []*appendReq, first uint64) error {
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
	var syncTime time.Duration
	if !l.cfg.NoSync {
		start := time.Now()
		if err := l.db.Sync(); err != nil {
			return fmt.Errorf("event log: fsync: %w", err)
		}
		syncTime = time.Since(start)
	}
	l.statsMu.Lock()
	l.stats.Commits++
	l.stats.Events += uint64(len(batch))
	l.stats.SyncTime += syncTime
	l.lastSeq = first + uint64(len(batch)) - 1
	l.statsMu.Unlock()
	return nil
}

// Stats returns the committer's counters.
func (l *EventLog) Stats() EventLogStats {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	return l.stats
}

// LastSeq returns the highest durable sequence (0 for an empty log).
func (l *EventLog) LastSeq() uint64 {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	return l.lastSeq
}

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
