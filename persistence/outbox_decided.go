package persistence

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Dispatched is the stored dispatch decision of one event: which (tenant,
// person) it was decided for, as what type and sequence.
type Dispatched struct {
	Type      string // firehook.EventIdentified or firehook.EventUpdated
	Sequence  uint64
	PersonKey string // firehook.PersonKey(tenant, person)
}

// Decided returns the stored decisions of the events named in eventIDs
// that were dispatched (matched to a person and decided by Store.Dispatch),
// by event id, read in one snapshot. Events that matched nobody, were
// suppressed or are not processed yet are absent. Decisions are never
// deleted, so an event's answer does not change once present.
func (o *Outbox) Decided(eventIDs []string) (map[string]Dispatched, error) {
	out := make(map[string]Dispatched, len(eventIDs))
	err := o.db.View(func(txn *badger.Txn) error {
		for _, id := range eventIDs {
			it, err := txn.Get([]byte(prefixDispatched + id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			var rec dispatchRecord
			if err := it.Value(func(v []byte) error { return decodeDispatchRecord(v, &rec) }); err != nil {
				return fmt.Errorf("decode dispatch record of %s: %w", id, err)
			}
			out[id] = Dispatched{Type: rec.Type, Sequence: rec.Sequence, PersonKey: rec.PersonKey}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: decided: %w", err)
	}
	return out, nil
}
