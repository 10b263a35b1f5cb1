package persistence

import (
	"bytes"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

// decideWithDeliveries dispatches a new event of (ten, person) on s with
// one delivery to each endpoint.
func decideWithDeliveries(t *testing.T, s *Store, person string, endpoints ...string) (string, []firehook.Delivery) {
	t.Helper()
	ev := firehook.NewID(firehook.PrefixEvent)
	_, dels, err := s.Dispatch(ev, "ten", person, func(Decision) ([]firehook.Delivery, error) {
		var out []firehook.Delivery
		for _, ep := range endpoints {
			out = append(out, firehook.Delivery{EndpointID: ep, Payload: []byte(`{"event":"` + ev + `"}`)})
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev, dels
}

func TestOutbox_ReplicaRoundTripsWithItsPayload(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	_, dels := decideWithDeliveries(t, s, "p1", "ep_a")
	got, err := DecodeDelivery(EncodeDelivery(&dels[0]))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != dels[0].ID || got.Sequence != 1 || got.PersonKey != dels[0].PersonKey || !bytes.Equal(got.Payload, dels[0].Payload) {
		t.Fatalf("decoded %+v; want %+v", got, dels[0])
	}
	for _, bad := range [][]byte{nil, {0xff}, {5, 1, 2}} {
		if _, err := DecodeDelivery(bad); err == nil {
			t.Errorf("DecodeDelivery(%v) succeeded", bad)
		}
	}
}

// A dead member's deliveries, copied here before they were sent, become
// this node's: sent from here, decided here (a replay of the event here
// decides nothing new), the person's sequence goes on after them. When
// the member comes back it removes its own unfinished copies.
func TestOutbox_AdoptedDeliveriesAreTakenOverAndReconciledOnReturn(t *testing.T) {
	primary := openStore(t, testConfig(t.TempDir()))
	holder := openStore(t, testConfig(t.TempDir()))

	ev1, d1 := decideWithDeliveries(t, primary, "p1", "ep_a", "ep_b")
	_, d2 := decideWithDeliveries(t, primary, "p1", "ep_a")
	_, d3 := decideWithDeliveries(t, primary, "p2", "ep_a")
	for _, ds := range [][]firehook.Delivery{d1, d2, d3} {
		if err := holder.Outbox().PutReplicas("n1", ds); err != nil {
			t.Fatal(err)
		}
	}
	// d2 was delivered by n1 before it died: its copy is dropped.
	if err := holder.Outbox().DropReplicas("n1", []string{d2[0].ID}); err != nil {
		t.Fatal(err)
	}
	counts, err := holder.Outbox().ReplicaCounts()
	if err != nil || counts["n1"] != 3 {
		t.Fatalf("replica counts %v (%v); want n1: 3", counts, err)
	}
	p1 := firehook.PersonKey("ten", "p1")
	reps, err := holder.Outbox().Replicas("n1", func(k string) bool { return k == p1 })
	if err != nil || len(reps) != 2 {
		t.Fatalf("p1's replicas: %d (%v); want 2 (event 1's two deliveries)", len(reps), err)
	}

	// n1 dies; the holder adopts p1's copies.
	adopted, err := holder.Outbox().Adopt("n1", reps)
	if err != nil || len(adopted) != 2 {
		t.Fatalf("adopted %d (%v); want 2", len(adopted), err)
	}
	if again, err := holder.Outbox().Adopt("n1", reps); err != nil || len(again) != 0 {
		t.Fatalf("adopting twice adopted %d more (%v)", len(again), err)
	}
	pending, _, err := holder.Outbox().Pending("ep_a", "", 10)
	if err != nil || len(pending) != 1 || pending[0].ID != d1[0].ID || !bytes.Equal(pending[0].Payload, d1[0].Payload) {
		t.Fatalf("ep_a's pending deliveries on the holder: %+v (%v); want event 1's", pending, err)
	}
	if left, _ := holder.Outbox().Replicas("n1", nil); len(left) != 1 || left[0].PersonKey == p1 {
		t.Fatalf("replicas left: %+v; want p2's only", left)
	}
	// The event is decided there: a replay finds the decision.
	dec, dels, err := holder.Dispatch(ev1, "ten", "p1", func(Decision) ([]firehook.Delivery, error) {
		t.Fatal("the event was decided again")
		return nil, nil
	})
	if err != nil || !dec.Replayed || dec.Sequence != 1 || dec.Type != firehook.EventIdentified || len(dels) != 2 {
		t.Fatalf("replay on the holder: %+v, %d deliveries (%v)", dec, len(dels), err)
	}
	// n1 had decided 2 for p1: the sequence the holder goes on from is
	// the adopted one's (1) raised by the lane state n1 replicated.
	if _, err := holder.Outbox().MergeLaneSequences(map[string]uint64{p1: 2}); err != nil {
		t.Fatal(err)
	}
	next, _, err := holder.Dispatch(firehook.NewID(firehook.PrefixEvent), "ten", "p1", func(Decision) ([]firehook.Delivery, error) { return nil, nil })
	if err != nil || next.Sequence != 3 {
		t.Fatalf("the holder's next decision for p1: %+v (%v); want sequence 3", next, err)
	}

	// n1 comes back and reconciles.
	notes, err := holder.Outbox().TakenOverFrom("n1")
	if err != nil || len(notes) != 1 || notes[0].EventID != ev1 || len(notes[0].Deliveries) != 2 || notes[0].Sequence != 1 {
		t.Fatalf("takeover notes: %+v (%v)", notes, err)
	}
	removed, err := primary.Outbox().Reconcile(notes)
	if err != nil || removed != 2 {
		t.Fatalf("reconcile removed %d (%v); want event 1's 2 deliveries", removed, err)
	}
	for _, ep := range []string{"ep_a", "ep_b"} {
		pend, _, _ := primary.Outbox().Pending(ep, "", 10)
		for _, d := range pend {
			if d.EventID == ev1 {
				t.Errorf("n1 still holds %s for %s", d.ID, ep)
			}
		}
	}
	if _, ok, _ := primary.Outbox().Get(d1[0].ID); ok {
		t.Error("n1 still has the record of a delivery the holder sends")
	}
	if _, ok, _ := primary.Outbox().Get(d2[0].ID); !ok {
		t.Error("n1 lost a delivery nobody took over")
	}
	if err := holder.Outbox().DropTakenOver("n1", []string{ev1}); err != nil {
		t.Fatal(err)
	}
	if notes, _ := holder.Outbox().TakenOverFrom("n1"); len(notes) != 0 {
		t.Fatalf("notes left after DropTakenOver: %+v", notes)
	}
}

func TestOutbox_ReplicasRefuseBadInput(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	o := s.Outbox()
	good := firehook.Delivery{ID: firehook.NewDeliveryID(time.Now()), EventID: "evt_1", PersonKey: "ten/p", Sequence: 1, Status: firehook.DeliveryPending}
	if err := o.PutReplicas("a/b", []firehook.Delivery{good}); err == nil {
		t.Error("a member name with / was accepted")
	}
	bad := good
	bad.ID = "nope"
	if err := o.PutReplicas("n1", []firehook.Delivery{bad}); err == nil {
		t.Error("a malformed delivery id was accepted")
	}
	noSeq := good
	noSeq.Sequence = 0
	if _, err := o.Adopt("n1", []firehook.Delivery{noSeq}); err == nil {
		t.Error("a delivery without sequence was adopted")
	}
	if c, _ := o.ReplicaCounts(); len(c) != 0 {
		t.Errorf("refused input left replicas: %v", c)
	}
}
