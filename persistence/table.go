package persistence

import (
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
type table[T any] struct {
	db     *badger.DB
	prefix string
	id     func(*T) string
	// clone returns a copy of a record that shares no slice, map or
	// pointer with it.
	clone func(*T) T

	// index, when set, names a unique secondary key of a record (a site's
	// public key, a tenant's API key hash); byIndex maps it to the id.
	index func(*T) string

	mu      sync.RWMutex // guards rows and byIndex, serialises writes
	rows    map[string]*T
	byIndex map[string]string
}

func newTable[T any](db *badger.DB, prefix string, id, index func(*T) string, clone func(*T) T) (*table[T], error) {
	t := &table[T]{db: db, prefix: prefix, id: id, index: index, clone: clone, rows: map[string]*T{}, byIndex: map[string]string{}}
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			rec := new(T)
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, rec) }); err != nil {
				return fmt.Errorf("decode %s: %w", it.Item().Key(), err)
			}
			t.rows[id(rec)] = rec
			t.reindex(nil, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", prefix, err)
	}
	return t, nil
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
	rec = t.clone(&rec) // keep nothing the caller still holds
	return t.put(nil, &rec)
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
	if err := t.put(old, rec); err != nil {
		return zero, err
	}
	return t.clone(rec), nil
}

// remove deletes the record with id.
func (t *table[T]) remove(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.rows[id]
	if !ok {
		return fmt.Errorf("%s%s: %w", t.prefix, id, firehook.ErrNotFound)
	}
	err := t.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(t.prefix + id)) })
	if err == nil {
		err = t.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("delete %s%s: %w", t.prefix, id, err)
	}
	delete(t.rows, id)
	t.reindex(old, nil)
	return nil
}

// put writes rec durably, then makes it visible. Caller holds mu.
func (t *table[T]) put(old, rec *T) error {
	id := t.id(rec)
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode %s%s: %w", t.prefix, id, err)
	}
	err = t.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(t.prefix+id), val) })
	if err == nil {
		err = t.db.Sync()
	}
	if err != nil {
		return fmt.Errorf("write %s%s: %w", t.prefix, id, err)
	}
	t.rows[id] = rec
	t.reindex(old, rec)
	return nil
}

// reindex moves the secondary index from old to rec. Caller holds mu.
func (t *table[T]) reindex(old, rec *T) {
	if t.index == nil {
		return
	}
	if old != nil {
		delete(t.byIndex, t.index(old))
	}
	if rec != nil {
		if k := t.index(rec); k != "" {
			t.byIndex[k] = t.id(rec)
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
