package endpoint_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/internal/testkit"
)

// Per-person FIFO: alice's first delivery, failing and retrying, holds
// back her second; bob's go through meanwhile; each person's arrive in
// sequence order.
//
// The receiver fails alice's first delivery until it has received bob's
// third: were bob's deliveries held behind alice's (one FIFO for the
// endpoint), neither would ever be delivered and the test would time out.
func TestFlow_perPersonFIFO(t *testing.T) {
	h := newHarness(t)
	var bobDone atomic.Bool
	var aliceTries atomic.Int32
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		ev := peek(r.Body)
		switch {
		case ev.person() == "bob" && ev.Sequence == 3:
			bobDone.Store(true)
		case ev.person() == "alice" && ev.Sequence == 1 && (aliceTries.Add(1) == 1 || !bobDone.Load()):
			// alice's head fails once, and until all of bob's have come
			// (under load bob's may all come before her first try).
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	ep := h.endpoint(rc.URL, nil)
	ds := []firehook.Delivery{
		h.dispatch(ep, "alice"), h.dispatch(ep, "alice"),
		h.dispatch(ep, "bob"), h.dispatch(ep, "bob"), h.dispatch(ep, "bob"),
	}
	h.waitDelivered(ds...)

	got := rc.Got()
	var alice, bob []uint64
	alice2, bobLast := -1, -1 // indexes in got
	for i, r := range got {
		ev := parse(t, r.Body)
		switch ev.person() {
		case "alice":
			alice = append(alice, ev.Sequence)
			if ev.Sequence == 2 {
				alice2 = i
			}
		case "bob":
			bob = append(bob, ev.Sequence)
			bobLast = i
		}
	}
	t.Logf("alice's requests by sequence: %v; bob's: %v", alice, bob)
	if len(alice) < 3 || alice[len(alice)-1] != 2 {
		t.Fatalf("alice's requests %v, want seq 1 retried at least once, then seq 2 once", alice)
	}
	for _, s := range alice[:len(alice)-1] {
		if s != 1 {
			t.Fatalf("alice's requests %v: seq 2 was sent before seq 1 was delivered", alice)
		}
	}
	if len(bob) != 3 || bob[0] != 1 || bob[1] != 2 || bob[2] != 3 {
		t.Fatalf("bob's requests %v, want [1 2 3]", bob)
	}
	if bobLast > alice2 {
		t.Fatalf("alice's seq 2 (request #%d) came before bob's last (#%d), although her seq 1 was failing until then", alice2+1, bobLast+1)
	}
	receipts := h.waitDelivered(ds...)
	if n := len(receipts[0].Attempts); n < 2 {
		t.Errorf("alice's seq 1 has %d attempts, want ≥ 2", n)
	}
	for _, r := range receipts[1:] {
		if len(r.Attempts) != 1 {
			t.Errorf("delivery %s (seq %d) has %d attempts, want 1", r.ID, r.Sequence, len(r.Attempts))
		}
	}
}

// max_in_flight bounds the concurrent requests of an endpoint.
func TestFlow_maxInFlight(t *testing.T) {
	h := newHarness(t)
	var g gauge
	rc := h.receiver(func(http.ResponseWriter, *testkit.Received) {
		g.enter()
		defer g.leave()
		time.Sleep(40 * time.Millisecond) // a slow receiver
	})
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.MaxInFlight = 2 })
	var ds []firehook.Delivery
	for _, p := range persons("p", 10) {
		ds = append(ds, h.create(ep, p))
	}
	h.enqueue(ep, ds...)
	h.waitDelivered(ds...)

	if n := len(rc.Got()); n != 10 {
		t.Fatalf("receiver got %d requests, want 10", n)
	}
	if m := g.max.Load(); m != 2 {
		t.Fatalf("at most %d requests in flight at once, want 2 (max_in_flight)", m)
	}
}

// In a cluster of three, a node's actor of the endpoint keeps to its
// share of max_in_flight: 6 split over 3 nodes is 2 here.
func TestFlow_maxInFlightIsSplitOverTheNodes(t *testing.T) {
	h := newHarness(t, func(c *endpoint.Config) { c.Share = func() int { return 3 } })
	var g gauge
	rc := h.receiver(func(http.ResponseWriter, *testkit.Received) {
		g.enter()
		defer g.leave()
		time.Sleep(40 * time.Millisecond)
	})
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.MaxInFlight = 6 })
	var ds []firehook.Delivery
	for _, p := range persons("p", 12) {
		ds = append(ds, h.create(ep, p))
	}
	h.enqueue(ep, ds...)
	h.waitDelivered(ds...)
	if m := g.max.Load(); m != 2 {
		t.Fatalf("at most %d requests in flight at once, want 2 (a third of max_in_flight 6)", m)
	}
}

// ... and its share of rate_limit_per_s: 9/s over 3 nodes is 3/s here, so
// 6 requests (a burst of 3, then one every 333 ms) take about a second.
func TestFlow_rateLimitIsSplitOverTheNodes(t *testing.T) {
	h := newHarness(t, func(c *endpoint.Config) { c.Share = func() int { return 3 } })
	rc := h.receiver(nil)
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.RateLimitPerS = 9 })
	var ds []firehook.Delivery
	for _, p := range persons("p", 6) {
		ds = append(ds, h.create(ep, p))
	}
	h.enqueue(ep, ds...)
	h.waitDelivered(ds...)
	got := rc.Got()
	if span := got[len(got)-1].At.Sub(got[0].At); span < 800*time.Millisecond {
		t.Fatalf("6 requests at a third of 9/s took %s, want about 1 s", span)
	}
}

// rate_limit_per_s spaces the requests: 10 at 5/s (a burst of 5, then
// one every 200 ms) take about a second.
func TestFlow_rateLimit(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(nil)
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.RateLimitPerS = 5 })
	var ds []firehook.Delivery
	for _, p := range persons("p", 10) {
		ds = append(ds, h.create(ep, p))
	}
	h.enqueue(ep, ds...)
	h.waitDelivered(ds...)

	got := rc.Got()
	if len(got) != 10 {
		t.Fatalf("receiver got %d requests, want 10", len(got))
	}
	if span := got[9].At.Sub(got[0].At); span < 800*time.Millisecond {
		t.Fatalf("10 requests at 5/s took %s, want about 1 s", span)
	}
	// Within the first 500 ms no more than the burst and two more tokens.
	early := 0
	for _, r := range got {
		if r.At.Sub(got[0].At) < 500*time.Millisecond {
			early++
		}
	}
	if early > 8 {
		t.Errorf("%d requests within 500 ms at 5/s", early)
	}
}

// The circuit breaker: after BreakerThreshold failures in a row the
// endpoint is circuit_open and probed one request at a time; once it
// answers, everything is delivered and it is healthy again.
func TestFlow_circuitBreaker(t *testing.T) {
	h := newHarness(t, func(c *endpoint.Config) { c.BreakerThreshold = 3 })
	var healthy atomic.Bool
	var g gauge
	rc := h.receiver(func(w http.ResponseWriter, _ *testkit.Received) {
		g.enter()
		defer g.leave()
		time.Sleep(20 * time.Millisecond)
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.MaxInFlight = 4 })
	st := h.statsOf(ep.ID)
	var ds []firehook.Delivery
	for _, p := range persons("p", 12) {
		ds = append(ds, h.create(ep, p))
	}
	h.enqueue(ep, ds...)

	testkit.Eventually(t, wait, func() bool { return st.State() == endpoint.StateCircuitOpen },
		"state %q, want circuit_open", st.State())
	if n := len(rc.Got()); n < 3 {
		t.Fatalf("circuit_open after %d requests, want ≥ 3 failures", n)
	}
	// The requests sent before it opened come back; from then on only
	// probes go out, one at a time.
	testkit.Eventually(t, wait, func() bool { return st.InFlight.Load() == 0 }, "requests still in flight")
	g.reset()
	before := len(rc.Got())
	rc.WaitFor(t, before+3, wait) // three probes
	if m := g.max.Load(); m > 1 {
		t.Fatalf("%d requests in flight at once while the circuit was open, want 1", m)
	}
	if s := st.State(); s != endpoint.StateCircuitOpen {
		t.Fatalf("state %q after failed probes, want circuit_open", s)
	}
	pendingWhileOpen := 0
	for _, d := range ds {
		if h.delivery(d.ID).Status != firehook.DeliveryDelivered {
			pendingWhileOpen++
		}
	}
	if pendingWhileOpen != len(ds) {
		t.Fatalf("%d of %d undelivered while always answering 500", pendingWhileOpen, len(ds))
	}

	healthy.Store(true)
	h.waitDelivered(ds...)
	testkit.Eventually(t, wait, func() bool { return st.State() == endpoint.StateHealthy },
		"state %q after everything was delivered, want healthy", st.State())
	if m := g.max.Load(); m < 2 {
		t.Logf("note: after the circuit closed at most %d requests were in flight at once", m)
	}
}

// auto_disable_after_s: an endpoint that has only failed for that long is
// disabled; its delivery stays unfinished.
func TestFlow_autoDisable(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(func(w http.ResponseWriter, _ *testkit.Received) { w.WriteHeader(http.StatusInternalServerError) })
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.AutoDisableAfterS = 1 })
	st := h.statsOf(ep.ID)
	d := h.dispatch(ep, "alice")

	testkit.Eventually(t, wait, func() bool { return h.endpointNow(ep.ID).State == firehook.EndpointDisabled },
		"endpoint not auto-disabled")
	e := h.endpointNow(ep.ID)
	if !strings.HasPrefix(e.DisabledReason, "auto-disabled") {
		t.Fatalf("disabled_reason %q, want it to start with %q", e.DisabledReason, "auto-disabled")
	}
	if e.FailingSince == nil {
		t.Fatal("failing_since not set")
	}
	if run := e.UpdatedAt.Sub(*e.FailingSince); run < time.Second {
		t.Fatalf("disabled after %s of failures, want ≥ 1 s", run)
	}
	testkit.Eventually(t, wait, func() bool { return st.State() == endpoint.StateDisabled },
		"stats state %q, want disabled", st.State())
	n := len(rc.Got())
	consistently(t, 300*time.Millisecond, func() bool { return len(rc.Got()) == n },
		"requests after the endpoint was disabled: %d, then %d", n, len(rc.Got()))
	if got := h.delivery(d.ID); got.Status != firehook.DeliveryRetrying || len(got.Attempts) < 2 {
		t.Fatalf("delivery status %q with %d attempts, want retrying after several", got.Status, len(got.Attempts))
	}
}

// batch_window_ms: Every Update deliveries due within the window go out
// as one POST carrying a JSON array; a First Match goes alone.
func TestFlow_batching(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(nil)
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.BatchWindowMS = 200 })
	ps := persons("p", 3)

	var firsts []firehook.Delivery
	for _, p := range ps {
		firsts = append(firsts, h.dispatch(ep, p))
	}
	h.waitDelivered(firsts...)
	for i, r := range rc.Got() {
		if r.Body[0] != '{' || strings.HasPrefix(r.Header.Get(webhook.HeaderID), "bat_") {
			t.Fatalf("First Match request %d went in a batch: webhook-id %q, body %s", i+1, r.Header.Get(webhook.HeaderID), r.Body)
		}
	}

	var updates []firehook.Delivery
	want := map[string]bool{}
	for _, p := range ps {
		u := h.create(ep, p)
		if u.Sequence != 2 || u.Priority != firehook.PriorityEveryUpdate {
			t.Fatalf("second dispatch of %s: sequence %d priority %d, want an Every Update", p, u.Sequence, u.Priority)
		}
		updates = append(updates, u)
		want[u.EventID] = true
	}
	h.enqueue(ep, updates...)
	for _, r := range h.waitDelivered(updates...) {
		if len(r.Attempts) != 1 || r.Attempts[0].StatusCode != 200 {
			t.Errorf("batched delivery %s attempts %+v, want one 200", r.ID, r.Attempts)
		}
	}

	got := rc.Got()
	if len(got) != len(ps)+1 {
		t.Fatalf("receiver got %d requests, want %d First Matches and one batch", len(got), len(ps))
	}
	b := got[len(got)-1]
	if id := b.Header.Get(webhook.HeaderID); !strings.HasPrefix(id, "bat_") {
		t.Fatalf("batch webhook-id %q, want bat_…", id)
	}
	if err := verify(b, ep.Secret); err != nil {
		t.Fatalf("batch signature: %v", err)
	}
	var items []event
	if err := json.Unmarshal(b.Body, &items); err != nil {
		t.Fatalf("batch body %s is not a JSON array of events: %v", b.Body, err)
	}
	if len(items) != len(updates) {
		t.Fatalf("batch carries %d items, want %d: %s", len(items), len(updates), b.Body)
	}
	for _, it := range items {
		if !want[it.ID] || it.Type != firehook.EventUpdated || it.Sequence != 2 {
			t.Errorf("batch item %+v, want one of the Every Updates", it)
		}
		delete(want, it.ID)
	}
	if len(want) != 0 {
		t.Errorf("events missing from the batch: %v", want)
	}
}

// A failed batch is retried as a batch: the same items, the same
// bat_ webhook-id (derived from the event ids), the next
// firehook-attempt; each delivery's receipt shows both attempts.
func TestFlow_batchRetried(t *testing.T) {
	h := newHarness(t)
	var failed atomic.Bool
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		if r.Body[0] == '[' && failed.CompareAndSwap(false, true) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.BatchWindowMS = 100 })
	ps := persons("p", 3)
	var firsts, updates []firehook.Delivery
	for _, p := range ps {
		firsts = append(firsts, h.dispatch(ep, p))
	}
	h.waitDelivered(firsts...)
	for _, p := range ps {
		updates = append(updates, h.create(ep, p))
	}
	h.enqueue(ep, updates...)
	for _, r := range h.waitDelivered(updates...) {
		if len(r.Attempts) != 2 || r.Attempts[0].StatusCode != 503 || r.Attempts[1].StatusCode != 200 {
			t.Errorf("delivery %s attempts %+v, want 503 then 200", r.ID, r.Attempts)
		}
	}
	var batches []testkit.Received
	for _, r := range rc.Got() {
		if r.Body[0] == '[' {
			batches = append(batches, r)
		}
	}
	if len(batches) != 2 {
		t.Fatalf("%d batch requests, want the failed one and its retry", len(batches))
	}
	id1, id2 := batches[0].Header.Get(webhook.HeaderID), batches[1].Header.Get(webhook.HeaderID)
	if !strings.HasPrefix(id1, "bat_") || id1 != id2 {
		t.Errorf("webhook-ids %q, %q: want one bat_ id for both attempts", id1, id2)
	}
	if a1, a2 := batches[0].Header.Get(webhook.HeaderAttempt), batches[1].Header.Get(webhook.HeaderAttempt); a1 != "1" || a2 != "2" {
		t.Errorf("firehook-attempt %q then %q, want 1 then 2", a1, a2)
	}
	if string(batches[0].Body) != string(batches[1].Body) {
		t.Errorf("the retried batch differs:\n%s\n%s", batches[0].Body, batches[1].Body)
	}
}

// Config.Window: an actor keeps at most that many deliveries in memory;
// the rest wait in the outbox and are paged in as the queue drains.
func TestFlow_windowPagesFromTheOutbox(t *testing.T) {
	const window = 4
	h := newHarness(t, func(c *endpoint.Config) { c.Window = window })
	rc := h.receiver(func(http.ResponseWriter, *testkit.Received) { time.Sleep(5 * time.Millisecond) })
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.MaxInFlight = 2 })
	st := h.statsOf(ep.ID)
	var ds []firehook.Delivery
	for _, p := range persons("p", 20) {
		ds = append(ds, h.create(ep, p))
	}
	h.enqueue(ep, ds...)
	var most atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample what the actor holds while it works
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			default:
			}
			if n := st.Pending.Load() + st.Retrying.Load(); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	h.waitDelivered(ds...)
	close(done)
	<-sampled
	if n := len(rc.Got()); n != len(ds) {
		t.Errorf("receiver got %d requests for %d deliveries", n, len(ds))
	}
	// The window is a soft bound: reload pages in whole pages (up to
	// min(1000, Window)), and a delivery whose attempt is recorded but
	// whose report is still in the mailbox counts in memory while the
	// page brings its successor in. Bounded it is: never all 20.
	if m := most.Load(); m > 2*window {
		t.Errorf("the actor held %d deliveries in memory, window %d", m, window)
	} else {
		t.Logf("at most %d deliveries in memory (window %d)", m, window)
	}
}
