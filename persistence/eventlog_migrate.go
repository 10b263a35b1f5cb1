package persistence

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// Versions before the file event log kept events in badger under
// ev/<seq>. A store opened on such a data dir moves them: the events after
// the pipeline's processed-up-to mark (those a replay still needs) are
// appended to the file log under the same sequences, and the badger keys
// are dropped. Events at or below the mark were processed; they leave
// with the keys (GET /v1/events no longer lists them).

// badgerEvents returns the events of an old badger event log that are
// after the processed-up-to mark, in order, and the sequence an empty
// file log must start from so that they keep theirs (0 when there is no
// old log).
func badgerEvents(db *badger.DB) ([]firehook.Event, uint64, error) {
	var mark uint64
	var out []firehook.Event
	found := false
	err := db.View(func(txn *badger.Txn) error {
		var err error
		if mark, err = getUint64(txn, []byte(metaProcessedUpTo)); err != nil {
			return err
		}
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixEvent)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			found = true
			seq := eventSeq(it.Item().Key())
			if seq <= mark {
				continue
			}
			var ev firehook.Event
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &ev) }); err != nil {
				return fmt.Errorf("decode old event %d: %w", seq, err)
			}
			ev.Seq = seq
			out = append(out, ev)
		}
		return nil
	})
	if err != nil || !found {
		return nil, 0, err
	}
	return out, mark + 1, nil
}

// migrateBadgerEvents appends the old events the file log does not hold
// yet (a crash may have stopped an earlier migration halfway), checks
// that each keeps its sequence, then drops the old keys.
func (s *Store) migrateBadgerEvents(old []firehook.Event) error {
	moved := 0
	for i := range old {
		ev := old[i]
		if ev.Seq <= s.Events.LastSeq() {
			continue
		}
		want := ev.Seq
		if err := s.Events.Append(context.Background(), &ev); err != nil {
			return fmt.Errorf("migrate event %d: %w", want, err)
		}
		if ev.Seq != want {
			return fmt.Errorf("migrate event %d: stored as %d (the old log has a gap)", want, ev.Seq)
		}
		moved++
	}
	if err := s.db.DropPrefix([]byte(prefixEvent)); err != nil {
		return fmt.Errorf("drop the old event log: %w", err)
	}
	s.log.Info("event log: moved from badger to its own files", "unprocessed_events_moved", moved)
	return nil
}
