package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"

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

// Visitor reads the record of (tenantID, visitorID); ok is false when the
// visitor was never seen.
func (s *Store) Visitor(tenantID, visitorID string) (rec VisitorRecord, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(visitorKey(tenantID, visitorID))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) < 8 {
				return fmt.Errorf("malformed visitor record (%d bytes)", len(v))
			}
			rec = VisitorRecord{Seq: binary.BigEndian.Uint64(v), State: append([]byte(nil), v[8:]...)}
			ok = true
			return nil
		})
	})
	if err != nil {
		return VisitorRecord{}, false, fmt.Errorf("read visitor %s/%s: %w", tenantID, visitorID, err)
	}
	return rec, ok, nil
}

// PutVisitor stores the record of (tenantID, visitorID). It does not wait
// for an fsync: the visitor stage's processed-up-to mark (MarkProcessed)
// is written after it and synced, and an fsync makes every earlier write
// durable too. Until then a crash loses the record, and the events after
// the mark are applied again from the log to the older record — which is
// why the record carries Seq.
func (s *Store) PutVisitor(tenantID, visitorID string, rec VisitorRecord) error {
	v := make([]byte, 8, 8+len(rec.State))
	binary.BigEndian.PutUint64(v, rec.Seq)
	v = append(v, rec.State...)
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(visitorKey(tenantID, visitorID), v)
	}); err != nil {
		return fmt.Errorf("store visitor %s/%s: %w", tenantID, visitorID, err)
	}
	return nil
}
