package persistence

import (
	"context"
	"testing"
	"time"
)

// Retention removes whole segments the pipeline is done with (every event
// at or below the checkpoint mark) once they are older than the cutoff,
// oldest first, and never the segment being written — so the log's last
// sequence never goes back.
func TestEventLog_TrimRemovesOnlyOldCheckpointedSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.EventLog.SegmentSize = 4 << 10 // a few events a segment
	s := openStore(t, cfg)
	appendAll(t, s.Events, 100)
	before := s.Events.Stats()
	if before.Segments < 5 {
		t.Fatalf("%d segments; want several", before.Segments)
	}
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)

	if n, err := s.Events.Trim(past, 100); err != nil || n != 0 {
		t.Fatalf("Trim with a cutoff before every write = %d, %v; want nothing removed", n, err)
	}
	if n, err := s.Events.Trim(future, 0); err != nil || n != 0 {
		t.Fatalf("Trim with nothing checkpointed = %d, %v; want nothing removed", n, err)
	}
	n, err := s.Events.Trim(future, 50)
	if err != nil || n == 0 {
		t.Fatalf("Trim at mark 50 = %d, %v; want the segments below it removed", n, err)
	}
	evs, err := s.Events.Read(0, 0)
	if err != nil || len(evs) == 0 || evs[0].Seq > 51 || evs[0].Seq < 2 || evs[len(evs)-1].Seq != 100 {
		t.Fatalf("after Trim: %d events, %v; want a suffix holding 51..100", len(evs), err)
	}
	if st := s.Events.Stats(); st.FirstSeq != evs[0].Seq || st.DiskBytes >= before.DiskBytes {
		t.Fatalf("stats after trim %+v; first event %d", st, evs[0].Seq)
	}

	// Everything checkpointed: all but the segment being written go.
	if _, err := s.Events.Trim(future, 100); err != nil {
		t.Fatal(err)
	}
	if st := s.Events.Stats(); st.Segments != 1 {
		t.Fatalf("%d segments after trimming everything; want the active one", st.Segments)
	}
	// A restart numbers new events after the last one.
	s = reopen(t, s, cfg)
	ev := testEvent(101)
	if err := s.Events.Append(context.Background(), ev); err != nil || ev.Seq != 101 {
		t.Fatalf("append after reopening: seq %d, %v; want 101", ev.Seq, err)
	}
}
