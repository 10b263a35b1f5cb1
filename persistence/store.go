package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	// GraphMemTableSize is the memtable size of the identity graph's
	// database. Default 4 × MemTableSize (64 MiB): imports write large
	// batches, and the graph's fsyncs do not stall the pipeline's writes.
	GraphMemTableSize int64
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
	// NodeName names this node in the versions of its writes of the
	// replicated configuration and suppression lists (Store.Clock). It
	// must be unique within a cluster; "" is fine for a single node.
	NodeName string
	// LinkRetention is how long a learned link (visitor → person) is kept
	// after it was learned (graph_linkttl.go). 0 means 90 days; negative,
	// forever.
	LinkRetention time.Duration
	// SecretKey, when set, seals endpoint secrets at rest (secretbox.go;
	// FIREHOOK_SECRET_KEY): at least MinSecretKeyLen bytes. A store that
	// holds sealed secrets does not open without it.
	SecretKey string
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
	if c.LinkRetention == 0 {
		c.LinkRetention = DefaultLinkRetention
	}
	if c.MemTableSize <= 0 {
		c.MemTableSize = d.MemTableSize
	}
	c.MemTableSize = max(c.MemTableSize, minMemTableSize)
	if c.GraphMemTableSize <= 0 {
		c.GraphMemTableSize = 4 * c.MemTableSize
	}
	c.GraphMemTableSize = max(c.GraphMemTableSize, minMemTableSize)
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
	db      *badger.DB // configuration, events, dispatch, outbox, visitors
	graphDB *badger.DB // the identity graph (GraphStore)
	log     *slog.Logger
	clock   *Clock // versions of the replicated records (replica.go)

	// Config is the tenants/sites/endpoints store.
	Config *ConfigStore
	// Events is the pixel event log.
	Events *EventLog

	outbox   *Outbox       // see Outbox and Dispatch
	visitors visitorBuffer // visitor states until the next checkpoint (visitors.go)

	tmpDir  string        // an in-memory store's event log directory
	linkTTL time.Duration // Config.LinkRetention, defaulted

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
	db, err := openBadger(cfg, cfg.Dir, cfg.MemTableSize, "badger")
	if err != nil {
		return nil, err
	}
	// The identity graph has a database of its own (under Dir/graph):
	// its reads — a person's record at a visitor's first match — never
	// queue behind the pipeline's writes and fsyncs (every badger fsync
	// holds the database's lock that reads and writes need), and an
	// import's large batches never stall the pipeline.
	gdb, err := openBadger(cfg, filepath.Join(cfg.Dir, graphDir), cfg.GraphMemTableSize, "badger-graph")
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{db: db, graphDB: gdb, log: cfg.Log, clock: NewClock(cfg.NodeName), linkTTL: cfg.LinkRetention}
	warnOldGraphLayout(db, cfg.Log)
	box, err := newSecretBox(cfg.SecretKey)
	if err != nil {
		_ = s.closeDBs()
		return nil, err
	}
	if s.Config, err = newConfigStore(db, s.clock, box); err != nil {
		_ = s.closeDBs()
		return nil, fmt.Errorf("persistence: load config: %w", err)
	}
	s.outbox = newOutbox(db, cfg.Outbox)
	if err := s.openEvents(cfg); err != nil {
		_ = s.closeDBs()
		return nil, fmt.Errorf("persistence: open event log: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if !cfg.InMemory {
		s.wg.Add(3)
		go s.every(ctx, cfg.GCInterval, s.collectGarbage)
		go s.every(ctx, s.outbox.cfg.FlushInterval, s.flushOutbox)
		go s.every(ctx, time.Minute, s.trimEvents)
	}
	return s, nil
}

// openEvents opens the event log (in DATA/events; in a temporary
// directory, removed by Close, for an in-memory store), reports what its
// recovery found damaged, and moves the events of a badger event log of
// an older version into it.
func (s *Store) openEvents(cfg Config) error {
	dir := eventLogDir(cfg.Dir)
	if cfg.InMemory {
		tmp, err := os.MkdirTemp("", "firehook-events-")
		if err != nil {
			return err
		}
		s.tmpDir, dir = tmp, tmp
	}
	old, firstSeq, err := badgerEvents(s.db)
	if err != nil {
		return err
	}
	if s.Events, err = openEventLog(dir, cfg.EventLog, firstSeq); err != nil {
		return err
	}
	for _, d := range s.Events.Damage() {
		s.log.Error("event log: damaged bytes found at start and cut out; the events in them are lost",
			"segment", d.Segment, "offset", d.Offset, "bytes", d.Bytes, "after_seq", d.After, "before_seq", d.Before, "reason", d.Reason)
	}
	if len(old) > 0 || firstSeq > 0 {
		return s.migrateBadgerEvents(old)
	}
	return nil
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

// Clock is the node's hybrid clock, which stamps the versions of its
// writes of the configuration (Config) and of the suppression lists
// (identity.Suppressions, through Graph). It has observed every version
// Config holds; the suppression lists make it observe theirs as they load.
func (s *Store) Clock() *Clock { return s.clock }

// DB exposes the badger handle to sibling stores that later stages add
// (identity graph, outbox). Handlers must not use it directly.
func (s *Store) DB() *badger.DB { return s.db }

// GraphDB exposes the identity graph's badger handle (tests, metrics).
func (s *Store) GraphDB() *badger.DB { return s.graphDB }

// Sync forces everything written so far to disk.
func (s *Store) Sync() error {
	if err := errors.Join(s.db.Sync(), s.graphDB.Sync()); err != nil {
		return fmt.Errorf("persistence: sync: %w", err)
	}
	return nil
}

// Close drains the event log (every append already accepted is committed),
// stops background work and closes badger. Safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		evErr := s.Events.close()
		s.cancel()
		s.wg.Wait()
		if err := s.visitors.flush(s.db); err != nil {
			s.log.Error("visitor states not written; they are rebuilt from the event log", "err", err)
		}
		s.flushOutbox(context.Background())
		s.closeErr = errors.Join(evErr, s.closeDBs())
		if s.tmpDir != "" {
			_ = os.RemoveAll(s.tmpDir)
		}
	})
	return s.closeErr
}

// collectGarbage reclaims value-log space of both databases: it rewrites
// files while there is garbage to collect and ctx has not ended.
func (s *Store) collectGarbage(ctx context.Context) {
	for _, db := range []*badger.DB{s.db, s.graphDB} {
		for db.RunValueLogGC(0.5) == nil {
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// closeDBs closes both badger databases.
func (s *Store) closeDBs() error {
	var errs []error
	for _, db := range []*badger.DB{s.db, s.graphDB} {
		if err := db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("persistence: close badger: %w", err))
		}
	}
	return errors.Join(errs...)
}

// graphDir is the identity graph's database under the data directory.
const graphDir = "graph"

// openBadger opens one of the store's badger databases in dir.
func openBadger(cfg Config, dir string, memTable int64, component string) (*badger.DB, error) {
	opts := badger.DefaultOptions(dir).
		WithInMemory(cfg.InMemory).
		// Durability comes from the group commits (event log and outbox)
		// and from syncing after every config or graph write: one fsync
		// for many writes.
		WithSyncWrites(false).
		WithMemTableSize(memTable).
		// Records are small: keep them in the LSM tree (values up to
		// 64 KiB) rather than the value log. This also keeps the threshold
		// under badger's batch limit for small test memtables.
		WithValueThreshold(valueThreshold).
		WithBlockCacheSize(cfg.BlockCacheSize).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{cfg.Log.With("component", component)})
	if cfg.InMemory {
		opts = opts.WithDir("").WithValueDir("")
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("persistence: open badger at %q: %w", dir, err)
	}
	return db, nil
}

// warnOldGraphLayout logs when db holds graph records, as data dirs made
// before the graph had its own database do: they are not read (import
// the graph again).
func warnOldGraphLayout(db *badger.DB, log *slog.Logger) {
	_ = db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte(prefixPerson), false
		it := txn.NewIterator(opts)
		defer it.Close()
		if it.Rewind(); it.Valid() {
			log.Warn("this data dir holds identity graph records in the old layout (the main database); they are not used: import the graph again")
		}
		return nil
	})
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
