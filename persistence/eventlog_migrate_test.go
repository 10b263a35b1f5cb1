package persistence

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// A data dir of a version that kept its events in badger: on open, the
// events after the processed-up-to mark move to the file log under their
// own sequences (a replay finds them), the old keys go, and new events
// are numbered after the old ones.
func TestStore_MovesBadgerEventLogToFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	s := openStore(t, cfg)
	old := make([]string, 0, 10)
	err := s.db.Update(func(txn *badger.Txn) error {
		for seq := uint64(1); seq <= 10; seq++ {
			ev := testEvent(int(seq))
			old = append(old, ev.ID)
			v, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := txn.Set(eventKey(seq), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkProcessed(7); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, cfg)

	evs, err := s.Events.Read(0, 0)
	if err != nil || len(evs) != 3 {
		t.Fatalf("after the move: %d events, %v; want the 3 after the mark", len(evs), err)
	}
	for i, ev := range evs {
		if want := uint64(8 + i); ev.Seq != want || ev.ID != old[want-1] {
			t.Fatalf("moved event %d: seq %d id %s; want seq %d id %s", i, ev.Seq, ev.ID, want, old[want-1])
		}
	}
	if got, first, _ := badgerEvents(s.db); len(got) != 0 || first != 0 {
		t.Fatalf("%d old events left in badger", len(got))
	}
	ev := testEvent(11)
	if err := s.Events.Append(context.Background(), ev); err != nil || ev.Seq != 11 {
		t.Fatalf("new event: seq %d, %v; want 11", ev.Seq, err)
	}
	s = reopen(t, s, cfg) // nothing to move any more
	if n := s.Events.LastSeq(); n != 11 {
		t.Fatalf("LastSeq after another reopen %d; want 11", n)
	}
}
