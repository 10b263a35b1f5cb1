package persistence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"pgregory.net/rapid"

	"github.com/firehook/firehook"
)

// eventCounter makes event ids unique within the test binary.
var eventCounter atomic.Uint64

// newDelivery dispatches a new event of (tenant ten_a, person) with one
// delivery to endpoint and returns it.
func newDelivery(t testing.TB, s *Store, person, endpoint string) firehook.Delivery {
	t.Helper()
	ev := fmt.Sprintf("evt_%d", eventCounter.Add(1))
	_, dels := dispatch(t, s, ev, "ten_a", person, endpoint)
	return dels[0]
}

// setStatus records status for d (with one attempt when finished or
// retrying) and returns the updated delivery.
func setStatus(t testing.TB, s *Store, d firehook.Delivery, status firehook.DeliveryStatus) firehook.Delivery {
	t.Helper()
	d.Status = status
	if status != firehook.DeliveryPending {
		d.Attempts = append(d.Attempts, firehook.Attempt{N: len(d.Attempts) + 1, At: time.Now().UTC(), StatusCode: 500, DurationMS: 3})
	}
	if status.Finished() {
		d.NextAttemptAt = time.Time{}
	}
	if err := s.Outbox().Update(d); err != nil {
		t.Fatalf("Update(%s → %s): %v", d.ID, status, err)
	}
	got, ok, err := s.Outbox().Get(d.ID)
	if err != nil || !ok {
		t.Fatalf("Get(%s) after Update = %v, %v", d.ID, ok, err)
	}
	return got
}

// ids returns the ids of ds.
func ids(ds []firehook.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// listAll walks every page of List with limit and returns the ids in
// order, failing on a page that breaks the paging contract.
func listAll(t testing.TB, o *Outbox, endpoint string, status firehook.DeliveryStatus, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("List never returned an empty next cursor")
		}
		items, next, err := o.List(endpoint, status, cursor, limit)
		if err != nil {
			t.Fatalf("List(%s, %q, %q, %d): %v", endpoint, status, cursor, limit, err)
		}
		if len(items) > limit || (next != "" && len(items) != limit) {
			t.Fatalf("page %d has %d items (limit %d) and next %q", page, len(items), limit, next)
		}
		for _, d := range items {
			if d.Payload != nil {
				t.Fatalf("List item %s carries a payload", d.ID)
			}
			if status != "" && d.Status != status {
				t.Fatalf("List(%s) returned %s with status %s", status, d.ID, d.Status)
			}
		}
		out = append(out, ids(items)...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// keyExpiry returns the expiry of a raw key (0: never) and whether the key
// is there.
func keyExpiry(t testing.TB, s *Store, key string) (uint64, bool) {
	t.Helper()
	var exp uint64
	var ok bool
	err := s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		exp, ok = it.ExpiresAt(), true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return exp, ok
}

// deliveryKeys are every key of d but the queue's.
func deliveryKeys(d firehook.Delivery) []string {
	return []string{prefixDelivery + d.ID, prefixPayload + d.ID, prefixDlvEndpoint + d.EndpointID + "/" + d.ID, statusKey(&d)}
}

func TestOutbox_GetAndUpdate(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	o := s.Outbox()
	d := newDelivery(t, s, "p_1", "ep_x")

	if _, ok, err := o.Get(firehook.NewDeliveryID(time.Now())); ok || err != nil {
		t.Fatalf("Get of an unknown id = %v, %v; want not found", ok, err)
	}

	// An attempt failed: the actor records it and schedules the next.
	next := time.Now().Add(5 * time.Second).UTC()
	u := d
	u.Status = firehook.DeliveryRetrying
	u.Attempts = []firehook.Attempt{{N: 1, At: t0, StatusCode: 503, DurationMS: 12, ResponseSnippet: "busy"}}
	u.NextAttemptAt = next
	u.Type, u.Sequence, u.Payload = "tampered", 99, nil // fixed at creation: ignored
	if err := o.Update(u); err != nil {
		t.Fatal(err)
	}
	want := d
	want.Status, want.Attempts, want.NextAttemptAt = u.Status, u.Attempts, next
	got, ok, err := o.Get(d.ID)
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	if !got.UpdatedAt.After(d.CreatedAt) {
		t.Fatalf("UpdatedAt %v is not after CreatedAt %v", got.UpdatedAt, d.CreatedAt)
	}
	want.UpdatedAt = got.UpdatedAt
	assertSameDelivery(t, got, want)

	s = reopen(t, s, testConfig(dir))
	o = s.Outbox()
	got, ok, err = o.Get(d.ID)
	if err != nil || !ok {
		t.Fatalf("Get after reopening = %v, %v", ok, err)
	}
	assertSameDelivery(t, got, want)

	// The receipt's JSON is API.md's, without the payload.
	got = setStatus(t, s, got, firehook.DeliveryDelivered)
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var receipt map[string]any
	if err := json.Unmarshal(b, &receipt); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "event_id", "endpoint_id", "status", "attempts"} {
		if _, ok := receipt[k]; !ok {
			t.Errorf("receipt %s has no %q", b, k)
		}
	}
	if _, ok := receipt["next_attempt_at"]; ok {
		t.Errorf("receipt of a delivered delivery %s has a next_attempt_at", b)
	}
	if bytes.Contains(b, []byte("payload")) || bytes.Contains(b, d.Payload) {
		t.Errorf("receipt %s shows the payload", b)
	}
	attempt := receipt["attempts"].([]any)[0].(map[string]any)
	for _, k := range []string{"n", "at", "status_code", "duration_ms", "error", "response_snippet"} {
		if _, ok := attempt[k]; !ok {
			t.Errorf("attempt %v has no %q", attempt, k)
		}
	}

	u.ID = firehook.NewDeliveryID(time.Now())
	if err := o.Update(u); !errors.Is(err, firehook.ErrNotFound) {
		t.Fatalf("Update of an unknown delivery = %v, want ErrNotFound", err)
	}
	u.ID, u.Status = d.ID, "lost"
	if err := o.Update(u); !errors.Is(err, firehook.ErrInvalid) {
		t.Fatalf("Update with an unknown status = %v, want ErrInvalid", err)
	}
}

func TestOutbox_List(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	o := s.Outbox()
	statuses := []firehook.DeliveryStatus{firehook.DeliveryDelivered, firehook.DeliveryRetrying, firehook.DeliveryPending, firehook.DeliveryFailed}
	var created []firehook.Delivery // ep_x's, in creation order
	for i := range 13 {
		d := newDelivery(t, s, fmt.Sprintf("p_%d", i%4), "ep_x")
		if i%5 == 0 {
			newDelivery(t, s, "p_other", "ep_y")
		}
		if st := statuses[i%len(statuses)]; st != firehook.DeliveryPending {
			d = setStatus(t, s, d, st)
		}
		created = append(created, d)
	}
	newestFirst := func(keep func(firehook.Delivery) bool) []string {
		var out []string
		for _, d := range slices.Backward(created) {
			if keep(d) {
				out = append(out, d.ID)
			}
		}
		return out
	}

	t.Run("newest first, every item once on any page size", func(t *testing.T) {
		all := newestFirst(func(firehook.Delivery) bool { return true })
		items, next, err := o.List("ep_x", "", "", 0)
		if err != nil || next != "" || !slices.Equal(ids(items), all) {
			t.Fatalf("List without limit = %v, next %q, %v; want %v", ids(items), next, err, all)
		}
		for limit := 1; limit <= 14; limit++ {
			if got := listAll(t, o, "ep_x", "", limit); !slices.Equal(got, all) {
				t.Fatalf("pages of %d = %v, want %v", limit, got, all)
			}
		}
	})

	t.Run("status filter", func(t *testing.T) {
		for _, st := range statuses {
			want := newestFirst(func(d firehook.Delivery) bool { return d.Status == st })
			for _, limit := range []int{1, 2, 100} {
				if got := listAll(t, o, "ep_x", st, limit); !slices.Equal(got, want) {
					t.Fatalf("status %s in pages of %d = %v, want %v", st, limit, got, want)
				}
			}
		}
	})

	t.Run("endpoints are apart", func(t *testing.T) {
		items, _, err := o.List("ep_y", "", "", 0)
		if err != nil || len(items) != 3 {
			t.Fatalf("ep_y: %d items, %v; want 3", len(items), err)
		}
		if items, _, err := o.List("ep_none", "", "", 0); err != nil || len(items) != 0 {
			t.Fatalf("unknown endpoint: %d items, %v; want none", len(items), err)
		}
	})

	t.Run("a cursor continues after its item while new ones arrive", func(t *testing.T) {
		all := newestFirst(func(firehook.Delivery) bool { return true })
		items, next, err := o.List("ep_x", "", "", 4)
		if err != nil || next == "" {
			t.Fatalf("first page: %v, next %q", err, next)
		}
		newer := newDelivery(t, s, "p_new", "ep_x")
		rest := listAllFrom(t, o, "ep_x", next, 4)
		if got := append(ids(items), rest...); !slices.Equal(got, all) {
			t.Fatalf("pages around a new delivery = %v, want %v", got, all)
		}
		created = append(created, newer)
	})

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []string{"!!!", "Zm9vL2Jhcg" /* foo/bar */} {
			if _, _, err := o.List("ep_x", "", c, 10); !errors.Is(err, firehook.ErrInvalid) {
				t.Errorf("List with cursor %q = %v, want ErrInvalid", c, err)
			}
		}
		if _, _, err := o.List("ep_x", "lost", "", 10); !errors.Is(err, firehook.ErrInvalid) {
			t.Errorf("List with an unknown status = %v, want ErrInvalid", err)
		}
	})
}

// listAllFrom is listAll from a cursor.
func listAllFrom(t testing.TB, o *Outbox, endpoint, cursor string, limit int) []string {
	t.Helper()
	var out []string
	for cursor != "" {
		items, next, err := o.List(endpoint, "", cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ids(items)...)
		cursor = next
	}
	return out
}

func TestOutbox_Pending(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	// In creation order: p_1 first (FM), p_1 again (EU), p_2 first (FM),
	// p_1 (EU), p_3 first (FM).
	var d [5]firehook.Delivery
	for i, p := range []string{"p_1", "p_1", "p_2", "p_1", "p_3"} {
		d[i] = newDelivery(t, s, p, "ep_x")
	}
	newDelivery(t, s, "p_1", "ep_y") // another endpoint's queue
	pending := func(limit int) []firehook.Delivery {
		t.Helper()
		var out []firehook.Delivery
		after := ""
		for {
			items, next, err := s.Outbox().Pending("ep_x", after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if limit > 0 && len(items) > limit {
				t.Fatalf("Pending page of %d items, limit %d", len(items), limit)
			}
			out = append(out, items...)
			if next == "" {
				return out
			}
			after = next
		}
	}
	wantQueue := func(what string, want ...firehook.Delivery) {
		t.Helper()
		for _, limit := range []int{0, 1, 2, 10} {
			got := pending(limit)
			if !slices.Equal(ids(got), ids(want)) {
				t.Fatalf("%s: queue in pages of %d = %v, want %v", what, limit, ids(got), ids(want))
			}
			for _, g := range got {
				if len(g.Payload) == 0 {
					t.Fatalf("%s: Pending item %s carries no payload", what, g.ID)
				}
			}
		}
	}

	wantQueue("First Match before Every Update, then creation order", d[0], d[2], d[4], d[1], d[3])

	d[2] = setStatus(t, s, d[2], firehook.DeliveryDelivered)
	d[1] = setStatus(t, s, d[1], firehook.DeliveryRetrying)
	d[4] = setStatus(t, s, d[4], firehook.DeliveryFailed)
	wantQueue("after delivering one, failing one and retrying one", d[0], d[1], d[3])

	s = reopen(t, s, testConfig(dir))
	wantQueue("after a restart", d[0], d[1], d[3])

	// Replay: a finished delivery set back to pending is queued again.
	d[2] = setStatus(t, s, d[2], firehook.DeliveryPending)
	wantQueue("after replaying one", d[0], d[2], d[1], d[3])

	if _, _, err := s.Outbox().Pending("ep_x", "%%", 1); !errors.Is(err, firehook.ErrInvalid) {
		t.Fatalf("Pending with a malformed cursor = %v, want ErrInvalid", err)
	}
}

func TestOutbox_Since(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond).Add(500 * time.Microsecond).UTC()
	var created []firehook.Delivery
	for i := range 8 {
		ev := fmt.Sprintf("evt_since_%d", i)
		at := base.Add(time.Duration(i) * time.Second)
		_, dels, err := s.Dispatch(ev, "ten_a", "p_1", func(Decision) ([]firehook.Delivery, error) {
			return []firehook.Delivery{{EndpointID: "ep_x", CreatedAt: at, Payload: []byte(ev)}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		d := dels[0]
		if i%2 == 1 {
			d = setStatus(t, s, d, firehook.DeliveryFailed)
		}
		created = append(created, d)
	}
	from := func(i int, keep func(firehook.Delivery) bool) []string {
		var out []string
		for _, d := range created[i:] {
			if keep == nil || keep(d) {
				out = append(out, d.ID)
			}
		}
		return out
	}
	failed := func(d firehook.Delivery) bool { return d.Status == firehook.DeliveryFailed }
	for _, c := range []struct {
		name   string
		since  time.Time
		status firehook.DeliveryStatus
		want   []string
	}{
		{"zero time: all", time.Time{}, "", from(0, nil)},
		{"at a creation instant: inclusive", created[3].CreatedAt, "", from(3, nil)},
		{"a nanosecond later: exclusive", created[3].CreatedAt.Add(time.Nanosecond), "", from(4, nil)},
		{"same millisecond, earlier", created[3].CreatedAt.Add(-100 * time.Microsecond), "", from(3, nil)},
		{"failed since the third", created[2].CreatedAt, firehook.DeliveryFailed, from(2, failed)},
		{"after the last", created[7].CreatedAt.Add(time.Second), "", nil},
	} {
		got, err := s.Outbox().Since("ep_x", c.since, c.status)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(ids(got), c.want) {
			t.Fatalf("%s: Since = %v, want %v", c.name, ids(got), c.want)
		}
	}
	if _, err := s.Outbox().Since("ep_x", base, "lost"); !errors.Is(err, firehook.ErrInvalid) {
		t.Fatalf("Since with an unknown status = %v, want ErrInvalid", err)
	}
}

func TestOutbox_ReceiptsExpire(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Outbox.ReceiptRetention = 3 * time.Second // badger expires to the second: at least 2 s of life, so the checks before the expiry are not racing it
	s := openStore(t, cfg)
	o := s.Outbox()
	done := newDelivery(t, s, "p_1", "ep_x")
	waiting := newDelivery(t, s, "p_2", "ep_x")
	replayed := newDelivery(t, s, "p_3", "ep_x")

	done = setStatus(t, s, done, firehook.DeliveryDelivered)
	for _, k := range deliveryKeys(done) {
		if exp, ok := keyExpiry(t, s, k); !ok || exp == 0 {
			t.Fatalf("key %q of a delivered delivery: present %v, expiry %d; want an expiry", k, ok, exp)
		}
	}
	if _, ok := keyExpiry(t, s, queueKey(&done)); ok {
		t.Fatal("a delivered delivery is still queued")
	}

	// A replayed receipt (finished, then pending again) expires no more.
	replayed = setStatus(t, s, replayed, firehook.DeliveryFailed)
	replayed = setStatus(t, s, replayed, firehook.DeliveryPending)
	for _, d := range []firehook.Delivery{waiting, replayed} {
		for _, k := range append(deliveryKeys(d), queueKey(&d)) {
			if exp, ok := keyExpiry(t, s, k); !ok || exp != 0 {
				t.Fatalf("key %q of an unfinished delivery: present %v, expiry %d; want no expiry", k, ok, exp)
			}
		}
	}
	if _, ok := keyExpiry(t, s, prefixDlvStatus+"ep_x/failed/"+replayed.ID); ok {
		t.Fatal("the replayed delivery is still indexed as failed")
	}

	waitFor(t, 10*time.Second, "the delivered receipt to expire", func() bool {
		_, ok, err := o.Get(done.ID)
		if err != nil {
			t.Fatal(err)
		}
		return !ok
	})
	for _, k := range deliveryKeys(done) {
		if _, ok := keyExpiry(t, s, k); ok {
			t.Fatalf("key %q of the expired receipt is still there", k)
		}
	}
	if items, _, err := o.List("ep_x", firehook.DeliveryDelivered, "", 0); err != nil || len(items) != 0 {
		t.Fatalf("List(delivered) after expiry = %v, %v; want none", ids(items), err)
	}
	if got := listAll(t, o, "ep_x", "", 10); !slices.Equal(got, []string{replayed.ID, waiting.ID}) {
		t.Fatalf("List after expiry = %v, want the two unfinished ones", got)
	}
	for _, d := range []firehook.Delivery{waiting, replayed} {
		got, ok, err := o.Get(d.ID)
		if err != nil || !ok || !bytes.Equal(got.Payload, d.Payload) {
			t.Fatalf("Get(%s) of an unfinished delivery after expiry = %v, %v, payload %q", d.ID, ok, err, got.Payload)
		}
	}
	if items, _, err := o.Pending("ep_x", "", 0); err != nil || len(items) != 2 {
		t.Fatalf("Pending after expiry = %v, %v; want 2", ids(items), err)
	}
}

// TestOutbox_ListPagesProperty: for any set of deliveries with any
// statuses, any page size and any status filter, walking the pages gives
// every matching delivery exactly once, newest first, even when new
// deliveries arrive during the walk.
func TestOutbox_ListPagesProperty(t *testing.T) {
	cfg := testConfig("")
	cfg.InMemory = true
	s := openStore(t, cfg)
	statuses := []firehook.DeliveryStatus{firehook.DeliveryPending, firehook.DeliveryDelivered, firehook.DeliveryRetrying, firehook.DeliveryFailed}
	var endpoints atomic.Uint64
	rapid.Check(t, func(rt *rapid.T) {
		ep := fmt.Sprintf("ep_%d", endpoints.Add(1))
		n := rapid.IntRange(0, 20).Draw(rt, "deliveries")
		limit := rapid.IntRange(1, 7).Draw(rt, "limit")
		filter := rapid.SampledFrom(append([]firehook.DeliveryStatus{""}, statuses...)).Draw(rt, "status")
		var want []string
		for i := range n {
			d := newDelivery(t, s, fmt.Sprintf("p_%d", rapid.IntRange(0, 3).Draw(rt, fmt.Sprintf("person %d", i))), ep)
			st := rapid.SampledFrom(statuses).Draw(rt, fmt.Sprintf("status %d", i))
			if st != firehook.DeliveryPending {
				d = setStatus(t, s, d, st)
			}
			if filter == "" || st == filter {
				want = append(want, d.ID)
			}
		}
		slices.Reverse(want)
		arrivals := rapid.IntRange(0, 3).Draw(rt, "arrivals during the walk")

		var got []string
		cursor := ""
		for page := 0; ; page++ {
			if page > n+1 {
				rt.Fatalf("more than %d pages for %d deliveries", page, n)
			}
			items, next, err := s.Outbox().List(ep, filter, cursor, limit)
			if err != nil {
				rt.Fatal(err)
			}
			if len(items) > limit || (next != "" && len(items) != limit) {
				rt.Fatalf("page %d: %d items, limit %d, next %q", page, len(items), limit, next)
			}
			got = append(got, ids(items)...)
			if next == "" {
				break
			}
			cursor = next
			for range arrivals {
				newDelivery(t, s, "p_late", ep) // newer than the cursor: not on the later pages
			}
			arrivals = 0
		}
		if !slices.Equal(got, want) {
			rt.Fatalf("pages gave %v, want %v", got, want)
		}
		if strings.Contains(cursor, "/") {
			rt.Fatalf("cursor %q is not opaque", cursor)
		}
	})
}

// TestOutbox_ConcurrentUpdatesKeepIndexesConsistent updates the same
// deliveries from many goroutines with different statuses: whichever
// update lands last, each delivery is indexed once, under its final
// status, and queued exactly when unfinished.
func TestOutbox_ConcurrentUpdatesKeepIndexesConsistent(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	o := s.Outbox()
	var ds []firehook.Delivery
	for i := range 6 {
		ds = append(ds, newDelivery(t, s, fmt.Sprintf("p_%d", i), "ep_x"))
	}
	statuses := []firehook.DeliveryStatus{firehook.DeliveryPending, firehook.DeliveryDelivered, firehook.DeliveryRetrying, firehook.DeliveryFailed}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for i := range 20 {
				d := ds[(g+i)%len(ds)]
				d.Status = statuses[(g*7+i)%len(statuses)]
				if err := o.Update(d); err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	waitGroupWithin(t, &wg, time.Minute, "concurrent updates")
	t.Logf("stats after the updates: %+v", o.Stats())

	byStatus := map[string]firehook.DeliveryStatus{}
	for _, st := range statuses {
		items, _, err := o.List("ep_x", st, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range items {
			if prev, ok := byStatus[d.ID]; ok {
				t.Fatalf("%s is indexed as %s and as %s", d.ID, prev, st)
			}
			byStatus[d.ID] = st
		}
	}
	queued, _, err := o.Pending("ep_x", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		got, ok, err := o.Get(d.ID)
		if err != nil || !ok {
			t.Fatalf("Get(%s) = %v, %v", d.ID, ok, err)
		}
		if byStatus[d.ID] != got.Status {
			t.Fatalf("%s has status %s but is indexed as %q", d.ID, got.Status, byStatus[d.ID])
		}
		if inQueue := slices.Contains(ids(queued), d.ID); inQueue == got.Status.Finished() {
			t.Fatalf("%s has status %s, queued: %v", d.ID, got.Status, inQueue)
		}
	}
}

// Record writes like Update — reads see it at once, a reopened store has
// it — but does not wait for an fsync: the flush loop brings one within
// FlushInterval when no other write does.
func TestOutbox_RecordIsReadAtOnceAndFlushedWithinTheInterval(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Outbox.FlushInterval = 20 * time.Millisecond
	s := openStore(t, cfg)
	o := s.Outbox()
	d := newDelivery(t, s, "p_1", "ep_x")
	syncs := o.Stats().Syncs

	u := d
	u.Status = firehook.DeliveryDelivered
	u.Attempts = []firehook.Attempt{{N: 1, At: t0, StatusCode: 200, DurationMS: 3}}
	u.NextAttemptAt = time.Time{}
	if _, err := o.Record(u); err != nil {
		t.Fatal(err)
	}
	got, ok, err := o.Get(d.ID)
	if err != nil || !ok || got.Status != firehook.DeliveryDelivered || len(got.Attempts) != 1 {
		t.Fatalf("Get after Record = %+v, %v, %v", got, ok, err)
	}
	if pend, _, err := o.Pending("ep_x", "", 10); err != nil || len(pend) != 0 {
		t.Fatalf("Pending after a recorded delivery = %d, %v; want none", len(pend), err)
	}
	waitFor(t, 5*time.Second, "an fsync by the flush loop", func() bool { return o.Stats().Syncs > syncs })

	s = reopen(t, s, cfg)
	got, ok, err = s.Outbox().Get(d.ID)
	if err != nil || !ok || got.Status != firehook.DeliveryDelivered {
		t.Fatalf("Get after reopening = %+v, %v, %v", got, ok, err)
	}
	u.Status = "lost"
	if _, err := s.Outbox().Record(u); !errors.Is(err, firehook.ErrInvalid) {
		t.Fatalf("Record with an unknown status = %v, want ErrInvalid", err)
	}
}
