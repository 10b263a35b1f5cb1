package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Config configures a Store. The zero value of a field means its default
// (see DefaultConfig), except where a comment says otherwise.
type Config struct {
	// Dir is the data directory; badger's files live directly in it.
	// Required unless InMemory.
	Dir string
	// InMemory keeps everything in RAM (tests where durability is not the
	// point). Nothing survives Close.
	InMemory bool
	// MemTableSize is badger's memtable size in bytes. Default 16 MiB,
	// at least 1 MiB. Every badger fsync msyncs the whole memtable, and
	// reads and writes queue behind it: a smaller memtable makes each
	// fsync shorter (2.2 → 1.6 ms here) and the pipeline's tail with it
	// (pixel → webhook p99 at 1,000/s about halved), at the cost of more
	// flushes (graph import 23 % slower than with 64 MiB).
	MemTableSize int64
	// BlockCacheSize is badger's block cache in bytes. Default 64 MiB.
	BlockCacheSize int64
	// GCInterval is how often the value log is garbage-collected.
	// Default 5 minutes.
	GCInterval time.Duration
	// Log receives the store's and badger's messages. Default slog.Default().
	Log *slog.Logger
	// EventLog configures the group-committed event log.
	EventLog EventLogConfig
	// Outbox configures the dispatch step and the delivery outbox.
	Outbox OutboxConfig
}

const (
	valueThreshold  = 64 << 10
	minMemTableSize = 1 << 20 // badger needs a batch (15 % of it) larger than valueThreshold
)

// DefaultConfig returns the configuration of a node's store under dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:            dir,
		MemTableSize:   16 << 20,
		BlockCacheSize: 64 << 20,
		GCInterval:     5 * time.Minute,
		Log:            slog.Default(),
		EventLog:       DefaultEventLogConfig(),
	}
}

func (c *Config) withDefaults() {
	d := DefaultConfig(c.Dir)
	if c.MemTableSize <= 0 {
		c.MemTableSize = d.MemTableSize
	}
	c.MemTableSize = max(c.MemTableSize, minMemTableSize)
	if c.BlockCacheSize <= 0 {
		c.BlockCacheSize = d.BlockCacheSize
	}
	if c.GCInterval <= 0 {
		c.GCInterval = d.GCInterval
	}
	if c.Log == nil {
		c.Log = d.Log
	}
	c.EventLog.withDefaults()
}

// Store is a node's badger database and the typed stores over it.
// Its methods are safe for concurrent use.
type Store struct {
	db  *badger.DB
	log *slog.Logger

	// Config is the tenants/sites/endpoints store.
	Config *ConfigStore
	// Events is the pixel event log.
	Events *EventLog

	outbox *Outbox // see Outbox and Dispatch

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the store described by cfg and loads the
// configuration into memory.
func Open(cfg Config) (*Store, error) {
	cfg.withDefaults()
	if cfg.Dir == "" && !cfg.InMemory {
		return nil, errors.New("persistence: open: no data directory")
	}
	opts := badger.DefaultOptions(cfg.Dir).
		WithInMemory(cfg.InMemory).
		// Durability comes from the event log's group commit and from
		// syncing after every config write: one fsync for many writes.
		WithSyncWrites(false).
		WithMemTableSize(cfg.MemTableSize).
		// Events and config records are small: keep them in the LSM tree
		// (values up to 64 KiB) rather than the value log. This also keeps
		// the threshold under badger's batch limit for small test memtables.
		WithValueThreshold(valueThreshold).
		WithBlockCacheSize(cfg.BlockCacheSize).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{cfg.Log.With("component", "badger")})
	if cfg.InMemory {
		opts = opts.WithDir("").WithValueDir("")
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("persistence: open badger at %q: %w", cfg.Dir, err)
	}
	s := &Store{db: db, log: cfg.Log}
	if s.Config, err = newConfigStore(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("persistence: load config: %w", err)
	}
	// One group commit for the event log and the outbox: every badger
	// fsync msyncs the whole memtable and stalls badger's writer and
	// readers meanwhile, so the two share their fsyncs rather than each
	// running its own.
	s.outbox = newOutbox(db, cfg.Outbox)
	if s.Events, err = newEventLog(db, cfg.EventLog, s.outbox.syncShared); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("persistence: open event log: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if !cfg.InMemory {
		s.wg.Add(3)
		go s.every(ctx, cfg.GCInterval, s.collectGarbage)
		go s.every(ctx, s.outbox.cfg.FlushInterval, s.flushOutbox)
		go s.every(ctx, time.Hour, s.trimEvents)
	}
	return s, nil
}

// every runs fn every interval until ctx ends: the store's background
// loops (value-log GC, the outbox flush). fn gets ctx to stop early.
func (s *Store) every(ctx context.Context, interval time.Duration, fn func(ctx context.Context)) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// flushOutbox makes the outbox's unwaited writes (Outbox.Record) durable;
// run every FlushInterval, and by Close for the rest.
func (s *Store) flushOutbox(context.Context) {
	if err := s.outbox.flush(); err != nil {
		s.log.Error("outbox: flushing recorded attempts", "err", err)
	}
}

// DB exposes the badger handle to sibling stores that later stages add
// (identity graph, outbox). Handlers must not use it directly.
func (s *Store) DB() *badger.DB { return s.db }

// Sync forces everything written so far to disk.
func (s *Store) Sync() error {
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("persistence: sync: %w", err)
	}
	return nil
}

// Close drains the event log (every append already accepted is committed),
// stops background work and closes badger. Safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.Events.close()
		s.cancel()
		s.wg.Wait()
		s.flushOutbox(context.Background())
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("persistence: close badger: %w", err)
		}
	})
	return s.closeErr
}

// collectGarbage reclaims value-log space: it rewrites files while there
// is garbage to collect and ctx has not ended.
func (s *Store) collectGarbage(ctx context.Context) {
	for s.db.RunValueLogGC(0.5) == nil {
		if ctx.Err() != nil {
			return
		}
	}
}

// badgerLogger routes badger's logging into slog. Badger is chatty at
// Info, so its Info becomes our Debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(trimNL(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(trimNL(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(trimNL(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(trimNL(fmt.Sprintf(f, a...))) }

func trimNL(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	return s
}
