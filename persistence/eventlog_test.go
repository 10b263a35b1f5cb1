package persistence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook"
)

// testEvent returns a fully populated event, distinct for each i, as
// ingest would hand it to the log (Seq unset).
func testEvent(i int) *firehook.Event {
	cet := time.FixedZone("CET", 3600)
	return &firehook.Event{
		ID:         firehook.NewID(firehook.PrefixEvent),
		TenantID:   "ten_01TEST",
		SiteID:     "site_01TEST",
		VisitorID:  fmt.Sprintf("vis-%d", i),
		SessionID:  fmt.Sprintf("ses-%d", i/10),
		URL:        fmt.Sprintf("https://shop.example.com/product/%d?utm_source=news", i),
		Referrer:   "https://www.google.com/",
		Title:      fmt.Sprintf("Product %d – Ünïcode title", i),
		UTM:        map[string]string{"source": "news", "medium": "email"},
		ClientTS:   time.Date(2025, 3, 14, 15, 9, 26, 535897932, cet).Add(time.Duration(i) * time.Second),
		ReceivedAt: time.Now(), // local zone, with a monotonic reading
		IP:         "203.0.113.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64)",
		HEMs: firehook.HEMs{
			SHA256: "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b",
			SHA1:   "567159d622ffbb50b11b0efd307be358624a26ee",
			MD5:    "55502f40dc8b7c769880b10874abc9d0",
		},
		IDs: map[string]string{"device_id": fmt.Sprintf("dev-%d", i)},
	}
}

// assertSameEvent compares two events field by field: times with Equal
// (a round trip through JSON drops the monotonic reading and the zone
// pointer), everything else exactly.
func assertSameEvent(t testing.TB, got, want firehook.Event) {
	t.Helper()
	if !got.ClientTS.Equal(want.ClientTS) {
		t.Errorf("event %s: ClientTS = %v, want %v", want.ID, got.ClientTS, want.ClientTS)
	}
	if !got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Errorf("event %s: ReceivedAt = %v, want %v", want.ID, got.ReceivedAt, want.ReceivedAt)
	}
	got.ClientTS, want.ClientTS = time.Time{}, time.Time{}
	got.ReceivedAt, want.ReceivedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event mismatch:\n got %+v\nwant %+v", got, want)
	}
}

// appendAll appends n fresh events one after the other and returns them
// (with the sequences the log assigned).
func appendAll(t testing.TB, l *EventLog, n int) []*firehook.Event {
	t.Helper()
	out := make([]*firehook.Event, n)
	for i := range out {
		out[i] = testEvent(i)
		if err := l.Append(context.Background(), out[i]); err != nil {
			t.Fatalf("Append #%d: %v", i, err)
		}
	}
	return out
}

func TestEventLog_EmptyLogHasLastSeqZero(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	if got := s.Events.LastSeq(); got != 0 {
		t.Fatalf("LastSeq of a new log = %d, want 0", got)
	}
	evs, err := s.Events.Read(0, 0)
	if err != nil || len(evs) != 0 {
		t.Fatalf("Read of a new log = %v, %v; want nothing", evs, err)
	}
}

func TestEventLog_AppendAssignsSequencesFromOne(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	evs := appendAll(t, s.Events, 5)
	for i, ev := range evs {
		if want := uint64(i + 1); ev.Seq != want {
			t.Errorf("append #%d got Seq %d, want %d", i, ev.Seq, want)
		}
	}
	if got := s.Events.LastSeq(); got != 5 {
		t.Errorf("LastSeq = %d, want 5", got)
	}
	if st := s.Events.Stats(); st.Events != 5 || st.Commits != 5 {
		t.Errorf("Stats = %+v, want 5 events in 5 commits (sequential appends commit one by one)", st)
	}
}

func TestEventLog_AppendIgnoresCallerSeq(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	ev := testEvent(0)
	ev.Seq = 999
	if err := s.Events.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 1 {
		t.Fatalf("Seq = %d, want 1: the log assigns sequences", ev.Seq)
	}
}

func TestEventLog_SequenceContinuesAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	appendAll(t, s.Events, 3)

	s = reopen(t, s, testConfig(dir))
	if got := s.Events.LastSeq(); got != 3 {
		t.Fatalf("LastSeq after reopen = %d, want 3", got)
	}
	ev := testEvent(3)
	if err := s.Events.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 4 {
		t.Fatalf("first append after reopen got Seq %d, want 4 (no reuse, no gap)", ev.Seq)
	}

	// Once more, to be sure the reopened log wrote where the next open
	// looks for the end.
	s = reopen(t, s, testConfig(dir))
	if got := s.Events.LastSeq(); got != 4 {
		t.Fatalf("LastSeq after second reopen = %d, want 4", got)
	}
}

func TestEventLog_ReadReturnsEventsInOrderWithSeqAndFields(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	evs := appendAll(t, s.Events, 10)

	// want returns the appended events with sequences first..last.
	want := func(first, last int) []firehook.Event {
		var out []firehook.Event
		for seq := first; seq <= last; seq++ {
			out = append(out, *evs[seq-1])
		}
		return out
	}
	cases := []struct {
		name  string
		from  uint64
		limit int
		want  []firehook.Event
	}{
		{"from zero reads everything", 0, 0, want(1, 10)},
		{"from one reads everything", 1, 0, want(1, 10)},
		{"from the middle", 4, 0, want(4, 10)},
		{"limit stops early", 4, 3, want(4, 6)},
		{"limit larger than the rest", 8, 100, want(8, 10)},
		{"negative limit means no limit", 1, -1, want(1, 10)},
		{"the last event", 10, 1, want(10, 10)},
		{"past the end is empty", 11, 10, nil},
	}
	check := func(t *testing.T, l *EventLog) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := l.Read(tc.from, tc.limit)
				if err != nil {
					t.Fatalf("Read(%d, %d): %v", tc.from, tc.limit, err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("Read(%d, %d) returned %d events, want %d", tc.from, tc.limit, len(got), len(tc.want))
				}
				for i := range got {
					if got[i].Seq != tc.want[i].Seq {
						t.Errorf("event %d has Seq %d, want %d", i, got[i].Seq, tc.want[i].Seq)
					}
					assertSameEvent(t, got[i], tc.want[i])
				}
			})
		}
	}
	t.Run("before reopen", func(t *testing.T) { check(t, s.Events) })
	s = reopen(t, s, testConfig(dir))
	t.Run("after reopen", func(t *testing.T) { check(t, s.Events) })
}

// appendConcurrently runs workers goroutines that each append perWorker
// fresh events, and returns every acknowledged event.
func appendConcurrently(t testing.TB, l *EventLog, workers, perWorker int, mk func(i int) *firehook.Event) []*firehook.Event {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []*firehook.Event
		errs  []error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				ev := mk(w*perWorker + i)
				err := l.Append(context.Background(), ev)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					acked = append(acked, ev)
				}
				mu.Unlock()
			}
		}()
	}
	waitGroupWithin(t, &wg, time.Minute, "concurrent appends")
	for _, err := range errs[:min(len(errs), 5)] {
		t.Errorf("Append: %v", err)
	}
	if len(errs) > 0 {
		t.Fatalf("%d of %d appends failed", len(errs), workers*perWorker)
	}
	return acked
}

// assertGapless checks that acked carries exactly the sequences 1..len,
// and that the log holds each acknowledged event under its sequence.
func assertGapless(t testing.TB, l *EventLog, acked []*firehook.Event) {
	t.Helper()
	bySeq := make(map[uint64]*firehook.Event, len(acked))
	for _, ev := range acked {
		if ev.Seq < 1 || ev.Seq > uint64(len(acked)) {
			t.Fatalf("event %s got Seq %d, outside 1..%d", ev.ID, ev.Seq, len(acked))
		}
		if prev, dup := bySeq[ev.Seq]; dup {
			t.Fatalf("Seq %d given to both %s and %s", ev.Seq, prev.ID, ev.ID)
		}
		bySeq[ev.Seq] = ev
	}
	// len(acked) distinct values in 1..len(acked): no gaps either.
	if got := l.LastSeq(); got != uint64(len(acked)) {
		t.Fatalf("LastSeq = %d, want %d", got, len(acked))
	}
	stored, err := l.Read(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(acked) {
		t.Fatalf("log holds %d events, want %d", len(stored), len(acked))
	}
	for i, got := range stored {
		if got.Seq != uint64(i+1) {
			t.Fatalf("Read position %d has Seq %d, want %d", i, got.Seq, i+1)
		}
		assertSameEvent(t, got, *bySeq[got.Seq])
	}
}

func TestEventLog_ConcurrentAppendsGetGaplessUniqueSequences(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	acked := appendConcurrently(t, s.Events, 128, 50, testEvent)
	if len(acked) != 6400 {
		t.Fatalf("%d appends acknowledged, want 6400", len(acked))
	}
	assertGapless(t, s.Events, acked)
}

func TestEventLog_GroupCommitSharesFsync(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	appendConcurrently(t, s.Events, 128, 50, testEvent)
	st := s.Events.Stats()
	t.Logf("stats: %+v (%.1f events per commit)", st, float64(st.Events)/float64(st.Commits))
	if st.Events != 6400 {
		t.Fatalf("Stats().Events = %d, want 6400", st.Events)
	}
	if st.Commits >= st.Events/2 {
		t.Fatalf("Stats().Commits = %d for %d events: appends waiting together should share commits (want < %d)",
			st.Commits, st.Events, st.Events/2)
	}
	if st.SyncTime <= 0 {
		t.Errorf("Stats().SyncTime = %v: the default log fsyncs every commit", st.SyncTime)
	}
}

func TestEventLog_NoSyncSkipsFsync(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.EventLog.NoSync = true
	s := openStore(t, cfg)
	appendAll(t, s.Events, 3)
	if st := s.Events.Stats(); st.SyncTime != 0 || st.Events != 3 {
		t.Fatalf("Stats = %+v, want 3 events and no time in fsync", st)
	}
}

// Events large enough that a few fill a segment: concurrent appends
// cross many segment files and every event keeps its own sequence.
func TestEventLog_LargeEventsAcrossSegments(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.EventLog.SegmentSize = 64 << 10
	s := openStore(t, cfg)
	big := strings.Repeat("x", 8<<10)
	acked := appendConcurrently(t, s.Events, 64, 10, func(i int) *firehook.Event {
		ev := testEvent(i)
		ev.Title = big
		return ev
	})
	if st := s.Events.Stats(); st.Segments < 5 {
		t.Fatalf("stats %+v: want the events spread over several segments", st)
	}
	assertGapless(t, s.Events, acked)
}

func TestEventLog_AppendAfterCloseReturnsErrClosed(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	appendAll(t, s.Events, 1)
	closeStore(t, s)
	err := s.Events.Append(context.Background(), testEvent(1))
	if !errors.Is(err, firehook.ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}

// Close while appends are in flight: Close drains what was accepted, every
// Append returns (nil or ErrClosed), and exactly the acknowledged events
// are in the log after reopening.
func TestEventLog_CloseDuringAppendsKeepsAcknowledgedEvents(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []*firehook.Event
		other []error
	)
	const workers = 64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				ev := testEvent(w*100000 + i)
				err := s.Events.Append(context.Background(), ev)
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, ev)
				case !errors.Is(err, firehook.ErrClosed):
					other = append(other, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	// Let the log get busy, then close under load.
	waitFor(t, 30*time.Second, "200 committed events", func() bool { return s.Events.LastSeq() >= 200 })
	closeStore(t, s)
	waitGroupWithin(t, &wg, 30*time.Second, "appends racing Close")

	mu.Lock()
	defer mu.Unlock()
	for _, err := range other {
		t.Errorf("Append racing Close returned %v, want nil or ErrClosed", err)
	}
	t.Logf("%d appends acknowledged before Close", len(acked))

	s = openStore(t, testConfig(dir))
	assertGapless(t, s.Events, acked)
}

func TestEventLog_AppendWithCancelledContextReturnsCtxErr(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	cases := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Repeat: a select between a ready queue and a done context
			// picks at random, so one try proves little.
			before := s.Events.LastSeq()
			for i := range 200 {
				if err := s.Events.Append(tc.ctx, testEvent(i)); !errors.Is(err, tc.want) {
					t.Fatalf("try %d: Append = %v, want %v", i, err, tc.want)
				}
			}
			// An append whose context was over before it began is not
			// enqueued: nothing waits for it, and a caller that retries
			// must not find a duplicate.
			if got := s.Events.LastSeq(); got != before {
				t.Errorf("LastSeq went from %d to %d: appends with an ended context were committed", before, got)
			}
		})
	}
}

// A context that ends while Append waits (for room in the queue or for the
// commit) makes Append return ctx.Err() instead of waiting on.
func TestEventLog_AppendReturnsWhenContextEndsWhileWaiting(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }

	cfg := testConfig(t.TempDir())
	cfg.EventLog.MaxBatch = 1
	cfg.EventLog.QueueSize = 1
	// Once stalled, the syncer blocks in its fdatasync: the disk hangs.
	var stalled atomic.Bool
	cfg.EventLog.syncFile = func(f *os.File) error {
		if stalled.Load() {
			<-release
		}
		return f.Sync()
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unblock()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	// The first append commits, then the disk hangs.
	if err := s.Events.Append(context.Background(), testEvent(0)); err != nil {
		t.Fatal(err)
	}
	stalled.Store(true)
	// The second waits in the queue for a commit that does not come; the
	// third finds the queue full.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	errs := make(chan error, 2)
	for i := 1; i <= 2; i++ {
		go func() { errs <- s.Events.Append(ctx, testEvent(i)) }()
	}
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Append on a stalled log = %v, want DeadlineExceeded", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Append ignored its context's deadline")
		}
	}
	unblock()
	// The events that were already queued may still be committed (Append's
	// contract: the writer stage keeps writing while the syncer stalls);
	// the log goes on without a gap either way.
	ev := testEvent(3)
	if err := s.Events.Append(context.Background(), ev); err != nil {
		t.Fatalf("Append after the stall: %v", err)
	}
	if ev.Seq < 2 || ev.Seq > 4 {
		t.Errorf("Append after the stall got Seq %d, want 2 to 4", ev.Seq)
	}
	if evs, err := s.Events.Read(1, 0); err != nil || uint64(len(evs)) != ev.Seq {
		t.Errorf("log holds %d events (err %v), want %d without gaps", len(evs), err, ev.Seq)
	}
	if got := s.Events.LastSeq(); got != ev.Seq {
		t.Errorf("LastSeq = %d, want %d", got, ev.Seq)
	}
}

func TestEventLog_OnCommitReceivesEveryEventOnceInOrder(t *testing.T) {
	type seen struct {
		seq uint64
		id  string
	}
	var (
		mu    sync.Mutex
		got   []seen
		calls int
	)
	cfg := testConfig(t.TempDir())
	cfg.EventLog.OnCommit = func(evs []*firehook.Event) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		for _, ev := range evs {
			got = append(got, seen{ev.Seq, ev.ID})
		}
	}
	s := openStore(t, cfg)
	acked := appendConcurrently(t, s.Events, 32, 40, testEvent)

	// OnCommit runs after the appends of its commit return: wait for it.
	waitFor(t, 10*time.Second, "OnCommit to see every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(acked)
	})
	closeStore(t, s) // no more calls after this

	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(acked) {
		t.Fatalf("OnCommit saw %d events, want %d", len(got), len(acked))
	}
	idBySeq := map[uint64]string{}
	for _, ev := range acked {
		idBySeq[ev.Seq] = ev.ID
	}
	for i, g := range got {
		if want := uint64(i + 1); g.seq != want {
			t.Fatalf("OnCommit event #%d has Seq %d, want %d (every event once, in order)", i, g.seq, want)
		}
		if g.id != idBySeq[g.seq] {
			t.Fatalf("OnCommit Seq %d carries event %s, the append acknowledged %s", g.seq, g.id, idBySeq[g.seq])
		}
	}
	if st := s.Events.Stats(); uint64(calls) != st.Commits {
		t.Errorf("OnCommit called %d times for %d commits", calls, st.Commits)
	}
}
