package identity

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/firehook/firehook/persistence"
)

// GraphConfig configures a Graph.
type GraphConfig struct {
	// Store persists the graph. Required.
	Store *persistence.GraphStore
	// ProfileCacheSize is how many decoded person records stay in memory
	// (the hot profiles). Default 100,000.
	ProfileCacheSize int64
	// ExpectedPersons sizes the filter that lets an import skip reading
	// persons the graph has never held (10 bits a person). More persons
	// than this only make the filter less selective. Default 10,000,000
	// (12 MiB).
	ExpectedPersons int
	// SnapshotPath is the file of the index snapshot (see snapshot.go):
	// written by SaveSnapshot at a clean shutdown, read at start when it
	// matches the records. Empty: no snapshot; every start scans.
	SnapshotPath string
	// Log receives the graph's messages. Default slog.Default().
	Log *slog.Logger
}

func (c *GraphConfig) withDefaults() {
	if c.ProfileCacheSize <= 0 {
		c.ProfileCacheSize = 100_000
	}
	if c.ExpectedPersons <= 0 {
		c.ExpectedPersons = 10_000_000
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Graph is the identity graph of a node: person records in badger, and in
// memory an index from identifier to person, partitioned into NumShards
// shards by identifier hash, plus a bounded cache of hot profiles.
//
// The index holds the hash of each identifier, not the identifier itself
// (8 bytes instead of up to 260). A lookup confirms a hit against the
// person's record, which lists its identifiers, so a hash collision is a
// miss, never a wrong person.
//
// An identifier belongs to one person. Importing it with another person
// moves it: the previous owner's record is rewritten without it, so the
// stored records and the index always agree (and a restart, which builds
// the index from the records, builds the same index).
//
// Methods are safe for concurrent use. Writers (import, erase, learn) are
// serialised by writeMu; lookups only take a shard's read lock.
type Graph struct {
	cfg   GraphConfig
	store *persistence.GraphStore
	cache *profileCache
	known *personFilter // every person id ever stored (see personFilter)

	shards [NumShards]shard

	// ids maps an index value (an ordinal) to a person id. Ordinals are
	// never reused while the node runs; a restart compacts them.
	ids idTable

	writeMu sync.Mutex // serialises every change of records and index
	// linkWrites counts LearnRecord's badger commits in flight (added to under
	// writeMu, so waiting under writeMu waits for every link learned so far).
	linkWrites sync.WaitGroup
	changed    bool // a change since the start retired the snapshot generation; guarded by writeMu
	// transfers are the shard transfers this node is receiving (BeginTransfer
	// to Finish or Close): every write records in them what it decided.
	// Guarded by writeMu.
	transfers []*Transfer
	// receiving[s] counts the transfers in progress that bring shard s. It
	// changes under writeMu and is read without it by LearnRecord's fast path.
	receiving [NumShards]atomic.Int32

	fromSnapshot bool // the index was loaded from a snapshot, not built from the records

	// gen counts writes of person records; see profile.
	gen atomic.Uint64

	persons atomic.Int64 // person and company records
	links   atomic.Int64 // learned links
}

// companyFlag marks an ordinal whose record is company-only (it can name
// a company, never a person).
const companyFlag = 1 << 31

// OpenGraph loads the graph from its store: it reads every person record
// and learned link and builds the in-memory index.
func OpenGraph(cfg GraphConfig) (*Graph, error) {
	cfg.withDefaults()
	if cfg.Store == nil {
		return nil, fmt.Errorf("identity: open graph: no store")
	}
	g := &Graph{cfg: cfg, store: cfg.Store, cache: newProfileCache(int(cfg.ProfileCacheSize)),
		known: newPersonFilter(cfg.ExpectedPersons)}
	if cfg.SnapshotPath != "" {
		err := g.loadSnapshot()
		if err == nil {
			g.fromSnapshot = true
			cfg.Log.Info("identity index loaded from snapshot", "path", cfg.SnapshotPath)
			return g, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			cfg.Log.Info("identity index snapshot not used; scanning the records", "reason", err.Error())
		}
		// Start again from an empty graph.
		g = &Graph{cfg: cfg, store: cfg.Store, cache: newProfileCache(int(cfg.ProfileCacheSize)),
			known: newPersonFilter(cfg.ExpectedPersons)}
	}
	if err := g.rebuild(); err != nil {
		return nil, err
	}
	return g, nil
}

// FromSnapshot reports whether the index was loaded from a snapshot
// (rather than built by scanning the records).
func (g *Graph) FromSnapshot() bool { return g.fromSnapshot }

// Close waits for the learned links still being committed to badger.
// Call it before closing the store. The graph holds no goroutines of its
// own or files (the store is the caller's).
func (g *Graph) Close() { g.waitLinks() }

// rebuild builds the index from the stored records and links: entries
// are bulk-loaded into the shards and sorted once (see shard).
func (g *Graph) rebuild() error {
	var hashes []typedHash
	err := g.store.ScanPersons(func(id string, value []byte) error {
		var companyOnly bool
		var err error
		hashes, companyOnly, err = scanStored(value, hashes[:0])
		if err != nil {
			return fmt.Errorf("decode person %s: %w", id, err)
		}
		ord := g.newOrdinal(id, companyOnly)
		g.known.add(id)
		for _, th := range hashes {
			if indexed(th.t, companyOnly) {
				g.shards[th.h>>56].load(th.h, ord)
			}
		}
		g.persons.Add(1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("identity: load graph: %w", err)
	}
	// A learned link gets an ordinal of its own for its person: no map
	// from ten million person ids to ordinals is built for a few links.
	err = g.store.ScanLinks(func(tenant, vid, personID string) error {
		h := linkHash(tenant, vid)
		g.shards[h>>56].load(h, g.newOrdinal(personID, false))
		g.links.Add(1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("identity: load learned links: %w", err)
	}
	for i := range g.shards {
		g.shards[i].seal()
	}
	return nil
}

func (g *Graph) newOrdinal(id string, companyOnly bool) uint32 {
	ord := g.ids.add(unsafe.Slice(unsafe.StringData(id), len(id)))
	if companyOnly {
		ord |= companyFlag
	}
	return ord
}

func (g *Graph) personID(ord uint32) string { return g.ids.get(ord &^ companyFlag) }

// indexed reports whether an identifier type is put into the index. A
// person's IP is kept in the record but not indexed: an IP alone never
// identifies a person. A company-only record's IPs are indexed.
func indexed(t Type, companyOnly bool) bool { return t != TypeIP || companyOnly }

func (g *Graph) indexRecord(ord uint32, rec *Record) {
	for _, id := range rec.Identifiers {
		if indexed(id.Type, ord&companyFlag != 0) {
			g.put(id.Hash(), ord)
		}
	}
}

func (g *Graph) put(h uint64, ord uint32) { g.shards[h>>56].put(h, ord) }

// drop removes h from the index if it still points to ord.
func (g *Graph) drop(h uint64, ord uint32) { g.shards[h>>56].drop(h, ord) }

func (g *Graph) get(h uint64) (uint32, bool) { return g.shards[h>>56].get(h) }

// Stats counts what the graph holds.
type GraphStats struct {
	Persons      int64 `json:"persons"`       // person and company-only records
	LearnedLinks int64 `json:"learned_links"` // visitor → person links learned from visits
	IndexEntries int64 `json:"index_entries"` // identifiers in the in-memory index
}

// Stats returns the graph's counts.
func (g *Graph) Stats() GraphStats {
	var n int64
	for i := range g.shards {
		n += int64(g.shards[i].len())
	}
	return GraphStats{Persons: g.persons.Load(), LearnedLinks: g.links.Load(), IndexEntries: n}
}

// ShardLen is the number of index entries in shard i (0 ≤ i < NumShards):
// the unit a cluster moves between nodes.
func (g *Graph) ShardLen(i int) int { return g.shards[i].len() }

// ShardPersons lists the ids of the persons (and company-only records)
// with at least one identifier in shard i, sorted: what a node that takes
// over shard i must copy. Learned links count for their person.
func (g *Graph) ShardPersons(i int) []string {
	ords := g.shards[i].ordinals()
	out := make([]string, 0, len(ords))
	for _, o := range ords {
		out = append(out, g.personID(o))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
