package persistence

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
)

// A failed fsync is never acknowledged, and the log refuses every later
// append (the disk state is unknown) until a restart, which continues
// after what is really on disk: acknowledged events are all there and no
// sequence is handed out twice.
func TestEventLog_FailedFsyncStopsTheLogUntilRestart(t *testing.T) {
	cfg := testConfig(t.TempDir())
	diskGone := errors.New("disk gone")
	var failing atomic.Bool
	cfg.EventLog.syncFile = func(f *os.File) error {
		if failing.Load() {
			return diskGone
		}
		return f.Sync()
	}
	s := openStore(t, cfg)
	ctx := context.Background()

	acked := testEvent(1)
	if err := s.Events.Append(ctx, acked); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)

	if err := s.Events.Append(ctx, testEvent(2)); !errors.Is(err, diskGone) {
		t.Fatalf("Append with a failing fsync = %v; want the fsync error", err)
	}
	if err := s.Events.Append(ctx, testEvent(3)); err == nil {
		t.Fatal("Append after a failed fsync succeeded; the log must refuse until restart")
	}
	if got := s.Events.LastSeq(); got != acked.Seq {
		t.Fatalf("LastSeq = %d after failures; want %d (the last acknowledged)", got, acked.Seq)
	}

	cfg.EventLog.syncFile = nil
	s = reopen(t, s, cfg)
	evs, err := s.Events.Read(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].ID != acked.ID {
		t.Fatalf("after restart the log starts with %v; want the acknowledged event first", evs)
	}
	next := testEvent(4)
	if err := s.Events.Append(ctx, next); err != nil {
		t.Fatalf("Append after restart: %v", err)
	}
	if next.Seq != uint64(len(evs))+1 {
		t.Fatalf("after restart the next sequence is %d; want %d (no reuse, no gap)", next.Seq, len(evs)+1)
	}
}
