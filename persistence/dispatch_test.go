package persistence

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// payloadOf is the body a test build gives the deliveries of an event.
func payloadOf(eventID string, d Decision) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":%q,"sequence":%d}`, eventID, d.Type, d.Sequence)
}

// buildFor returns a build that makes one delivery per endpoint, with the
// payload of payloadOf, and counts its calls in calls (when not nil).
func buildFor(calls *atomic.Int32, eventID string, endpoints ...string) func(Decision) ([]firehook.Delivery, error) {
	return func(d Decision) ([]firehook.Delivery, error) {
		if calls != nil {
			calls.Add(1)
		}
		out := make([]firehook.Delivery, len(endpoints))
		for i, ep := range endpoints {
			out[i] = firehook.Delivery{EndpointID: ep, Payload: payloadOf(eventID, d)}
		}
		return out, nil
	}
}

// dispatch dispatches eventID for (tenant, person) with one delivery per
// endpoint and fails the test on error.
func dispatch(t testing.TB, s *Store, eventID, tenant, person string, endpoints ...string) (Decision, []firehook.Delivery) {
	t.Helper()
	dec, dels, err := s.Dispatch(eventID, tenant, person, buildFor(nil, eventID, endpoints...))
	if err != nil {
		t.Fatalf("Dispatch(%s, %s, %s): %v", eventID, tenant, person, err)
	}
	return dec, dels
}

// wantDecision fails the test unless dec is (typ, seq) and replayed as said.
func wantDecision(t testing.TB, what string, dec Decision, typ string, seq uint64, replayed bool) {
	t.Helper()
	if want := (Decision{Type: typ, Sequence: seq, Replayed: replayed}); dec != want {
		t.Fatalf("%s: decision %+v, want %+v", what, dec, want)
	}
}

func TestStore_Dispatch(t *testing.T) {
	t.Run("first is identified with sequence 1, later updated n+1", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		dec, dels := dispatch(t, s, "evt_1", "ten_a", "p_1", "ep_x", "ep_y")
		wantDecision(t, "first event", dec, firehook.EventIdentified, 1, false)
		if len(dels) != 2 {
			t.Fatalf("%d deliveries, want 2", len(dels))
		}
		for i, d := range dels {
			if !validDeliveryID(d.ID) || d.EventID != "evt_1" || d.TenantID != "ten_a" || d.PersonKey != "ten_a/p_1" ||
				d.EndpointID != []string{"ep_x", "ep_y"}[i] || d.Type != firehook.EventIdentified || d.Sequence != 1 ||
				d.Priority != firehook.PriorityFirstMatch || d.Status != firehook.DeliveryPending ||
				d.CreatedAt.IsZero() || !d.UpdatedAt.Equal(d.CreatedAt) || !d.NextAttemptAt.Equal(d.CreatedAt) ||
				!bytes.Equal(d.Payload, payloadOf("evt_1", dec)) {
				t.Fatalf("delivery %d not filled in as the decision says: %+v", i, d)
			}
			got, ok, err := s.Outbox().Get(d.ID)
			if err != nil || !ok {
				t.Fatalf("Get(%s) = %v, %v; want the delivery", d.ID, ok, err)
			}
			assertSameDelivery(t, got, d)
		}
		for i := uint64(2); i <= 5; i++ {
			dec, dels := dispatch(t, s, fmt.Sprintf("evt_%d", i), "ten_a", "p_1", "ep_x")
			wantDecision(t, fmt.Sprintf("event %d", i), dec, firehook.EventUpdated, i, false)
			if d := dels[0]; d.Type != firehook.EventUpdated || d.Sequence != i || d.Priority != firehook.PriorityEveryUpdate {
				t.Fatalf("delivery of event %d: %+v", i, d)
			}
		}
	})

	t.Run("the same event twice gives the first decision and stores nothing new", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		dispatch(t, s, "evt_0", "ten_a", "p_1", "ep_x")
		var calls atomic.Int32
		first, dels, err := s.Dispatch("evt_1", "ten_a", "p_1", buildFor(&calls, "evt_1", "ep_x", "ep_y"))
		if err != nil {
			t.Fatal(err)
		}
		again, dels2, err := s.Dispatch("evt_1", "ten_a", "p_1", buildFor(&calls, "evt_1", "ep_x", "ep_y"))
		if err != nil {
			t.Fatal(err)
		}
		wantDecision(t, "first call", first, firehook.EventUpdated, 2, false)
		wantDecision(t, "second call", again, firehook.EventUpdated, 2, true)
		if n := calls.Load(); n != 1 {
			t.Fatalf("build called %d times, want 1", n)
		}
		if len(dels2) != len(dels) {
			t.Fatalf("replay returned %d deliveries, want %d", len(dels2), len(dels))
		}
		for i := range dels {
			assertSameDelivery(t, dels2[i], dels[i])
		}
		// Stored once: one receipt per endpoint for the event, and the
		// person's sequence did not move.
		for _, ep := range []string{"ep_x", "ep_y"} {
			items, _, err := s.Outbox().List(ep, "", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, d := range items {
				if d.EventID == "evt_1" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("endpoint %s has %d deliveries of evt_1, want 1", ep, n)
			}
		}
		dec, _ := dispatch(t, s, "evt_2", "ten_a", "p_1", "ep_x")
		wantDecision(t, "next event", dec, firehook.EventUpdated, 3, false)

		// A replay that resolved to another person still gets the first
		// decision, and leaves the other person unseen.
		dec, _ = dispatch(t, s, "evt_1", "ten_a", "p_2", "ep_x")
		wantDecision(t, "replay for another person", dec, firehook.EventUpdated, 2, true)
		dec, _ = dispatch(t, s, "evt_3", "ten_a", "p_2", "ep_x")
		wantDecision(t, "p_2's first event", dec, firehook.EventIdentified, 1, false)
	})

	t.Run("first match happens once across restarts", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, testConfig(dir))
		dec, _ := dispatch(t, s, "evt_1", "ten_a", "p_1", "ep_x")
		wantDecision(t, "first event", dec, firehook.EventIdentified, 1, false)

		s = reopen(t, s, testConfig(dir))
		dec, dels := dispatch(t, s, "evt_1", "ten_a", "p_1", "ep_x")
		wantDecision(t, "replay after restart", dec, firehook.EventIdentified, 1, true)
		if len(dels) != 1 || !bytes.Equal(dels[0].Payload, payloadOf("evt_1", Decision{Type: firehook.EventIdentified, Sequence: 1})) {
			t.Fatalf("replay after restart returned %+v", dels)
		}
		dec, _ = dispatch(t, s, "evt_2", "ten_a", "p_1", "ep_x")
		wantDecision(t, "second event after restart", dec, firehook.EventUpdated, 2, false)

		s = reopen(t, s, testConfig(dir))
		dec, _ = dispatch(t, s, "evt_3", "ten_a", "p_1", "ep_x")
		wantDecision(t, "third event after a second restart", dec, firehook.EventUpdated, 3, false)
	})

	t.Run("sequences are per person and per tenant", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		next := map[string]uint64{}
		lanes := [][2]string{{"ten_a", "p_1"}, {"ten_a", "p_2"}, {"ten_b", "p_1"}, {"ten_b", "p/with/slashes"}}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 60 {
			l := lanes[rng.IntN(len(lanes))]
			key := l[0] + "/" + l[1]
			next[key]++
			dec, _ := dispatch(t, s, fmt.Sprintf("evt_%d", i), l[0], l[1], "ep_x")
			typ := firehook.EventUpdated
			if next[key] == 1 {
				typ = firehook.EventIdentified
			}
			wantDecision(t, fmt.Sprintf("event %d of %s", i, key), dec, typ, next[key], false)
		}
	})

	t.Run("deliveries are committed when it returns and on disk after the checkpoint", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, testConfig(dir))
		// Every fsync records whether the event's decision was already
		// committed when it started: the checkpoint must run such a one.
		var synced atomic.Bool
		realSync := s.outbox.gs.sync
		s.outbox.gs.sync = func() error {
			err := s.db.View(func(txn *badger.Txn) error {
				_, err := txn.Get([]byte(prefixDispatched + "evt_1"))
				return err
			})
			if err := realSync(); err != nil {
				return err
			}
			if err == nil {
				synced.Store(true)
			}
			return nil
		}
		_, dels := dispatch(t, s, "evt_1", "ten_a", "p_1", "ep_x", "ep_y")
		if synced.Load() {
			t.Fatal("Dispatch waited for an fsync; the decision is derived state, the checkpoint syncs it")
		}
		for _, d := range dels {
			if _, ok, err := s.Outbox().Get(d.ID); err != nil || !ok {
				t.Fatalf("Get(%s) right after Dispatch = %v, %v; want it committed", d.ID, ok, err)
			}
		}
		if err := s.MarkProcessed(1); err != nil {
			t.Fatal(err)
		}
		if !synced.Load() {
			t.Fatal("the checkpoint returned before an fsync that started after the decision's commit")
		}

		s = reopen(t, s, testConfig(dir))
		for _, d := range dels {
			got, ok, err := s.Outbox().Get(d.ID)
			if err != nil || !ok {
				t.Fatalf("Get(%s) after reopening = %v, %v", d.ID, ok, err)
			}
			assertSameDelivery(t, got, d)
		}
	})

	t.Run("a failed fsync fails the checkpoint and stops writes", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, testConfig(dir))
		_, dels := dispatch(t, s, "evt_0", "ten_a", "p_0", "ep_x")
		s.outbox.gs.sync = func() error { return errors.New("disk on fire") }
		if err := s.MarkProcessed(1); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("MarkProcessed with a failing fsync = %v, want the fsync's error", err)
		}
		s.outbox.gs.sync = s.db.Sync // the disk is back, but the state is unknown: still refused
		if _, _, err := s.Dispatch("evt_2", "ten_a", "p_2", buildFor(nil, "evt_2", "ep_x")); err == nil {
			t.Fatal("Dispatch after a failed fsync succeeded")
		}
		d := dels[0]
		d.Status = firehook.DeliveryDelivered
		if err := s.Outbox().Update(d); err == nil {
			t.Fatal("Update after a failed fsync succeeded")
		}
		if err := s.MarkProcessed(1); err == nil {
			t.Fatal("MarkProcessed after a failed fsync succeeded")
		}
		// A restart clears it.
		s = reopen(t, s, testConfig(dir))
		dec, _ := dispatch(t, s, "evt_3", "ten_a", "p_0", "ep_x")
		wantDecision(t, "after restart", dec, firehook.EventUpdated, 2, false)
	})

	t.Run("invalid input stores nothing", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		boom := errors.New("boom")
		if _, _, err := s.Dispatch("evt_1", "ten_a", "p_1", func(Decision) ([]firehook.Delivery, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("Dispatch with a failing build = %v, want it wrapped", err)
		}
		bad := map[string]firehook.Delivery{
			"no endpoint":    {},
			"slash endpoint": {EndpointID: "ep/x"},
			"other event":    {EndpointID: "ep_x", EventID: "evt_9"},
			"other tenant":   {EndpointID: "ep_x", TenantID: "ten_b"},
			"other person":   {EndpointID: "ep_x", PersonKey: "ten_a/p_9"},
			"other type":     {EndpointID: "ep_x", Type: firehook.EventUpdated},
			"other sequence": {EndpointID: "ep_x", Sequence: 7},
			"other priority": {EndpointID: "ep_x", Priority: 1},
			"unknown status": {EndpointID: "ep_x", Status: "lost"},
			"not a ULID id":  {EndpointID: "ep_x", ID: "dlv_123"},
			"not a dlv_ id":  {EndpointID: "ep_x", ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
			"endpoint twice": {EndpointID: "ep_x"},
			"id twice":       {EndpointID: "ep_y", ID: "dlv_01ARZ3NDEKTSV4RRFFQ69G5FAV"},
			"huge priority":  {EndpointID: "ep_x", Priority: 300},
		}
		for name, d := range bad {
			dels := []firehook.Delivery{d}
			switch name {
			case "endpoint twice":
				dels = append(dels, firehook.Delivery{EndpointID: "ep_x"})
			case "id twice":
				dels = append(dels, firehook.Delivery{EndpointID: "ep_z", ID: d.ID})
			}
			_, _, err := s.Dispatch("evt_1", "ten_a", "p_1", func(Decision) ([]firehook.Delivery, error) { return dels, nil })
			if !errors.Is(err, firehook.ErrInvalid) {
				t.Errorf("%s: Dispatch = %v, want ErrInvalid", name, err)
			}
		}
		for _, args := range [][3]string{{"", "ten_a", "p_1"}, {"evt_1", "", "p_1"}, {"evt_1", "ten_a", ""}, {"evt_1", "ten/a", "p_1"}} {
			if _, _, err := s.Dispatch(args[0], args[1], args[2], buildFor(nil, "evt_1", "ep_x")); !errors.Is(err, firehook.ErrInvalid) {
				t.Errorf("Dispatch%q = %v, want ErrInvalid", args, err)
			}
		}
		// Nothing was decided: the person's first event is still First Match.
		dec, _ := dispatch(t, s, "evt_1", "ten_a", "p_1", "ep_x")
		wantDecision(t, "after the failures", dec, firehook.EventIdentified, 1, false)
		if items, _, _ := s.Outbox().List("ep_x", "", "", 0); len(items) != 1 {
			t.Fatalf("ep_x has %d deliveries, want 1", len(items))
		}
	})

	t.Run("zero deliveries still decide", func(t *testing.T) {
		s := openStore(t, testConfig(t.TempDir()))
		dec, dels := dispatch(t, s, "evt_1", "ten_a", "p_1")
		wantDecision(t, "no endpoint", dec, firehook.EventIdentified, 1, false)
		if len(dels) != 0 {
			t.Fatalf("%d deliveries, want none", len(dels))
		}
		dec, _ = dispatch(t, s, "evt_2", "ten_a", "p_1", "ep_x")
		wantDecision(t, "then an endpoint", dec, firehook.EventUpdated, 2, false)
	})
}

// TestStore_DispatchConcurrent dispatches the events of many persons from
// many goroutines in random interleavings (one person's events on several
// goroutines at once, which the visitor actor never does): every person's
// sequences are exactly 1..n, the first one alone identified.
func TestStore_DispatchConcurrent(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Outbox.FlushInterval = time.Hour // no flush of its own: the fsyncs counted are the checkpoint's
	s := openStore(t, cfg)
	const persons, perPerson, goroutines = 40, 15, 32
	type job struct{ event, tenant, person string }
	jobs := make(chan job, persons*perPerson)
	var all []job
	for p := range persons {
		tenant := []string{"ten_a", "ten_b"}[p%2]
		for i := range perPerson {
			all = append(all, job{fmt.Sprintf("evt_%d_%d", p, i), tenant, fmt.Sprintf("p_%d", p/2)})
		}
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for _, j := range all {
		jobs <- j
	}
	close(jobs)

	var mu sync.Mutex
	got := map[string][]Decision{} // by person key
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for j := range jobs {
				dec, _, err := s.Dispatch(j.event, j.tenant, j.person, buildFor(nil, j.event, "ep_x"))
				if err != nil {
					t.Errorf("Dispatch(%s): %v", j.event, err)
					return
				}
				mu.Lock()
				got[firehook.PersonKey(j.tenant, j.person)] = append(got[firehook.PersonKey(j.tenant, j.person)], dec)
				mu.Unlock()
			}
		})
	}
	waitGroupWithin(t, &wg, time.Minute, "concurrent dispatches")
	if t.Failed() {
		return
	}
	if len(got) != persons {
		t.Fatalf("%d persons dispatched, want %d", len(got), persons)
	}
	for key, decs := range got {
		slices.SortFunc(decs, func(a, b Decision) int { return cmp.Compare(a.Sequence, b.Sequence) })
		for i, d := range decs {
			typ := firehook.EventUpdated
			if i == 0 {
				typ = firehook.EventIdentified
			}
			if d.Sequence != uint64(i+1) || d.Type != typ || d.Replayed {
				t.Fatalf("%s: decisions in sequence order %+v: position %d is wrong", key, decs, i)
			}
		}
	}
	items, _, err := s.Outbox().List("ep_x", "", "", 0)
	if err != nil || len(items) != persons*perPerson {
		t.Fatalf("List = %d items, %v; want %d", len(items), err, persons*perPerson)
	}
	if st := s.Outbox().Stats(); st.Syncs != 0 {
		t.Fatalf("stats %+v: dispatches ran fsyncs; only the checkpoint should", st)
	}
	if err := s.MarkProcessed(1); err != nil {
		t.Fatal(err)
	}
	if st := s.Outbox().Stats(); st.Syncs != 1 {
		t.Fatalf("stats %+v: want one fsync, the checkpoint's", st)
	}

	// The sequences continue after a restart.
	s = reopen(t, s, testConfig(dir))
	dec, _ := dispatch(t, s, "evt_after", "ten_a", "p_0", "ep_x")
	wantDecision(t, "after restart", dec, firehook.EventUpdated, perPerson+1, false)
}

// TestStore_DispatchOneEventForTwoPersonsAtOnce races two dispatches of
// one event that resolved to different persons (different lock stripes):
// badger's conflict detection lets exactly one decide.
func TestStore_DispatchOneEventForTwoPersonsAtOnce(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	for i := range 30 {
		ev := fmt.Sprintf("evt_%d", i)
		persons := [2]string{fmt.Sprintf("pa_%d", i), fmt.Sprintf("pb_%d", i)}
		var decs [2]Decision
		var wg sync.WaitGroup
		// Both first builds wait for each other: both transactions have
		// read the event's (absent) record before either commits.
		var built sync.WaitGroup
		built.Add(2)
		conflicts := s.Outbox().Stats().Conflicts
		for k := range 2 {
			wg.Go(func() {
				var once sync.Once
				build := buildFor(nil, ev, "ep_x")
				var err error
				decs[k], _, err = s.Dispatch(ev, "ten_a", persons[k], func(d Decision) ([]firehook.Delivery, error) {
					once.Do(func() { built.Done(); built.Wait() })
					return build(d)
				})
				if err != nil {
					t.Errorf("Dispatch(%s, %s): %v", ev, persons[k], err)
				}
			})
		}
		waitGroupWithin(t, &wg, 10*time.Second, "two dispatches")
		if t.Failed() {
			return
		}
		if decs[0].Replayed == decs[1].Replayed {
			t.Fatalf("%s: decisions %+v: want exactly one replayed", ev, decs)
		}
		winner := 0
		if decs[0].Replayed {
			winner = 1
		}
		if got := s.Outbox().Stats().Conflicts - conflicts; got != 1 {
			t.Fatalf("%s: %d conflicts, want 1", ev, got)
		}
		wantDecision(t, "the winner", decs[winner], firehook.EventIdentified, 1, false)
		wantDecision(t, "the loser", decs[1-winner], firehook.EventIdentified, 1, true)
		// The loser's person was never decided for.
		dec, _ := dispatch(t, s, ev+"_next", "ten_a", persons[1-winner], "ep_x")
		wantDecision(t, "the loser's person's next event", dec, firehook.EventIdentified, 1, false)
	}
}

func TestStore_MarkProcessed(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	wantMark := func(want uint64) {
		t.Helper()
		if got, err := s.ProcessedUpTo(); err != nil || got != want {
			t.Fatalf("ProcessedUpTo = %d, %v; want %d", got, err, want)
		}
	}
	wantMark(0)
	for _, step := range []struct{ mark, want uint64 }{{5, 5}, {3, 5}, {5, 5}, {9, 9}} {
		if err := s.MarkProcessed(step.mark); err != nil {
			t.Fatal(err)
		}
		wantMark(step.want)
	}
	s = reopen(t, s, testConfig(dir))
	wantMark(9)

	// Concurrent marks leave the highest.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := s.MarkProcessed(uint64(10 + i)); err != nil {
				t.Error(err)
			}
		})
	}
	waitGroupWithin(t, &wg, 10*time.Second, "concurrent marks")
	wantMark(29)
}

// assertSameDelivery fails unless got and want are the same delivery
// (times compared as instants, as they come back from the stored form, in UTC).
func assertSameDelivery(t testing.TB, got, want firehook.Delivery) {
	t.Helper()
	norm := func(d firehook.Delivery) string {
		d.CreatedAt, d.UpdatedAt, d.NextAttemptAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC(), d.NextAttemptAt.UTC()
		for i := range d.Attempts {
			d.Attempts[i].At = d.Attempts[i].At.UTC()
		}
		return fmt.Sprintf("%+v", d)
	}
	got.Attempts, want.Attempts = slices.Clone(got.Attempts), slices.Clone(want.Attempts)
	if g, w := norm(got), norm(want); g != w {
		t.Fatalf("delivery differs:\n got %s\nwant %s", g, w)
	}
}

// BenchmarkStore_Dispatch measures Dispatch: one delivery with a 1 KiB
// payload per dispatch, each for one of 4096 persons, at 1, 16 and 128
// concurrent callers. A dispatch commits without waiting for an fsync
// (the pipeline's checkpoint syncs), so the figures are the transaction's
// CPU and badger's write path. (See BenchmarkEventLog_Append for how
// RunParallel counts goroutines.)
func BenchmarkStore_Dispatch(b *testing.B) {
	for _, goroutines := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			cfg := testConfig(b.TempDir())
			cfg.MemTableSize = 64 << 20
			s := openStore(b, cfg)
			payload := bytes.Repeat([]byte("x"), 1024)
			var n atomic.Uint64
			dispatch1 := func() {
				i := n.Add(1)
				ev := fmt.Sprintf("evt_%d", i)
				_, _, err := s.Dispatch(ev, "ten_bench", fmt.Sprintf("p_%d", i%4096), func(Decision) ([]firehook.Delivery, error) {
					return []firehook.Delivery{{EndpointID: "ep_bench", Payload: payload}}, nil
				})
				if err != nil {
					b.Error(err)
				}
			}
			used := runConcurrently(b, goroutines, dispatch1)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "dispatches/s")
			b.ReportMetric(float64(used), "goroutines")
		})
	}
}

// TestGroupSync_WaitReturnsAfterAnFsyncThatCoversTheCommit drives the
// group commit with a fake fsync from many writers: wait returns only
// once an fsync that started after the writer's commit has ended, and
// the writers share fsyncs.
func TestGroupSync_WaitReturnsAfterAnFsyncThatCoversTheCommit(t *testing.T) {
	var commits atomic.Uint64 // the fake commits so far
	var mu sync.Mutex
	var covered uint64 // commits made before the start of an fsync that has ended
	g := newGroupSync(func() error {
		start := commits.Load()
		time.Sleep(100 * time.Microsecond) // the disk
		mu.Lock()
		covered = max(covered, start)
		mu.Unlock()
		return nil
	})
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				tk := g.begin()
				c := commits.Add(1) // commit
				if err := g.wait(tk); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ok := covered >= c
				mu.Unlock()
				if !ok {
					t.Errorf("wait returned for commit %d before an fsync covered it", c)
					return
				}
			}
		})
	}
	waitGroupWithin(t, &wg, time.Minute, "writers")
	st := g.stats()
	t.Logf("%d writes, %d fsyncs", st.Writes, st.Syncs)
	if st.Writes != writers*each || st.Syncs >= st.Writes/2 {
		t.Fatalf("stats %+v: want %d writes sharing fsyncs", st, writers*each)
	}

	// A failed fsync answers its waiters with the error and refuses the rest.
	g.sync = func() error { return errors.New("disk on fire") }
	if err := g.wait(g.begin()); err == nil || g.failure() == nil {
		t.Fatalf("wait with a failing fsync = %v, failure %v; want errors", err, g.failure())
	}
	if err := g.wait(g.begin()); err == nil {
		t.Fatal("wait after a failed fsync succeeded")
	}
}
