package endpoint_test

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/internal/testkit"
)

// An endpoint actor that panics with requests in flight and deliveries
// queued is restarted by its supervisor; the new incarnation reloads its
// queue from the outbox, so every delivery is delivered at least once —
// none lost — and only those in flight at the crash may come twice.
func TestSupervision_crashWithDeliveriesQueued(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	rc := h.receiver(func(w http.ResponseWriter, _ *testkit.Received) {
		hang(w, release) // 200 once released; nothing if the crash cancelled the request
	})
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.MaxInFlight = 2 })
	var ds []firehook.Delivery
	for _, p := range persons("p", 5) {
		ds = append(ds, h.create(ep, p))
	}
	ds = append(ds, h.create(ep, "p01")) // p01's second: behind her first in its lane
	h.enqueue(ep, ds...)
	inFlight := rc.WaitFor(t, 2, wait) // two held by the receiver, four queued
	if info, ok := h.sys.Actor(ep.ID); !ok || info.Restarts != 0 {
		t.Fatalf("actor before the crash: %+v, live %v", info, ok)
	}

	h.send(ep.ID, endpoint.Crash("boom"))
	testkit.Eventually(t, wait, func() bool {
		info, ok := h.sys.Actor(ep.ID)
		return ok && info.Restarts >= 1
	}, "the endpoint actor was not restarted")
	// The new incarnation sends again what the old one had in flight.
	rc.WaitFor(t, 4, wait)
	close(release)

	for _, r := range h.waitDelivered(ds...) {
		if n := len(r.Attempts); n != 1 || r.Attempts[0].StatusCode != 200 {
			t.Errorf("delivery %s: attempts %+v, want one 200 (an attempt cut off by the crash is not recorded)", r.ID, r.Attempts)
		}
	}
	counts := byEvent(rc.Got())
	cut := map[string]bool{}
	for _, r := range inFlight[:2] {
		cut[r.Header.Get(webhook.HeaderID)] = true
	}
	var dup []string
	for _, d := range ds {
		switch n := counts[d.EventID]; {
		case n == 0:
			t.Errorf("delivery %s (event %s) never reached the receiver", d.ID, d.EventID)
		case n > 1:
			dup = append(dup, d.EventID)
			if !cut[d.EventID] {
				t.Errorf("event %s came %d times but was not in flight at the crash", d.EventID, n)
			}
		}
	}
	sort.Strings(dup)
	t.Logf("duplicated (in flight at the crash, sent again by the new incarnation): %v", dup)

	// The process and the actor live on: a new delivery goes through.
	info, ok := h.sys.Actor(ep.ID)
	if !ok || info.State == actors.StateStopping {
		t.Fatalf("actor after the restart: %+v, live %v", info, ok)
	}
	h.waitDelivered(h.dispatch(ep, "p99"))
}

// Closing the actor system with requests in flight cancels them, and
// their reports reach the stopping actor, not a dead PID: no dead letter
// (whose logging throttle would outlive System.Close by a second) and a
// prompt Close. The cancelled attempts are not recorded: the deliveries
// stay pending for the next start.
func TestSupervision_closeWithRequestsInFlight(t *testing.T) {
	h := newHarness(t)
	hole := h.receiver(func(w http.ResponseWriter, _ *testkit.Received) { hang(w, nil) })
	ep := h.endpoint(hole.URL, nil)
	var ds []firehook.Delivery
	for _, p := range persons("p", 4) {
		ds = append(ds, h.create(ep, p))
	}
	h.enqueue(ep, ds...)
	hole.WaitFor(t, len(ds), wait)

	var mu sync.Mutex
	var dead []string
	es := h.sys.ActorSystem().EventStream
	sub := es.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			mu.Lock()
			dead = append(dead, fmt.Sprintf("%T", dl.Message))
			mu.Unlock()
		}
	})
	defer es.Unsubscribe(sub)

	start := time.Now()
	h.close()
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 0 {
		t.Errorf("dead letters while closing: %v", dead)
	}
	if took > 500*time.Millisecond {
		t.Errorf("closing with %d requests in flight took %s", len(ds), took)
	}
	for _, d := range ds {
		if got := h.delivery(d.ID); got.Status != firehook.DeliveryPending || len(got.Attempts) != 0 {
			t.Errorf("delivery %s after close: %q with attempts %+v, want pending without any", d.ID, got.Status, got.Attempts)
		}
	}
}
