package persistence

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

// dispatchAt dispatches a new event of (ten_a, person) with one delivery
// to endpoint created at at, and returns the delivery.
func dispatchAt(t testing.TB, s *Store, person, endpoint string, at time.Time) firehook.Delivery {
	t.Helper()
	ev := fmt.Sprintf("evt_%d", eventCounter.Add(1))
	_, dels, err := s.Dispatch(ev, "ten_a", person, func(Decision) ([]firehook.Delivery, error) {
		return []firehook.Delivery{{EndpointID: endpoint, CreatedAt: at, Payload: []byte(ev)}}, nil
	})
	if err != nil {
		t.Fatalf("Dispatch(%s): %v", ev, err)
	}
	return dels[0]
}

// replay replays d at now and fails the test on error.
func replay(t testing.TB, o *Outbox, d firehook.Delivery, now time.Time) firehook.Delivery {
	t.Helper()
	got, err := o.Replay(d.ID, now)
	if err != nil {
		t.Fatalf("Replay(%s): %v", d.ID, err)
	}
	return got
}

// stored reads delivery id, with its payload, and fails the test when it
// is not there.
func stored(t testing.TB, o *Outbox, id string) firehook.Delivery {
	t.Helper()
	d, ok, err := o.Get(id)
	if err != nil || !ok {
		t.Fatalf("Get(%s) = %v, %v; want the delivery", id, ok, err)
	}
	return d
}

// pendingIDs returns the ids in endpoint's queue, in queue order.
func pendingIDs(t testing.TB, o *Outbox, endpoint string) []string {
	t.Helper()
	items, _, err := o.Pending(endpoint, "", 0)
	if err != nil {
		t.Fatalf("Pending(%s): %v", endpoint, err)
	}
	return ids(items)
}

// wantUnexpiring fails the test unless every key of d, its queue entry
// included, is there without an expiry: an unfinished delivery.
func wantUnexpiring(t testing.TB, s *Store, d firehook.Delivery) {
	t.Helper()
	for _, k := range append(deliveryKeys(d), queueKey(&d)) {
		if exp, ok := keyExpiry(t, s, k); !ok || exp != 0 {
			t.Fatalf("key %q of replayed %s: present %v, expiry %d; want present without expiry", k, d.ID, ok, exp)
		}
	}
}

func TestOutbox_Replay(t *testing.T) {
	now := time.Now().Add(time.Minute).UTC()

	for _, finished := range []firehook.DeliveryStatus{firehook.DeliveryDelivered, firehook.DeliveryFailed} {
		t.Run(fmt.Sprintf("a %s delivery is pending again, due now, with its attempts", finished), func(t *testing.T) {
			s := openStore(t, testConfig(t.TempDir()))
			o := s.Outbox()
			d := setStatus(t, s, newDelivery(t, s, "p_1", "ep_x"), finished)
			if got := pendingIDs(t, o, "ep_x"); len(got) != 0 {
				t.Fatalf("queue before the replay = %v, want empty", got)
			}

			got := replay(t, o, d, now)

			want := d
			want.Status, want.NextAttemptAt, want.ReplayedAt, want.UpdatedAt = firehook.DeliveryPending, now, now, now
			want.Payload = nil
			assertSameDelivery(t, got, want)
			want.Payload = d.Payload
			assertSameDelivery(t, stored(t, o, d.ID), want)
			if len(got.Attempts) != 1 {
				t.Errorf("attempts after the replay = %+v, want the one made before", got.Attempts)
			}
			if q := pendingIDs(t, o, "ep_x"); !slices.Equal(q, []string{d.ID}) {
				t.Errorf("queue after the replay = %v, want [%s]", q, d.ID)
			}
			if l := listAll(t, o, "ep_x", finished, 10); len(l) != 0 {
				t.Errorf("still listed as %s: %v", finished, l)
			}
			if l := listAll(t, o, "ep_x", firehook.DeliveryPending, 10); !slices.Equal(l, []string{d.ID}) {
				t.Errorf("listed as pending: %v, want [%s]", l, d.ID)
			}
			wantUnexpiring(t, s, got)
		})
	}

	t.Run("a retrying delivery due later is brought forward and stays retrying", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		o := s.Outbox()
		d := setStatus(t, s, newDelivery(t, s, "p_1", "ep_x"), firehook.DeliveryRetrying)
		d.NextAttemptAt = now.Add(2 * time.Hour)
		if err := o.Update(d); err != nil {
			t.Fatal(err)
		}

		got := replay(t, o, d, now)

		if got.Status != firehook.DeliveryRetrying || !got.NextAttemptAt.Equal(now) || !got.ReplayedAt.Equal(now) {
			t.Errorf("after the replay: status %s, next attempt %v, replayed at %v; want retrying, %v, %v",
				got.Status, got.NextAttemptAt, got.ReplayedAt, now, now)
		}
		if len(got.Attempts) != 1 {
			t.Errorf("attempts = %+v, want the one made before", got.Attempts)
		}
		if q := pendingIDs(t, o, "ep_x"); !slices.Equal(q, []string{d.ID}) {
			t.Errorf("queue = %v, want [%s] once", q, d.ID)
		}
	})

	t.Run("a pending delivery already due keeps its earlier time", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		o := s.Outbox()
		d := newDelivery(t, s, "p_1", "ep_x") // due at its creation

		got := replay(t, o, d, now)

		if got.Status != firehook.DeliveryPending || !got.NextAttemptAt.Equal(d.NextAttemptAt) || !got.ReplayedAt.Equal(now) {
			t.Errorf("after the replay: status %s, next attempt %v, replayed at %v; want pending, %v, %v",
				got.Status, got.NextAttemptAt, got.ReplayedAt, d.NextAttemptAt, now)
		}
	})

	t.Run("a second replay keeps the attempts made after the first", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		o := s.Outbox()
		d := setStatus(t, s, newDelivery(t, s, "p_1", "ep_x"), firehook.DeliveryFailed)
		d = replay(t, o, d, now)
		d = setStatus(t, s, d, firehook.DeliveryDelivered)

		later := now.Add(time.Hour)
		got := replay(t, o, d, later)

		if n := len(got.Attempts); n != 2 || got.Attempts[1].N != 2 {
			t.Errorf("attempts = %+v, want 2, numbered on", got.Attempts)
		}
		if !got.ReplayedAt.Equal(later) {
			t.Errorf("replayed at %v, want the last replay %v", got.ReplayedAt, later)
		}
	})

	t.Run("an unknown delivery is ErrNotFound", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		id := firehook.NewDeliveryID(time.Now())
		if _, err := s.Outbox().Replay(id, now); !errors.Is(err, firehook.ErrNotFound) {
			t.Fatalf("Replay(%s) = %v, want ErrNotFound", id, err)
		}
		if _, ok, _ := s.Outbox().Get(id); ok {
			t.Fatal("Replay of an unknown id created it")
		}
	})
}

func TestOutbox_ReplaySurvivesAReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	d := setStatus(t, s, newDelivery(t, s, "p_1", "ep_x"), firehook.DeliveryFailed)
	want := stored(t, s.Outbox(), replay(t, s.Outbox(), d, time.Now().UTC()).ID)

	s = reopen(t, s, testConfig(dir))

	assertSameDelivery(t, stored(t, s.Outbox(), d.ID), want)
	if q := pendingIDs(t, s.Outbox(), "ep_x"); !slices.Equal(q, []string{d.ID}) {
		t.Fatalf("queue after reopening = %v, want [%s]", q, d.ID)
	}
	wantUnexpiring(t, s, want)
}

func TestOutbox_ReplaySince(t *testing.T) {
	// 40 deliveries (more than replayWorkers), one a second; every third
	// failed, every third delivered, the rest pending.
	setup := func(t *testing.T) (*Store, []firehook.Delivery) {
		t.Helper()
		s := openStore(t, testConfig(t.TempDir()))
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
		var created []firehook.Delivery
		for i := range 40 {
			d := dispatchAt(t, s, fmt.Sprintf("p_%d", i%5), "ep_x", base.Add(time.Duration(i)*time.Second))
			switch i % 3 {
			case 1:
				d = setStatus(t, s, d, firehook.DeliveryFailed)
			case 2:
				d = setStatus(t, s, d, firehook.DeliveryDelivered)
			}
			created = append(created, d)
		}
		dispatchAt(t, s, "p_1", "ep_y", base.Add(time.Minute)) // another endpoint's
		return s, created
	}
	now := time.Now().UTC()
	// wantReplayed fails unless exactly the deliveries for which replayed
	// says so were replayed at now, and the others are as created.
	wantReplayed := func(t *testing.T, o *Outbox, created []firehook.Delivery, replayed func(i int, d firehook.Delivery) bool) {
		t.Helper()
		for i, d := range created {
			got := stored(t, o, d.ID)
			if !replayed(i, d) {
				assertSameDelivery(t, got, d)
				continue
			}
			if got.Status.Finished() || !got.ReplayedAt.Equal(now) || len(got.Attempts) != len(d.Attempts) {
				t.Errorf("delivery %d (%s, was %s): status %s, replayed at %v, %d attempts; want it replayed at %v with its %d attempts",
					i, d.ID, d.Status, got.Status, got.ReplayedAt, len(got.Attempts), now, len(d.Attempts))
			}
		}
		other, _, err := o.List("ep_y", "", "", 0)
		if err != nil || len(other) != 1 || !other[0].ReplayedAt.IsZero() {
			t.Errorf("the other endpoint's deliveries = %+v, %v; want one, not replayed", other, err)
		}
	}

	t.Run("every status", func(t *testing.T) {
		s, created := setup(t)
		n, err := s.Outbox().ReplaySince("ep_x", created[10].CreatedAt, now, "")
		if err != nil || n != 30 {
			t.Fatalf("ReplaySince = %d, %v; want 30 (the 10th on)", n, err)
		}
		wantReplayed(t, s.Outbox(), created, func(i int, _ firehook.Delivery) bool { return i >= 10 })
		if q := pendingIDs(t, s.Outbox(), "ep_x"); len(q) != 30+4 { // and 4 pending before the 10th
			t.Errorf("queue has %d deliveries, want 34", len(q))
		}
	})

	t.Run("one status", func(t *testing.T) {
		s, created := setup(t)
		n, err := s.Outbox().ReplaySince("ep_x", created[10].CreatedAt, now, firehook.DeliveryFailed)
		if err != nil || n != 10 {
			t.Fatalf("ReplaySince(failed) = %d, %v; want 10", n, err)
		}
		wantReplayed(t, s.Outbox(), created, func(i int, d firehook.Delivery) bool {
			return i >= 10 && d.Status == firehook.DeliveryFailed
		})
	})

	t.Run("nothing since", func(t *testing.T) {
		s, created := setup(t)
		n, err := s.Outbox().ReplaySince("ep_x", now.Add(time.Second), now, "")
		if err != nil || n != 0 {
			t.Fatalf("ReplaySince(future) = %d, %v; want 0", n, err)
		}
		wantReplayed(t, s.Outbox(), created, func(int, firehook.Delivery) bool { return false })
	})

	t.Run("an unknown status is ErrInvalid and replays nothing", func(t *testing.T) {
		s, created := setup(t)
		n, err := s.Outbox().ReplaySince("ep_x", time.Time{}, now, "lost")
		if !errors.Is(err, firehook.ErrInvalid) || n != 0 {
			t.Fatalf("ReplaySince(lost) = %d, %v; want 0, ErrInvalid", n, err)
		}
		wantReplayed(t, s.Outbox(), created, func(int, firehook.Delivery) bool { return false })
	})
}

// A replay that comes while an attempt is in flight is not lost when the
// attempt's result is recorded: the delivery the attempt delivered stays
// pending, due at the replay, with the attempt in its receipt.
func TestOutbox_ReplayDuringAnAttemptWins(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	o := s.Outbox()
	d := newDelivery(t, s, "p_1", "ep_x") // the copy the endpoint actor tries

	replayAt := time.Now().UTC()
	if _, err := o.Replay(d.ID, replayAt); err != nil {
		t.Fatal(err)
	}
	done := d
	done.Status = firehook.DeliveryDelivered
	done.Attempts = []firehook.Attempt{{N: 1, At: replayAt.Add(-time.Millisecond), StatusCode: 200}}
	done.NextAttemptAt = time.Time{}
	stored, err := o.Record(done)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != firehook.DeliveryPending || !stored.NextAttemptAt.Equal(replayAt) || len(stored.Attempts) != 1 {
		t.Fatalf("recorded after a replay: status %s, next %v, %d attempts; want pending at %v with 1 attempt",
			stored.Status, stored.NextAttemptAt, len(stored.Attempts), replayAt)
	}
	got, ok, err := o.Get(d.ID)
	if err != nil || !ok || got.Status != firehook.DeliveryPending {
		t.Fatalf("Get = %+v, %v, %v; want pending", got, ok, err)
	}

	// Without a replay in between, the result is recorded as it is.
	again := got
	again.Status = firehook.DeliveryDelivered
	again.Attempts = append(got.Attempts, firehook.Attempt{N: 2, At: time.Now().UTC(), StatusCode: 200})
	again.NextAttemptAt = time.Time{}
	if stored, err = o.Record(again); err != nil || stored.Status != firehook.DeliveryDelivered {
		t.Fatalf("Record without a replay = %s, %v; want delivered", stored.Status, err)
	}
}
