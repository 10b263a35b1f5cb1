package persistence

import (
	"context"
	"testing"
	"time"
)

// Retention deletes the old events the pipeline is done with, oldest
// first, and nothing else: not a recent event, not one at or above the
// processed-up-to mark — so the log's last sequence never goes back.
func TestEventLog_TrimDeletesOnlyOldProcessedEvents(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	old := time.Now().Add(-10 * 24 * time.Hour)
	for i := range 10 {
		ev := testEvent(i)
		ev.ReceivedAt = old.Add(time.Duration(i) * time.Minute)
		if i >= 8 {
			ev.ReceivedAt = time.Now() // the two newest are recent
		}
		if err := s.Events.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Now().Add(-7 * 24 * time.Hour)

	// The pipeline has processed up to 5: events 1–4 go, 5 (the mark)
	// and later stay.
	n, err := s.Events.Trim(context.Background(), cutoff, 5)
	if err != nil || n != 4 {
		t.Fatalf("Trim below 5 = %d, %v; want 4 deleted", n, err)
	}
	evs, err := s.Events.Read(0, 0)
	if err != nil || len(evs) != 6 || evs[0].Seq != 5 {
		t.Fatalf("after Trim: %d events from seq %d, %v; want 6 from 5", len(evs), evs[0].Seq, err)
	}
	// Everything processed: the old ones go, the recent ones stay.
	if n, err = s.Events.Trim(context.Background(), cutoff, 11); err != nil || n != 4 {
		t.Fatalf("Trim below 11 = %d, %v; want 4 deleted (5–8)", n, err)
	}
	if evs, _ = s.Events.Read(0, 0); len(evs) != 2 || evs[0].Seq != 9 {
		t.Fatalf("after the second Trim: %d events from seq %d; want 9 and 10", len(evs), evs[0].Seq)
	}
	// A restart numbers new events after the last one kept.
	s = reopen(t, s, testConfig(dir))
	ev := testEvent(11)
	if err := s.Events.Append(context.Background(), ev); err != nil || ev.Seq != 11 {
		t.Fatalf("append after reopening: seq %d, %v; want 11", ev.Seq, err)
	}
}
