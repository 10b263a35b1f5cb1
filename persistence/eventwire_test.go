package persistence

import (
	"bytes"
	"context"
	"testing"

	"github.com/firehook/firehook"
)

func TestEventLog_AppendBatchStoresAHandedOverBatchInOrder(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	var evs []*firehook.Event
	for i := range 50 {
		// As another node sends them: encoded, then decoded here.
		src := testEvent(i)
		wire := EncodeEvent(nil, src)
		ev, err := DecodeEvent(wire)
		if err != nil {
			t.Fatal(err)
		}
		if again := EncodeEvent(nil, ev); !bytes.Equal(again, wire) || ev.ID != src.ID || !ev.ReceivedAt.Equal(src.ReceivedAt) {
			t.Fatalf("round trip of event %d:\n got %+v\nwant %+v", i, ev, src)
		}
		evs = append(evs, ev)
	}
	if err := s.Events.AppendBatch(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	s = reopen(t, s, testConfig(dir))
	got, err := s.Events.Read(1, 0)
	if err != nil || len(got) != len(evs) {
		t.Fatalf("read back %d events (%v)", len(got), err)
	}
	for i := range got {
		if got[i].ID != evs[i].ID {
			t.Fatalf("event %d is %s, want %s", i+1, got[i].ID, evs[i].ID)
		}
	}
	if _, err := DecodeEvent([]byte{0xff, 1, 2}); err == nil {
		t.Fatal("garbage decoded")
	}
}
