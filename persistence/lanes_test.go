package persistence

import (
	"strings"
	"testing"

	"github.com/firehook/firehook"
)

func TestOutbox_LaneSequencesMoveWithTheirPersons(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	o := s.Outbox()
	// Three events of p1 and one of p2 decided here.
	for i, person := range []string{"p1", "p1", "p1", "p2"} {
		ev := firehook.NewID(firehook.PrefixEvent)
		if _, _, err := s.Dispatch(ev, "ten", person, func(Decision) ([]firehook.Delivery, error) { return nil, nil }); err != nil {
			t.Fatalf("dispatch %d: %v", i, err)
		}
	}
	all, err := o.LaneSequences(nil)
	if err != nil {
		t.Fatal(err)
	}
	if all[firehook.PersonKey("ten", "p1")] != 3 || all[firehook.PersonKey("ten", "p2")] != 1 || len(all) != 2 {
		t.Fatalf("lane sequences %v", all)
	}
	onlyP2, err := o.LaneSequences(func(lane string) bool { return strings.HasSuffix(lane, "p2") })
	if err != nil || len(onlyP2) != 1 {
		t.Fatalf("filtered: %v, %v", onlyP2, err)
	}

	// Another node takes the persons over: merging raises, never lowers,
	// and merging twice changes nothing.
	other := openStore(t, testConfig(t.TempDir()))
	if _, _, err := other.Dispatch(firehook.NewID(firehook.PrefixEvent), "ten", "p2", func(Decision) ([]firehook.Delivery, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	n, err := other.Outbox().MergeLaneSequences(map[string]uint64{firehook.PersonKey("ten", "p1"): 3, firehook.PersonKey("ten", "p2"): 1})
	if err != nil || n != 1 {
		t.Fatalf("merge raised %d (%v); want 1 (p1; p2 is at 1 there already)", n, err)
	}
	if n, _ := other.Outbox().MergeLaneSequences(map[string]uint64{firehook.PersonKey("ten", "p1"): 2}); n != 0 {
		t.Fatalf("a lower sequence raised %d", n)
	}
	// The next decision for p1 there goes on at 4, as an update.
	dec, _, err := other.Dispatch(firehook.NewID(firehook.PrefixEvent), "ten", "p1", func(Decision) ([]firehook.Delivery, error) { return nil, nil })
	if err != nil || dec.Sequence != 4 || dec.Type != firehook.EventUpdated {
		t.Fatalf("after the merge p1's next decision is %+v (%v); want visitor.updated 4", dec, err)
	}
}
