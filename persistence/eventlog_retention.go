package persistence

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// trimBatch is how many events one Trim write batch deletes.
const trimBatch = 10_000

// Trim deletes, oldest first, the events received before cutoff whose
// sequence is below `below`, and returns how many it deleted. The store
// calls it with the visitor stage's processed-up-to mark as `below`, so
// an event the pipeline has not finished is never deleted; and since
// `below` is at most the mark, the event at the mark stays, so the log's
// last sequence — from which a restart numbers new events — never goes
// back. It stops at the first event that is too recent (the log is in
// receiving order, near enough) and when ctx ends.
func (l *EventLog) Trim(ctx context.Context, cutoff time.Time, below uint64) (int, error) {
	var keys [][]byte
	deleted := 0
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		wb := l.db.NewWriteBatch()
		defer wb.Cancel()
		for _, k := range keys {
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return err
		}
		deleted += len(keys)
		keys = keys[:0]
		return nil
	}
	err := l.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixEvent)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid() && ctx.Err() == nil; it.Next() {
			item := it.Item()
			if eventSeq(item.Key()) >= below {
				break
			}
			var ev struct {
				ReceivedAt time.Time `json:"received_at"`
			}
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &ev) }); err != nil {
				return fmt.Errorf("decode event %d: %w", eventSeq(item.Key()), err)
			}
			if !ev.ReceivedAt.Before(cutoff) {
				break
			}
			keys = append(keys, item.KeyCopy(nil))
			if len(keys) == trimBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return deleted, fmt.Errorf("event log: trim: %w", err)
	}
	return deleted, nil
}

// trimEvents applies the event log's retention: run every hour by the
// store.
func (s *Store) trimEvents(ctx context.Context) {
	retention := s.Events.cfg.Retention
	if retention < 0 {
		return
	}
	mark, err := s.ProcessedUpTo()
	if err != nil {
		s.log.Error("event log: retention", "err", err)
		return
	}
	n, err := s.Events.Trim(ctx, time.Now().Add(-retention), mark)
	if err != nil {
		s.log.Error("event log: retention", "err", err)
	}
	if n > 0 {
		s.log.Info("event log: deleted events past retention", "events", n, "retention", retention)
	}
}
