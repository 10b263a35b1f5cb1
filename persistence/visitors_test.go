package persistence

import (
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// Visitor states are derived state: kept in memory from PutVisitor on,
// written to badger by the next checkpoint (MarkProcessed) in one batch.
func TestStore_VisitorStatesAreWrittenAtTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	inBadger := func(visitor string) bool {
		err := s.db.View(func(txn *badger.Txn) error {
			_, err := txn.Get(visitorKey("ten_a", visitor))
			return err
		})
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	if err := s.PutVisitor("ten_a", "v1", VisitorRecord{Seq: 3, State: []byte("three")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVisitor("ten_a", "v1", VisitorRecord{Seq: 4, State: []byte("four")}); err != nil {
		t.Fatal(err)
	}
	rec, ok, err := s.Visitor("ten_a", "v1")
	if err != nil || !ok || rec.Seq != 4 || string(rec.State) != "four" {
		t.Fatalf("Visitor before the checkpoint = %+v, %v, %v; want the last put", rec, ok, err)
	}
	if inBadger("v1") {
		t.Fatal("the state reached badger before the checkpoint")
	}
	if err := s.MarkProcessed(4); err != nil {
		t.Fatal(err)
	}
	if !inBadger("v1") {
		t.Fatal("the checkpoint did not write the state")
	}
	if _, ok, _ := s.Visitor("ten_a", "v2"); ok {
		t.Fatal("a visitor never put is found")
	}
	s = reopen(t, s, testConfig(dir))
	if rec, ok, err := s.Visitor("ten_a", "v1"); err != nil || !ok || rec.Seq != 4 || string(rec.State) != "four" {
		t.Fatalf("Visitor after reopening = %+v, %v, %v", rec, ok, err)
	}
}
