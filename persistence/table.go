package persistence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// table is one kind of configuration record, held in memory and written
// through to badger under prefix. Writes are serialised by mu and synced
// to disk before the in-memory copy changes, so a reader never sees a
// record that a crash could take back.
//
// Records handed out are copies down to their slices and maps (clone), so a
// caller that changes one does not change the store; updates go through
// update.
//
// Every row has a Version (under prefixConfigVersion, written in the same
// transaction as the row; rows of older data dirs have none and read as
// the zero Version) and every deletion leaves a tombstone with the
// deletion's version (prefixConfigTomb): see replica.go. Local writes
// (create, update, remove) stamp a new version from clock and are passed
// to hook; apply writes a remote change when it is newer than the row or
// tombstone of its id.
type table[T any] struct {
	db     *badger.DB
	prefix string
	kind   string // Change.Kind of the records
	id     func(*T) string
	// clone returns a copy of a record that shares no slice, map or
	// pointer with it.
	clone func(*T) T
	clock *Clock
	hook  *changeHook

	// index, when set, names a unique secondary key of a record (a site's
	// public key, a tenant's API key hash); byIndex maps it to the id.
	//
	// Local writes never give two records one key (ErrConflict), but two
	// nodes may each give the key to a different record at the same time.
	// Then both records are kept and the key belongs to the one whose
	// version is newer (on equal versions, which only records of older
	// data dirs have, the greater id): the other is not found by the key
	// (shadow) until the owner is deleted or moves to another key. This
	// depends only on the records held, so every node ends with the same
	// index whatever the order the writes arrived in; a later write of
	// the shadowed record (its version then newer) takes the key back.
	index func(*T) string
	// seal, when set, returns the form of a record to store and send to
	// other nodes (its secrets sealed: secretbox.go); unseal turns a stored
	// or received record back into the clear, in place.
	seal   func(*T) *T
	unseal func(*T) error

	mu      sync.RWMutex // guards the maps below, serialises writes
	rows    map[string]*T
	raw     map[string][]byte  // id → the row's JSON as stored (Snapshot)
	vers    map[string]Version // id → the row's version; absent = zero
	tombs   map[string]Version // deleted id → the deletion's version
	byIndex map[string]string
	shadow  map[string]map[string]struct{} // secondary key → ids of the other rows that have it
}

func newTable[T any](db *badger.DB, prefix, kind string, clock *Clock, hook *changeHook, id, index func(*T) string, clone func(*T) T,
	seal func(*T) *T, unseal func(*T) error) (*table[T], error) {
	t := &table[T]{db: db, prefix: prefix, kind: kind, clock: clock, hook: hook, id: id, index: index, clone: clone,
		seal: seal, unseal: unseal,
		rows: map[string]*T{}, raw: map[string][]byte{}, vers: map[string]Version{}, tombs: map[string]Version{},
		byIndex: map[string]string{}, shadow: map[string]map[string]struct{}{}}
	err := db.View(func(txn *badger.Txn) error {
		versions := func(prefix string, into map[string]Version) error {
			return scanPrefix(txn, prefix, func(k, v []byte) error {
				ver, err := decodeVersion(v)
				if err != nil {
					return fmt.Errorf("%s%s: %w", prefix, k, err)
				}
				into[string(k)] = ver
				clock.Observe(ver)
				return nil
			})
		}
		if err := versions(prefixConfigVersion+prefix, t.vers); err != nil {
			return err
		}
		if err := versions(prefixConfigTomb+prefix, t.tombs); err != nil {
			return err
		}
		return scanPrefix(txn, prefix, func(k, v []byte) error {
			rec := new(T)
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("decode %s%s: %w", prefix, k, err)
			}
			if unseal != nil {
				if err := unseal(rec); err != nil {
					return fmt.Errorf("decode %s%s: %w", prefix, k, err)
				}
			}
			rid := id(rec)
			t.rows[rid], t.raw[rid] = rec, bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", prefix, err)
	}
	// Rows and their versions and tombstones are written together, so
	// these never disagree; should they, the row stands.
	for rid := range t.vers {
		if _, ok := t.rows[rid]; !ok {
			delete(t.vers, rid)
		}
	}
	ids := make([]string, 0, len(t.rows))
	for rid := range t.rows {
		delete(t.tombs, rid)
		ids = append(ids, rid)
	}
	slices.Sort(ids)
	for _, rid := range ids {
		t.indexAdd(rid, t.rows[rid])
	}
	return t, nil
}

// scanPrefix calls fn with the key (without prefix) and value of every
// item under prefix. Both are only valid during the call.
func scanPrefix(txn *badger.Txn, prefix string, fn func(k, v []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(prefix)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()[len(prefix):]
		if err := item.Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
		}
	}
	return nil
}

// get returns a copy of the record with id.
func (t *table[T]) get(id string) (T, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.rows[id]
	if !ok {
		var zero T
		return zero, false
	}
	return t.clone(r), true
}

// list returns copies of the records that keep accepts (all when nil),
// ordered by id (creation order for our ULID-based ids).
func (t *table[T]) list(keep func(*T) bool) []T {
	t.mu.RLock()
	ids := make([]string, 0, len(t.rows))
	for id, r := range t.rows {
		if keep == nil || keep(r) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		out = append(out, t.clone(t.rows[id]))
	}
	t.mu.RUnlock()
	return out
}

// create stores rec, which must have a new id.
func (t *table[T]) create(rec T) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.id(&rec)
	if _, ok := t.rows[id]; ok {
		return fmt.Errorf("%s%s exists: %w", t.prefix, id, firehook.ErrConflict)
	}
	if t.index != nil {
		if _, ok := t.byIndex[t.index(&rec)]; ok {
			return fmt.Errorf("%s%s: secondary key exists: %w", t.prefix, id, firehook.ErrConflict)
		}
	}
	// Newer than a tombstone of the id, should the id come back.
	_, err := t.put(nil, &rec, t.clock.After(t.tombs[id]), true)
	return err
}

// update applies fn to a deep copy of the record with id and stores the
// result. When fn returns an error nothing changes and update returns it.
func (t *table[T]) update(id string, fn func(*T) error) (T, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var zero T
	old, ok := t.rows[id]
	if !ok {
		return zero, fmt.Errorf("%s%s: %w", t.prefix, id, firehook.ErrNotFound)
	}
	rec, err := deepCopy(old)
	if err != nil {
		return zero, err
	}
	if err := fn(rec); err != nil {
		return zero, err
	}
	if t.id(rec) != id {
		return zero, fmt.Errorf("%s%s: id cannot change: %w", t.prefix, id, firehook.ErrInvalid)
	}
	if t.index != nil && t.index(rec) != t.index(old) {
		if _, ok := t.byIndex[t.index(rec)]; ok {
			return zero, fmt.Errorf("%s%s: secondary key exists: %w", t.prefix, id, firehook.ErrConflict)
		}
	}
	stored, err := t.put(old, rec, t.clock.After(t.vers[id]), true)
	if err != nil {
		return zero, err
	}
	return t.clone(stored), nil
}

// remove deletes the record with id.
func (t *table[T]) remove(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.rows[id]
	if !ok {
		return fmt.Errorf("%s%s: %w", t.prefix, id, firehook.ErrNotFound)
	}
	return t.del(id, old, t.clock.After(t.vers[id]), true)
}

// apply writes a remote change when it is newer than the row or tombstone
// of its id, and reports whether it did; see ConfigStore.Apply.
func (t *table[T]) apply(ch Change) (bool, error) {
	if ch.ID == "" {
		return false, fmt.Errorf("apply %s change: no id: %w", t.kind, firehook.ErrInvalid)
	}
	t.clock.Observe(ch.Version)
	// Most changes of a periodic snapshot exchange are known already:
	// refuse those under the read lock, before decoding anything.
	t.mu.RLock()
	cur, ok := t.version(ch.ID)
	t.mu.RUnlock()
	if ok && !cur.Less(ch.Version) {
		return false, nil
	}
	var rec *T
	if !ch.Deleted {
		rec = new(T)
		if err := json.Unmarshal(ch.Value, rec); err != nil {
			return false, fmt.Errorf("apply %s %s: %w: %w", t.kind, ch.ID, firehook.ErrInvalid, err)
		}
		if t.unseal != nil {
			if err := t.unseal(rec); err != nil {
				return false, fmt.Errorf("apply %s %s: %w", t.kind, ch.ID, err)
			}
		}
		if got := t.id(rec); got != ch.ID {
			return false, fmt.Errorf("apply %s %s: the value is of %q: %w", t.kind, ch.ID, got, firehook.ErrInvalid)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.version(ch.ID); ok && !cur.Less(ch.Version) {
		return false, nil // older, or this very change again
	}
	old := t.rows[ch.ID]
	if ch.Deleted {
		return true, t.del(ch.ID, old, ch.Version, false)
	}
	_, err := t.put(old, rec, ch.Version, false)
	return err == nil, err
}

// version returns the version of id's row or tombstone, and whether there
// is either. Caller holds mu.
func (t *table[T]) version(id string) (Version, bool) {
	if _, ok := t.rows[id]; ok {
		return t.vers[id], true
	}
	v, ok := t.tombs[id]
	return v, ok
}

// snapshot appends every row and tombstone, with its version, in id order.
func (t *table[T]) snapshot(out []Change) []Change {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids := make([]string, 0, len(t.rows)+len(t.tombs))
	for id := range t.rows {
		ids = append(ids, id)
	}
	for id := range t.tombs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, ok := t.rows[id]; ok {
			out = append(out, Change{Kind: t.kind, ID: id, Version: t.vers[id], Value: t.raw[id]})
		} else {
			out = append(out, Change{Kind: t.kind, ID: id, Version: t.tombs[id], Deleted: true})
		}
	}
	return out
}

func (t *table[T]) rowKey(id string) []byte     { return []byte(t.prefix + id) }
func (t *table[T]) versionKey(id string) []byte { return []byte(prefixConfigVersion + t.prefix + id) }
func (t *table[T]) tombKey(id string) []byte    { return []byte(prefixConfigTomb + t.prefix + id) }

// put writes rec with version v durably, then makes it visible and, for a
// local write, tells the hook. The record kept is rec as read back from
// its JSON, as a reopened store or another node has it. Caller holds mu.
func (t *table[T]) put(old, rec *T, v Version, local bool) (*T, error) {
	id := t.id(rec)
	toStore := rec
	if t.seal != nil {
		toStore = t.seal(rec)
	}
	val, err := json.Marshal(toStore)
	if err != nil {
		return nil, fmt.Errorf("encode %s%s: %w", t.prefix, id, err)
	}
	stored := new(T)
	if err := json.Unmarshal(val, stored); err != nil {
		return nil, fmt.Errorf("encode %s%s: %w", t.prefix, id, err)
	}
	if t.unseal != nil {
		if err := t.unseal(stored); err != nil {
			return nil, fmt.Errorf("encode %s%s: %w", t.prefix, id, err)
		}
	}
	_, tomb := t.tombs[id]
	err = t.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(t.rowKey(id), val); err != nil {
			return err
		}
		if err := txn.Set(t.versionKey(id), encodeVersion(v)); err != nil {
			return err
		}
		if tomb {
			return txn.Delete(t.tombKey(id))
		}
		return nil
	})
	if err == nil {
		err = t.db.Sync()
	}
	if err != nil {
		return nil, fmt.Errorf("write %s%s: %w", t.prefix, id, err)
	}
	if old != nil {
		t.indexRemove(id, old)
	}
	t.rows[id], t.raw[id], t.vers[id] = stored, val, v
	delete(t.tombs, id)
	t.indexAdd(id, stored)
	if local {
		t.hook.call(Change{Kind: t.kind, ID: id, Version: v, Value: val})
	}
	return stored, nil
}

// del deletes id's row (old; nil when there is none) durably, leaving a
// tombstone of version v, then makes the deletion visible and, for a local
// one, tells the hook. Caller holds mu.
func (t *table[T]) del(id string, old *T, v Version, local bool) error {
	err := t.db.Update(func(txn *badger.Txn) error {
		if old != nil {
			if err := txn.Delete(t.rowKey(id)); err != nil {
				return err
			}
			if err := txn.Delete(t.versionKey(id)); err != nil {
				return err
			}
		}
		return txn.Set(t.tombKey(id), encodeVersion(v))
	})
	if err == nil {
		err = t.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("delete %s%s: %w", t.prefix, id, err)
	}
	if old != nil {
		t.indexRemove(id, old)
	}
	delete(t.rows, id)
	delete(t.raw, id)
	delete(t.vers, id)
	t.tombs[id] = v
	if local {
		t.hook.call(Change{Kind: t.kind, ID: id, Version: v, Deleted: true})
	}
	return nil
}

// outranks reports whether row a keeps a secondary key that row b has
// too: the newer version, then the greater id. Caller holds mu.
func (t *table[T]) outranks(a, b string) bool {
	if c := t.vers[a].Compare(t.vers[b]); c != 0 {
		return c > 0
	}
	return a > b
}

// indexAdd indexes rec, the row of id, under its secondary key (none when
// empty). Caller holds mu and has set id's version.
func (t *table[T]) indexAdd(id string, rec *T) {
	if t.index == nil {
		return
	}
	k := t.index(rec)
	if k == "" {
		return
	}
	cur, ok := t.byIndex[k]
	switch {
	case !ok || cur == id:
		t.byIndex[k] = id
	case t.outranks(id, cur):
		t.byIndex[k] = id
		t.shade(k, cur)
	default:
		t.shade(k, id)
	}
}

// indexRemove takes rec, the row of id, out of the index; when it held its
// key, the best-ranked other row with the key takes it. Caller holds mu.
func (t *table[T]) indexRemove(id string, rec *T) {
	if t.index == nil {
		return
	}
	k := t.index(rec)
	if k == "" {
		return
	}
	if t.byIndex[k] != id {
		t.unshade(k, id)
		return
	}
	delete(t.byIndex, k)
	best := ""
	for s := range t.shadow[k] {
		if best == "" || t.outranks(s, best) {
			best = s
		}
	}
	if best != "" {
		t.unshade(k, best)
		t.byIndex[k] = best
	}
}

func (t *table[T]) shade(k, id string) {
	s := t.shadow[k]
	if s == nil {
		s = map[string]struct{}{}
		t.shadow[k] = s
	}
	s[id] = struct{}{}
}

func (t *table[T]) unshade(k, id string) {
	if s := t.shadow[k]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(t.shadow, k)
		}
	}
}

// getByIndex returns a copy of the record whose secondary key is k.
func (t *table[T]) getByIndex(k string) (T, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if id, ok := t.byIndex[k]; ok {
		return t.clone(t.rows[id]), true
	}
	var zero T
	return zero, false
}

func deepCopy[T any](r *T) (*T, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("copy record: %w", err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("copy record: %w", err)
	}
	return out, nil
}

// sealStored rewrites sealed, with their versions, the rows stored in
// the clear (isSealed tells a stored record's form): a store opened with
// a secret key for the first time seals what it holds.
func (t *table[T]) sealStored(isSealed func(*T) bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, raw := range t.raw {
		rec := new(T)
		if err := json.Unmarshal(raw, rec); err != nil {
			return fmt.Errorf("seal %s%s: %w", t.prefix, id, err)
		}
		if isSealed(rec) {
			continue
		}
		if _, err := t.put(t.rows[id], t.rows[id], t.vers[id], false); err != nil {
			return fmt.Errorf("seal %s%s: %w", t.prefix, id, err)
		}
	}
	return nil
}
