package pipeline

import (
	"testing"

	"github.com/firehook/firehook"
)

func events(seqs ...uint64) []*firehook.Event {
	out := make([]*firehook.Event, len(seqs))
	for i, s := range seqs {
		out[i] = &firehook.Event{Seq: s}
	}
	return out
}

func TestFeed_Pop(t *testing.T) {
	t.Run("gives the queued events in order while they follow on", func(t *testing.T) {
		f := newFeed()
		f.push(events(5, 6, 7))
		for next := uint64(5); next <= 7; next++ {
			if a, ok := f.pop(next); !ok || a.Event.Seq != next || a.CommittedAt.IsZero() {
				t.Fatalf("pop(%d) = %v, %v", next, a.Event, ok)
			}
		}
		if _, ok := f.pop(8); ok {
			t.Fatal("pop on an empty feed succeeded")
		}
	})
	t.Run("drops what the feeder read from the log and waits for what it has not reached", func(t *testing.T) {
		f := newFeed()
		f.push(events(3, 4, 5))
		if a, ok := f.pop(4); !ok || a.Event.Seq != 4 {
			t.Fatalf("pop(4) = %v, %v; want 4 (3 was read from the log)", a.Event, ok)
		}
		if _, ok := f.pop(2); ok {
			t.Fatal("pop(2) succeeded with 5 at the head; the feeder must read 2..4 from the log")
		}
		if a, ok := f.pop(5); !ok || a.Event.Seq != 5 {
			t.Fatalf("pop(5) = %v, %v", a.Event, ok)
		}
	})
	t.Run("a full feed queues no more: the feeder reads the rest from the log", func(t *testing.T) {
		f := newFeed()
		seqs := make([]uint64, maxFeed+10)
		for i := range seqs {
			seqs[i] = uint64(i + 1)
		}
		f.push(events(seqs...))
		if len(f.queue) != maxFeed {
			t.Fatalf("%d queued; want %d", len(f.queue), maxFeed)
		}
		if _, ok := f.pop(maxFeed + 1); ok {
			t.Fatal("an event beyond the bound was queued")
		}
		if len(f.queue) != 0 {
			t.Fatalf("%d stale events kept", len(f.queue))
		}
	})
}
