package endpoint

import (
	"fmt"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

// t0 is the queue tests' "now".
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// dlv is a pending delivery of person's lane with seq, due at due. First
// Match for seq 1, Every Update after, as Dispatch decides.
func dlv(person string, seq uint64, due time.Time) firehook.Delivery {
	d := firehook.Delivery{
		ID:            fmt.Sprintf("dlv_%s_%03d", person, seq),
		EventID:       fmt.Sprintf("evt_%s_%03d", person, seq),
		EndpointID:    "ep_1",
		TenantID:      "ten_1",
		PersonKey:     firehook.PersonKey("ten_1", person),
		Type:          firehook.EventUpdated,
		Sequence:      seq,
		Priority:      firehook.PriorityEveryUpdate,
		Status:        firehook.DeliveryPending,
		NextAttemptAt: due,
	}
	if seq == 1 {
		d.Type, d.Priority = firehook.EventIdentified, firehook.PriorityFirstMatch
	}
	return d
}

// laneSeqs returns the sequences in person's lane, head first.
func laneSeqs(q *queue, person string) []uint64 {
	l := q.lanes[firehook.PersonKey("ten_1", person)]
	if l == nil {
		return nil
	}
	var seqs []uint64
	for _, d := range l.items {
		seqs = append(seqs, d.Sequence)
	}
	return seqs
}

// takeAll takes every ready lane, best first, and returns the ids of
// their heads (the lanes are busy afterwards).
func takeAll(q *queue) []string {
	var ids []string
	for q.peekReady() != nil {
		ids = append(ids, q.take().head().ID)
	}
	return ids
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueue_laneKeepsSequenceOrder(t *testing.T) {
	q := newQueue()
	for _, seq := range []uint64{3, 1, 4, 2} {
		if !q.add(dlv("alice", seq, t0)) {
			t.Fatalf("add seq %d: false, want true", seq)
		}
	}
	if got := laneSeqs(q, "alice"); !equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("lane = %v, want [1 2 3 4] whatever the order of arrival", got)
	}
	if q.len() != 4 || !q.has("dlv_alice_003") {
		t.Fatalf("len %d, has seq 3 %v", q.len(), q.has("dlv_alice_003"))
	}
	if q.add(dlv("alice", 2, t0)) {
		t.Fatal("adding a delivery already in memory: true, want false")
	}
	if q.len() != 4 {
		t.Fatalf("len after a second add = %d, want 4", q.len())
	}
}

func TestQueue_onlyTheHeadOfAnIdleLaneIsReady(t *testing.T) {
	q := newQueue()
	q.add(dlv("alice", 1, t0))
	q.add(dlv("alice", 2, t0))
	q.add(dlv("alice", 3, t0))
	q.add(dlv("bob", 1, t0.Add(time.Second))) // not due yet

	if q.peekReady() != nil {
		t.Fatal("a lane is ready before promote")
	}
	q.promote(t0)
	if got := takeAll(q); !equal(got, []string{"dlv_alice_001"}) {
		t.Fatalf("ready at t0: %v, want alice's head only (her later items and bob's future head wait)", got)
	}
	if at, ok := q.nextDue(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("nextDue = %v %v, want bob's head at t0+1s", at, ok)
	}
	q.promote(t0.Add(time.Second))
	if got := takeAll(q); !equal(got, []string{"dlv_bob_001"}) {
		t.Fatalf("ready at t0+1s: %v, want bob's head", got)
	}
}

func TestQueue_firstMatchBeforeEveryUpdate(t *testing.T) {
	q := newQueue()
	// Every Update heads due first, a First Match due last: the First
	// Match still goes first; then the rest by due time.
	q.add(dlv("alice", 1, t0.Add(-3*time.Second))) // delivered before: keep alice's lane at seq 2
	q.promote(t0)
	q.take()
	q.finish(withStatus(dlv("alice", 1, t0), firehook.DeliveryDelivered))
	q.add(dlv("alice", 2, t0.Add(-2*time.Second))) // Every Update, oldest
	q.add(dlv("carol", 1, t0))                     // First Match, newest
	q.add(dlv("bob", 1, t0.Add(-time.Second)))     // First Match
	q.promote(t0)
	got := takeAll(q)
	want := []string{"dlv_bob_001", "dlv_carol_001", "dlv_alice_002"}
	if !equal(got, want) {
		t.Fatalf("ready order = %v, want %v (First Match by due time, then Every Update)", got, want)
	}
}

func TestQueue_aBusyLaneHoldsItsLaterItems(t *testing.T) {
	q := newQueue()
	q.add(dlv("alice", 1, t0))
	q.add(dlv("alice", 2, t0))
	q.add(dlv("bob", 1, t0))
	q.promote(t0)
	l := q.take()
	if l.head().ID != "dlv_alice_001" || !l.busy {
		t.Fatalf("took %s busy %v, want alice's head, busy", l.head().ID, l.busy)
	}
	// alice's seq 2 is due, but her lane is busy: only bob is ready.
	q.promote(t0.Add(time.Hour))
	if got := takeAll(q); !equal(got, []string{"dlv_bob_001"}) {
		t.Fatalf("ready while alice's head is in flight: %v, want bob only", got)
	}
	if _, ok := q.nextDue(); ok {
		t.Fatal("nextDue reports a busy lane's head")
	}
	// A later item arriving for the busy lane waits behind the head too.
	q.add(dlv("alice", 3, t0))
	q.promote(t0.Add(time.Hour))
	if q.peekReady() != nil {
		t.Fatal("an item added to a busy lane became ready")
	}
}

func TestQueue_finishDeliveredRemovesAndFreesTheNext(t *testing.T) {
	q := newQueue()
	q.add(dlv("alice", 1, t0))
	q.add(dlv("alice", 2, t0))
	q.promote(t0)
	q.take()
	q.finish(withStatus(dlv("alice", 1, t0), firehook.DeliveryDelivered))
	if q.has("dlv_alice_001") || q.len() != 1 {
		t.Fatalf("after delivered: has %v len %d, want gone and 1 left", q.has("dlv_alice_001"), q.len())
	}
	q.promote(t0)
	if got := takeAll(q); !equal(got, []string{"dlv_alice_002"}) {
		t.Fatalf("ready = %v, want alice's seq 2 as the new head", got)
	}
	q.finish(withStatus(dlv("alice", 2, t0), firehook.DeliveryFailed))
	if q.len() != 0 || len(q.lanes) != 0 || q.ready.Len() != 0 || q.waiting.Len() != 0 {
		t.Fatalf("after the last one failed: len %d, lanes %d, ready %d, waiting %d; want all empty",
			q.len(), len(q.lanes), q.ready.Len(), q.waiting.Len())
	}
	// A finish of an unknown delivery changes nothing.
	q.finish(withStatus(dlv("zed", 1, t0), firehook.DeliveryDelivered))
}

func TestQueue_retryingStaysHeadWithItsNewDueTime(t *testing.T) {
	q := newQueue()
	q.add(dlv("alice", 1, t0))
	q.add(dlv("alice", 2, t0))
	q.promote(t0)
	q.take()
	retry := withStatus(dlv("alice", 1, t0), firehook.DeliveryRetrying)
	retry.NextAttemptAt = t0.Add(5 * time.Second)
	retry.Attempts = []firehook.Attempt{{N: 1, At: t0, StatusCode: 500}}
	q.finish(retry)

	if got := laneSeqs(q, "alice"); !equal(got, []uint64{1, 2}) {
		t.Fatalf("lane = %v, want [1 2]: the retrying delivery stays the head", got)
	}
	if at, ok := q.nextDue(); !ok || !at.Equal(retry.NextAttemptAt) {
		t.Fatalf("nextDue = %v %v, want the retry at t0+5s", at, ok)
	}
	q.promote(t0.Add(4 * time.Second))
	if q.peekReady() != nil {
		t.Fatal("ready before its retry is due (and seq 2 must not overtake it)")
	}
	if p, r := q.counts(); p != 1 || r != 1 {
		t.Fatalf("counts = %d pending, %d retrying; want 1, 1", p, r)
	}
	q.promote(t0.Add(5 * time.Second))
	l := q.take()
	if l.head().ID != "dlv_alice_001" || len(l.head().Attempts) != 1 {
		t.Fatalf("took %s with %d attempts, want alice's seq 1 with its recorded attempt", l.head().ID, len(l.head().Attempts))
	}
	// An abandoned attempt makes the lane idle again, unchanged.
	q.release("dlv_alice_001")
	q.promote(t0.Add(5 * time.Second))
	if got := takeAll(q); !equal(got, []string{"dlv_alice_001"}) {
		t.Fatalf("after release: ready %v, want alice's seq 1 again", got)
	}
}

// The person actor's Enqueue of a delivery can arrive after the endpoint
// actor loaded the same delivery from the outbox and tried it: that stale
// copy (no attempts, due at creation) must not pull a retry forward.
func TestQueue_aStaleCopyDoesNotBringARetryForward(t *testing.T) {
	q := newQueue()
	q.add(dlv("alice", 1, t0))
	q.promote(t0)
	q.take()
	retry := withStatus(dlv("alice", 1, t0), firehook.DeliveryRetrying)
	retry.NextAttemptAt = t0.Add(time.Second) // Retry-After: 1
	retry.Attempts = []firehook.Attempt{{N: 1, At: t0, StatusCode: 429}}
	q.finish(retry)

	q.add(dlv("alice", 1, t0)) // the overtaken Enqueue
	if at, ok := q.nextDue(); !ok || !at.Equal(retry.NextAttemptAt) {
		t.Fatalf("nextDue = %v %v after a stale copy; want the retry's t0+1s", at, ok)
	}
	replay := dlv("alice", 1, t0)
	replay.ReplayedAt = t0
	q.add(replay) // a replay does bring it forward
	if at, _ := q.nextDue(); !at.Equal(t0) {
		t.Fatalf("nextDue = %v after a replay; want t0", at)
	}
}

func TestQueue_replayedEarlierItemWaitsBehindABusyHead(t *testing.T) {
	q := newQueue()
	q.add(dlv("alice", 2, t0))
	q.promote(t0)
	q.take() // seq 2 in flight
	// seq 1 is replayed meanwhile: it sorts before the head, but the head
	// is in flight, so it goes right behind it.
	q.add(dlv("alice", 1, t0))
	if got := laneSeqs(q, "alice"); !equal(got, []uint64{2, 1}) {
		t.Fatalf("lane = %v, want [2 1]: the busy head keeps its place", got)
	}
	q.promote(t0)
	if q.peekReady() != nil {
		t.Fatal("the replayed item became ready beside its busy head")
	}
	q.finish(withStatus(dlv("alice", 2, t0), firehook.DeliveryDelivered))
	q.promote(t0)
	if got := takeAll(q); !equal(got, []string{"dlv_alice_001"}) {
		t.Fatalf("after the head finished: ready %v, want the replayed seq 1", got)
	}
}

func TestQueue_replayBringsAWaitingDeliveryForward(t *testing.T) {
	q := newQueue()
	later := dlv("alice", 1, t0.Add(time.Hour))
	q.add(later)
	q.promote(t0)
	if q.peekReady() != nil {
		t.Fatal("ready an hour early")
	}
	if q.add(dlv("alice", 1, t0)) {
		t.Fatal("re-adding a known delivery: true, want false")
	}
	q.promote(t0)
	if got := takeAll(q); !equal(got, []string{"dlv_alice_001"}) {
		t.Fatalf("after the replay: ready %v, want it due now", got)
	}
	// While it is in flight a replay does not move it, but its replay
	// time is kept, also over the attempt's report (which predates it):
	// the next attempt starts a fresh plan.
	again := dlv("alice", 1, t0.Add(-time.Hour))
	again.ReplayedAt = t0.Add(time.Minute)
	q.add(again)
	if d := q.byID["dlv_alice_001"]; !d.NextAttemptAt.Equal(t0) || !d.ReplayedAt.Equal(again.ReplayedAt) {
		t.Fatalf("in flight after a replay: due %v, replayed %v; want due t0 (unmoved), replayed t0+1m", d.NextAttemptAt, d.ReplayedAt)
	}
	report := withStatus(dlv("alice", 1, t0), firehook.DeliveryRetrying)
	report.NextAttemptAt = t0.Add(time.Second)
	q.finish(report)
	if d := q.byID["dlv_alice_001"]; !d.NextAttemptAt.Equal(report.NextAttemptAt) || !d.ReplayedAt.Equal(again.ReplayedAt) {
		t.Fatalf("after the report: due %v, replayed %v; want the report's due time and the replay time kept", d.NextAttemptAt, d.ReplayedAt)
	}
}

func withStatus(d firehook.Delivery, s firehook.DeliveryStatus) firehook.Delivery {
	d.Status = s
	if s.Finished() {
		d.NextAttemptAt = time.Time{}
	}
	return d
}
