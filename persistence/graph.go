package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// GraphStore persists the identity graph: person records, learned links
// and suppression lists. Values are opaque bytes encoded by package
// identity; this type only knows keys. Writes do not fsync on their own:
// callers decide when to Sync (an import syncs once at its end, an erasure
// at once).
type GraphStore struct {
	db      *badger.DB
	clock   *Clock
	linkTTL time.Duration // Config.LinkRetention; ≤ 0: links do not expire
}

// Graph returns the graph storage of the store.
func (s *Store) Graph() *GraphStore {
	return &GraphStore{db: s.graphDB, clock: s.clock, linkTTL: s.linkTTL}
}

// Clock is the node's clock (Store.Clock), which stamps the versions of
// the suppression entries.
func (g *GraphStore) Clock() *Clock { return g.clock }

// Sync makes every graph write so far durable.
func (g *GraphStore) Sync() error {
	if err := g.db.Sync(); err != nil {
		return fmt.Errorf("graph: sync: %w", err)
	}
	return nil
}

// Persons reads the records of ids; missing ids are absent from the map.
func (g *GraphStore) Persons(ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	err := g.db.View(func(txn *badger.Txn) error {
		for _, id := range ids {
			it, err := txn.Get([]byte(prefixPerson + id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if out[id], err = it.ValueCopy(nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("graph: read persons: %w", err)
	}
	return out, nil
}

// Person reads one person record.
func (g *GraphStore) Person(id string) ([]byte, bool, error) {
	m, err := g.Persons([]string{id})
	if err != nil {
		return nil, false, err
	}
	v, ok := m[id]
	return v, ok, nil
}

// PersonWrite is one change of a person record: Value nil deletes it.
type PersonWrite struct {
	ID    string
	Value []byte
}

// WritePersons applies writes in one batch (large batches are split by
// badger; a crash may leave a prefix applied, which re-running the same
// import repairs, as writes are upserts).
func (g *GraphStore) WritePersons(writes []PersonWrite) error {
	wb := g.db.NewWriteBatch()
	defer wb.Cancel()
	for _, w := range writes {
		var err error
		if w.Value == nil {
			err = wb.Delete([]byte(prefixPerson + w.ID))
		} else {
			err = wb.Set([]byte(prefixPerson+w.ID), w.Value)
		}
		if err != nil {
			return fmt.Errorf("graph: write person %s: %w", w.ID, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("graph: write persons: %w", err)
	}
	return nil
}

// ScanPersons calls fn for every person record in id order. The value is
// only valid during the call.
func (g *GraphStore) ScanPersons(fn func(id string, value []byte) error) error {
	return g.scan(prefixPerson, true, func(k, v []byte) error { return fn(string(k), v) })
}

// PutLink stores a learned link: visitor vid of tenant is personID. When
// the link belonged to previous (another person), previous's reverse
// entry is removed, so erasing previous leaves the link alone.
func (g *GraphStore) PutLink(tenant, vid, personID, previous string) error {
	if err := g.db.Update(func(txn *badger.Txn) error {
		return setLink(txn, g.expiry(time.Now()), tenant, vid, personID, previous)
	}); err != nil {
		return fmt.Errorf("graph: put link: %w", err)
	}
	return nil
}

// LinkWrite is a learned link written without waiting for the commit
// (see NewLinkWrite).
type LinkWrite struct {
	txn *badger.Txn
	exp uint64 // the link's expiry (unix s; 0: none)
}

// NewLinkWrite starts the write of one learned link. Starting it may wait
// for badger's commits in flight (a new transaction reads at a timestamp
// they must have reached), so start it before taking a lock that orders
// the links, and Commit under that lock; Discard it when not needed.
func (g *GraphStore) NewLinkWrite() *LinkWrite {
	return &LinkWrite{txn: g.db.NewTransaction(true), exp: g.expiry(time.Now())}
}

// Discard drops a LinkWrite that was not committed.
func (w *LinkWrite) Discard() { w.txn.Discard() }

// Commit is PutLink without waiting for the commit: it hands the
// transaction to badger's writer and returns; done is called (on another
// goroutine) with the outcome. Links committed this way are applied in
// the order of the Commit calls. Like every graph write they are made
// durable by a later Sync (or the next fsync of the database).
func (w *LinkWrite) Commit(tenant, vid, personID, previous string, done func(error)) {
	if err := setLink(w.txn, w.exp, tenant, vid, personID, previous); err != nil {
		w.txn.Discard()
		done(fmt.Errorf("graph: put link: %w", err))
		return
	}
	w.txn.CommitWith(func(err error) {
		if err != nil {
			err = fmt.Errorf("graph: put link: %w", err)
		}
		done(err)
	})
}

func setLink(txn *badger.Txn, exp uint64, tenant, vid, personID, previous string) error {
	set := func(k, v []byte) error { return txn.SetEntry(withExpiry(badger.NewEntry(k, v), exp)) }
	if err := set(linkKey(tenant, vid), []byte(personID)); err != nil {
		return err
	}
	if previous != "" && previous != personID {
		if err := txn.Delete(reverseLinkKey(previous, tenant, vid)); err != nil {
			return err
		}
	}
	if err := set(reverseLinkKey(personID, tenant, vid), nil); err != nil {
		return err
	}
	if exp != 0 {
		return txn.Set(linkExpiryKey(exp, tenant, vid), []byte(personID))
	}
	return nil
}

func linkKey(tenant, vid string) []byte { return []byte(prefixLink + tenant + "/" + vid) }

// DeleteLinks removes every learned link to personID and returns them as
// (tenant, vid) pairs.
func (g *GraphStore) DeleteLinks(personID string) ([][2]string, error) {
	var links [][2]string
	var keys [][]byte
	prefix := prefixLinkReverse + personID + "/"
	err := g.scan(prefix, false, func(k, _ []byte) error {
		tenant, vid, ok := strings.Cut(string(k), "/")
		if !ok {
			return fmt.Errorf("malformed link key %q", k)
		}
		links = append(links, [2]string{tenant, vid})
		keys = append(keys, append([]byte(prefix), k...), linkKey(tenant, vid))
		return nil
	})
	if err != nil {
		return nil, err
	}
	wb := g.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return nil, fmt.Errorf("graph: delete link: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return nil, fmt.Errorf("graph: delete links: %w", err)
	}
	return links, nil
}

// ScanLinks calls fn for every learned link.
func (g *GraphStore) ScanLinks(fn func(tenant, vid, personID string) error) error {
	return g.scan(prefixLink, true, func(k, v []byte) error {
		tenant, vid, ok := strings.Cut(string(k), "/")
		if !ok {
			return fmt.Errorf("malformed link key %q", k)
		}
		return fn(tenant, vid, string(v))
	})
}

// SuppressionWrite is one versioned write of a suppression entry: the
// entry is on its list, or it was removed (a tombstone, which a write of
// an older version must not undo). See package identity's Suppressions.
type SuppressionWrite struct {
	Scope, Kind, Value string
	Version            Version
	Removed            bool
	// Replaces says that the entry has a key of the other state to delete:
	// its tombstone when it is added, its entry when it is removed. When
	// it is false none is deleted (a deletion would leave a marker in
	// badger all the same).
	Replaces bool
}

// WriteSuppressions stores writes in write batches (any number) and syncs.
// An entry is under prefixSuppression with its version, a removed one
// under prefixSuppressionTomb; each write stores its key before it
// deletes the entry's other key (see Replaces), so that a crash half-way
// leaves, for each entry, its old state, its new one, or both keys, of
// which ScanSuppressionVersions reads the newer (and the entry's next
// write overwrites one and deletes the other).
func (g *GraphStore) WriteSuppressions(writes []SuppressionWrite) error {
	wb := g.db.NewWriteBatch()
	defer wb.Cancel()
	var err error
	for _, w := range writes {
		key := w.Scope + "/" + w.Kind + "/" + w.Value
		set, del := prefixSuppression+key, prefixSuppressionTomb+key
		if w.Removed {
			set, del = del, set
		}
		if err = wb.Set([]byte(set), encodeVersion(w.Version)); err != nil {
			break
		}
		if !w.Replaces {
			continue
		}
		if err = wb.Delete([]byte(del)); err != nil {
			break
		}
	}
	if err == nil {
		err = wb.Flush()
	}
	if err == nil {
		err = g.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("graph: write suppressions: %w", err)
	}
	return nil
}

// ScanSuppressionVersions calls fn for every suppression entry and every
// tombstone of one, with its version (the zero Version for entries of
// older data dirs), in no particular order. When a crash left both keys of
// an entry (see WriteSuppressions), only the newer is passed (the entry,
// on equal versions).
func (g *GraphStore) ScanSuppressionVersions(fn func(w SuppressionWrite) error) error {
	type entry struct{ scope, kind, value string }
	parse := func(k []byte) (entry, error) {
		parts := strings.SplitN(string(k), "/", 3)
		if len(parts) != 3 {
			return entry{}, fmt.Errorf("malformed suppression key %q", k)
		}
		return entry{parts[0], parts[1], parts[2]}, nil
	}
	// Read the tombstones first (the caller holds them in memory anyway),
	// then pass each entry, or the tombstone that is newer than it, as the
	// entries stream by.
	tombs := map[entry]Version{}
	err := g.scan(prefixSuppressionTomb, true, func(k, v []byte) error {
		e, err := parse(k)
		if err != nil {
			return err
		}
		if tombs[e], err = decodeVersion(v); err != nil {
			return fmt.Errorf("suppression tombstone %q: %w", k, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = g.scan(prefixSuppression, true, func(k, v []byte) error {
		e, err := parse(k)
		if err != nil {
			return err
		}
		ver, err := decodeVersion(v)
		if err != nil {
			return fmt.Errorf("suppression %q: %w", k, err)
		}
		if tv, ok := tombs[e]; ok {
			delete(tombs, e)
			if ver.Less(tv) {
				return fn(SuppressionWrite{Scope: e.scope, Kind: e.kind, Value: e.value, Version: tv, Removed: true})
			}
		}
		return fn(SuppressionWrite{Scope: e.scope, Kind: e.kind, Value: e.value, Version: ver})
	})
	if err != nil {
		return err
	}
	for e, v := range tombs {
		if err := fn(SuppressionWrite{Scope: e.scope, Kind: e.kind, Value: e.value, Version: v, Removed: true}); err != nil {
			return err
		}
	}
	return nil
}

// ScanSuppressions calls fn for every suppression entry.
func (g *GraphStore) ScanSuppressions(fn func(scope, kind, value string) error) error {
	return g.scan(prefixSuppression, false, func(k, _ []byte) error {
		parts := strings.SplitN(string(k), "/", 3)
		if len(parts) != 3 {
			return fmt.Errorf("malformed suppression key %q", k)
		}
		return fn(parts[0], parts[1], parts[2])
	})
}

// scan iterates the keys under prefix, calling fn with the key without
// the prefix (and the value when values is set).
func (g *GraphStore) scan(prefix string, values bool, fn func(k, v []byte) error) error {
	err := g.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefix)
		opts.PrefetchValues = values
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := bytes.TrimPrefix(item.Key(), []byte(prefix))
			if !values {
				if err := fn(k, nil); err != nil {
					return err
				}
				continue
			}
			if err := item.Value(func(v []byte) error { return fn(k, v) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("graph: scan %s: %w", prefix, err)
	}
	return nil
}

// metaGraphGen is the generation of the graph's contents that an index
// snapshot must match (see identity's snapshot).
const metaGraphGen = prefixMeta + "graph_generation"

// GraphGeneration returns the stored generation of the graph (0 when none
// was ever stored).
func (g *GraphStore) GraphGeneration() (uint64, error) {
	var gen uint64
	err := g.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(metaGraphGen))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("malformed graph generation")
			}
			gen = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("graph: read generation: %w", err)
	}
	return gen, nil
}

// SetGraphGeneration stores gen durably.
func (g *GraphStore) SetGraphGeneration(gen uint64) error {
	v := binary.BigEndian.AppendUint64(nil, gen)
	err := g.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(metaGraphGen), v) })
	if err == nil {
		err = g.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("graph: store generation: %w", err)
	}
	return nil
}
