package persistence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/persistence/wal"
)

// EventLogConfig configures the event log.
type EventLogConfig struct {
	// MaxBatch is the most events one write (one fdatasync) carries.
	// Default 1024.
	MaxBatch int
	// QueueSize is how many appends may wait for the writer before Append
	// blocks. Default 8192.
	QueueSize int
	// SegmentSize is the size of the log's segment files in bytes, the
	// unit retention removes. Default 64 MiB.
	SegmentSize int64
	// NoSync skips the fdatasync after each write: a process crash loses
	// nothing (the page cache keeps the writes) but a power loss may.
	// Default false; only benchmarks that compare against fsync set it.
	NoSync bool
	// OnCommit, when set, is called by the log's syncer goroutine after
	// every fdatasync with the events it made durable, in sequence order,
	// their Seq set, before their Appends return. It must not block: hand
	// the events on and return. The slice is the callee's to keep; the
	// events are shared with the appenders and must be treated as
	// read-only.
	OnCommit func([]*firehook.Event)
	// Retention is how long segments are kept after their last event was
	// written, once the pipeline has checkpointed every event in them
	// (see EventLog.Trim): the reach of GET /v1/events and of a replay
	// from the log. Default 7 days; negative keeps every event.
	Retention time.Duration

	// WriteFile, when set, replaces the write of a batch to a segment:
	// tests inject a full or read-only disk (wal.Config.WriteFile).
	WriteFile func(f *os.File, b []byte) (int, error)

	// syncFile replaces fdatasync in tests that inject disk faults.
	syncFile func(*os.File) error
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

// eventsDir is the event log's directory under the data directory.
const eventsDir = "events"

// EventLog is the node's append-only log of accepted events: the source
// of truth of the pipeline. An event answered 202 is in it, fdatasynced;
// everything derived from it (the match, the visitor's session, the
// dispatch decision, the outbox) can be rebuilt by replaying it from the
// pipeline's last checkpoint.
//
// It is a wal.Log in DATA/events — its own files, so that its fdatasync
// never holds badger's lock and the pipeline's reads and writes never
// queue behind it — with events in the binary form of eventcodec.go.
type EventLog struct {
	wal *wal.Log
	cfg EventLogConfig
}

// EventLogStats counts the log's work since it was opened, and its size.
type EventLogStats struct {
	Commits  uint64        // fdatasyncs, each covering one or more written batches
	Events   uint64        // events made durable
	SyncTime time.Duration // total time spent in fdatasync
	// Segments, DiskBytes and FirstSeq describe the log now: its files,
	// their bytes, and the first sequence it still holds.
	Segments  int
	DiskBytes int64
	FirstSeq  uint64
	// SyncBuckets counts the fdatasyncs by duration, with upper bounds
	// wal.SyncBucketBounds (the last bucket: longer).
	SyncBuckets [len(wal.SyncBucketBounds) + 1]uint64
}

// LogDamage is a stretch of the event log that could not be read at
// start (a torn write after a crash, or bytes changed on disk); the
// events in it are lost. See wal.Damage.
type LogDamage = wal.Damage

var encodePool = sync.Pool{New: func() any { return new([]byte) }}

// openEventLog opens the log in dir; firstSeq numbers the first event of
// an empty log (see migrateBadgerEvents).
func openEventLog(dir string, cfg EventLogConfig, firstSeq uint64) (*EventLog, error) {
	cfg.withDefaults()
	wc := wal.Config{
		Dir:         dir,
		SegmentSize: cfg.SegmentSize,
		MaxBatch:    cfg.MaxBatch,
		QueueSize:   cfg.QueueSize,
		NoSync:      cfg.NoSync,
		SyncFile:    cfg.syncFile,
		WriteFile:   cfg.WriteFile,
		FirstSeq:    firstSeq,
		OnDurable: func(es []wal.Entry) {
			evs := make([]*firehook.Event, len(es))
			for i, e := range es {
				ev := e.Tag.(*firehook.Event)
				ev.Seq = e.Seq // before Append returns: the appender sees it
				evs[i] = ev
			}
			if cfg.OnCommit != nil {
				cfg.OnCommit(evs)
			}
		},
	}
	w, err := wal.Open(wc)
	if err != nil {
		return nil, err
	}
	return &EventLog{wal: w, cfg: cfg}, nil
}

// Append stores ev durably and sets ev.Seq. It returns once the event is
// on disk (fdatasynced), or with an error when it could not be stored.
// After an error the event is not acknowledged, though a failed sync may
// still leave it on disk (the client's retry then makes a duplicate,
// never a loss). ErrClosed after Close. A cancelled ctx returns
// ctx.Err(), though the event may still be committed.
func (l *EventLog) Append(ctx context.Context, ev *firehook.Event) error {
	ev.Seq = 0
	bp := encodePool.Get().(*[]byte)
	*bp = appendEvent((*bp)[:0], ev)
	_, err := l.wal.Append(ctx, *bp, ev)
	switch {
	case err == nil:
		encodePool.Put(bp)
		return nil
	case errors.Is(err, wal.ErrClosed):
		encodePool.Put(bp)
		return fmt.Errorf("event log: append: %w", firehook.ErrClosed)
	case ctx.Err() != nil:
		return err // the writer may still read the buffer: not reused
	default:
		encodePool.Put(bp)
		return fmt.Errorf("event log: %w: %w", firehook.ErrStorage, err)
	}
}

// Stats returns the log's counters and size.
func (l *EventLog) Stats() EventLogStats {
	st := l.wal.Stats()
	return EventLogStats{Commits: st.Syncs, Events: st.Records, SyncTime: st.SyncTime,
		Segments: st.Segments, DiskBytes: st.DiskBytes, FirstSeq: st.FirstSeq, SyncBuckets: st.SyncBuckets}
}

// LastSeq returns the highest durable sequence (0 for an empty log).
func (l *EventLog) LastSeq() uint64 { return l.wal.LastSeq() }

// Damage returns what the log found unreadable when it opened.
func (l *EventLog) Damage() []LogDamage { return l.wal.Damage() }

// Read returns up to limit events (all when limit ≤ 0) with sequence ≥
// from, in sequence order.
func (l *EventLog) Read(from uint64, limit int) ([]firehook.Event, error) {
	var out []firehook.Event
	err := l.Scan(from, func(ev *firehook.Event) bool {
		out = append(out, *ev)
		return limit <= 0 || len(out) < limit
	})
	return out, err
}

// Scan calls fn with each durable event from sequence from on, in order,
// until fn returns false. ev is fn's to keep.
func (l *EventLog) Scan(from uint64, fn func(ev *firehook.Event) bool) error {
	var decErr error
	err := l.wal.Scan(from, func(seq uint64, data []byte) bool {
		ev := new(firehook.Event)
		if err := decodeEvent(data, ev); err != nil {
			decErr = fmt.Errorf("decode event %d: %w", seq, err)
			return false
		}
		ev.Seq = seq
		return fn(ev)
	})
	if err = errors.Join(err, decErr); err != nil {
		return fmt.Errorf("event log: read: %w", err)
	}
	return nil
}

// Trim removes the log's segments whose events all have sequences up to
// mark (the pipeline's checkpoint: every such event is decided and its
// derived state stored) and whose last event was written before cutoff.
// The segment being written is never removed, so the last sequence, from
// which new events are numbered, never goes back. It returns how many
// segments it removed.
func (l *EventLog) Trim(cutoff time.Time, mark uint64) (int, error) {
	n, err := l.wal.Trim(mark+1, cutoff)
	if err != nil {
		return n, fmt.Errorf("event log: %w", err)
	}
	return n, nil
}

// close stops accepting appends, commits what is queued and waits for
// the writer and the syncer to exit.
func (l *EventLog) close() error { return l.wal.Close() }

// trimEvents applies the event log's retention: run every minute by the
// store.
func (s *Store) trimEvents(ctx context.Context) {
	retention := s.Events.cfg.Retention
	if retention < 0 || ctx.Err() != nil {
		return
	}
	mark, err := s.ProcessedUpTo()
	if err != nil {
		s.log.Error("event log: retention", "err", err)
		return
	}
	n, err := s.Events.Trim(time.Now().Add(-retention), mark)
	if err != nil {
		s.log.Error("event log: retention", "err", err)
	}
	if n > 0 {
		s.log.Info("event log: removed segments past retention", "segments", n, "retention", retention)
	}
}

// eventLogDir is where a store keeps its event log.
func eventLogDir(dataDir string) string { return filepath.Join(dataDir, eventsDir) }
