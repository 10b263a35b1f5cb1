package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// VisitorRecord is what a visitor actor persists: the event log sequence
// of the last event it applied, and its session state (encoded by package
// actors/visitor).
type VisitorRecord struct {
	// Seq is the log sequence of the last event applied to State. An event
	// at or below it is a replay and must not be applied again.
	Seq   uint64
	State []byte
}

func visitorKey(tenantID, visitorID string) []byte {
	return []byte(prefixVisitor + tenantID + "/" + visitorID)
}

// visitorBuffer holds the visitor states put since the last checkpoint:
// the visitor actors' derived state is written to badger in one batch per
// checkpoint (MarkProcessed), not once per event.
type visitorBuffer struct {
	mu       sync.Mutex
	dirty    map[string][]byte // key → encoded record, put since the last swap
	flushing map[string][]byte // the batch a checkpoint is writing; read until it is in badger
	// flushMu serialises checkpoints, so that one batch is in flight at a time.
	flushMu sync.Mutex
}

func (b *visitorBuffer) get(key string) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.dirty[key]; ok {
		return v, true
	}
	v, ok := b.flushing[key]
	return v, ok
}

func (b *visitorBuffer) put(key string, v []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dirty == nil {
		b.dirty = make(map[string][]byte)
	}
	b.dirty[key] = v
}

// flush writes every state put so far to db in one write batch, without
// an fsync (the checkpoint's fsync follows), and stops serving them from
// memory once they are in badger.
func (b *visitorBuffer) flush(db *badger.DB) error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	batch := b.dirty
	b.flushing, b.dirty = batch, nil
	b.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for k, v := range batch {
		if err := wb.Set([]byte(k), v); err != nil {
			return b.restore(batch, fmt.Errorf("write visitor states: %w", err))
		}
	}
	if err := wb.Flush(); err != nil {
		return b.restore(batch, fmt.Errorf("write visitor states: %w", err))
	}
	b.mu.Lock()
	b.flushing = nil
	b.mu.Unlock()
	return nil
}

// restore puts a batch that could not be written back under the states
// put since (newer ones win), for the next checkpoint.
func (b *visitorBuffer) restore(batch map[string][]byte, err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, v := range b.dirty {
		batch[k] = v
	}
	b.dirty, b.flushing = batch, nil
	return err
}

// Visitor reads the record of (tenantID, visitorID): the one put last,
// from memory when the next checkpoint has not written it yet; ok is
// false when the visitor was never seen.
func (s *Store) Visitor(tenantID, visitorID string) (rec VisitorRecord, ok bool, err error) {
	key := visitorKey(tenantID, visitorID)
	if v, found := s.visitors.get(string(key)); found {
		return decodeVisitor(v)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			rec, ok, err = decodeVisitor(v)
			return err
		})
	})
	if err != nil {
		return VisitorRecord{}, false, fmt.Errorf("read visitor %s/%s: %w", tenantID, visitorID, err)
	}
	return rec, ok, nil
}

func decodeVisitor(v []byte) (VisitorRecord, bool, error) {
	if len(v) < 8 {
		return VisitorRecord{}, false, fmt.Errorf("malformed visitor record (%d bytes)", len(v))
	}
	return VisitorRecord{Seq: binary.BigEndian.Uint64(v), State: append([]byte(nil), v[8:]...)}, true, nil
}

// PutVisitor stores the record of (tenantID, visitorID). It is kept in
// memory (Visitor reads it back) and written to badger with the others
// at the next checkpoint (MarkProcessed), whose fsync makes it durable:
// the visitor's state is derived from the event log, and a crash before
// the checkpoint replays the events after the previous mark onto the
// older record — which is why the record carries Seq.
func (s *Store) PutVisitor(tenantID, visitorID string, rec VisitorRecord) error {
	v := make([]byte, 8, 8+len(rec.State))
	binary.BigEndian.PutUint64(v, rec.Seq)
	v = append(v, rec.State...)
	s.visitors.put(string(visitorKey(tenantID, visitorID)), v)
	return nil
}
