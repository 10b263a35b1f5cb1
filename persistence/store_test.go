package persistence

import (
	"context"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

func TestMeta_AdminTokenHashIsNotFoundAtFirst(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	h, err := s.AdminTokenHash()
	if !errors.Is(err, firehook.ErrNotFound) || h != "" {
		t.Fatalf("AdminTokenHash of a new store = %q, %v; want ErrNotFound", h, err)
	}
}

func TestMeta_SetAdminTokenHashPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	const first, second = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0", "second-hash"

	if err := s.SetAdminTokenHash(first); err != nil {
		t.Fatalf("SetAdminTokenHash: %v", err)
	}
	if h, err := s.AdminTokenHash(); err != nil || h != first {
		t.Fatalf("AdminTokenHash = %q, %v; want %q", h, err, first)
	}
	s = reopen(t, s, testConfig(dir))
	if h, err := s.AdminTokenHash(); err != nil || h != first {
		t.Fatalf("AdminTokenHash after reopen = %q, %v; want %q", h, err, first)
	}

	// Setting it again replaces it.
	if err := s.SetAdminTokenHash(second); err != nil {
		t.Fatalf("SetAdminTokenHash: %v", err)
	}
	s = reopen(t, s, testConfig(dir))
	if h, err := s.AdminTokenHash(); err != nil || h != second {
		t.Fatalf("AdminTokenHash after replacing and reopening = %q, %v; want %q", h, err, second)
	}
}

func TestStore_CloseTwiceIsSafe(t *testing.T) {
	s, err := Open(testConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Events.Append(context.Background(), testEvent(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStore_OpenFailsOnADirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	first := openStore(t, testConfig(dir))

	second, err := Open(testConfig(dir))
	if err == nil {
		_ = second.Close()
		t.Fatal("a second Open of a directory in use succeeded; badger's directory lock should refuse it")
	}
	t.Logf("second Open: %v", err)

	// The failed Open leaves the first store working ...
	if err := first.Events.Append(context.Background(), testEvent(0)); err != nil {
		t.Fatalf("Append on the first store after the failed Open: %v", err)
	}
	// ... and the lock goes with Close.
	closeStore(t, first)
	again := openStore(t, testConfig(dir))
	if got := again.Events.LastSeq(); got != 1 {
		t.Fatalf("LastSeq after reopening = %d, want 1", got)
	}
}

func TestStore_OpenWithoutDirectoryFails(t *testing.T) {
	if s, err := Open(Config{}); err == nil {
		_ = s.Close()
		t.Fatal("Open without Dir (and not InMemory) succeeded")
	}
}

func TestStore_InMemoryWorksAndKeepsNothing(t *testing.T) {
	cfg := testConfig("")
	cfg.InMemory = true
	s := openStore(t, cfg)
	ev := testEvent(0)
	if err := s.Events.Append(context.Background(), ev); err != nil || ev.Seq != 1 {
		t.Fatalf("Append = %v, Seq %d; want nil, 1", err, ev.Seq)
	}
	if err := s.Config.CreateTenant(newTenant("mem")); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	s = reopen(t, s, cfg)
	if n := len(s.Config.Tenants()); n != 0 || s.Events.LastSeq() != 0 {
		t.Fatalf("a new in-memory store has %d tenants and LastSeq %d; want an empty store", n, s.Events.LastSeq())
	}
}

// The identity graph has its own badger database under the data dir: its
// records are there, not in the main database, and survive a reopen.
func TestStore_GraphLivesInItsOwnDatabase(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	if err := s.Graph().WritePersons([]PersonWrite{{ID: "p_1", Value: []byte("record")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Graph().Sync(); err != nil {
		t.Fatal(err)
	}
	count := func(db *badger.DB) (n int) {
		_ = db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixPerson)})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		})
		return n
	}
	if m, g := count(s.DB()), count(s.GraphDB()); m != 0 || g != 1 {
		t.Fatalf("person records: %d in the main database, %d in the graph's; want 0 and 1", m, g)
	}
	s = reopen(t, s, testConfig(dir))
	if v, ok, err := s.Graph().Person("p_1"); err != nil || !ok || string(v) != "record" {
		t.Fatalf("Person after reopening = %q, %v, %v", v, ok, err)
	}
}
