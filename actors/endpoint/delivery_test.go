package endpoint_test

import (
	"io"
	"net"
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

// A failed attempt is retried with the same webhook-id and the next
// firehook-attempt, and the receipt keeps every attempt.
func TestDelivery_500ThenOK_deliveredOnAttempt2(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		if r.Call == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "upstream down")
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	ep := h.endpoint(rc.URL, nil)
	d := h.dispatch(ep, "alice")

	got := h.waitStatus(d.ID, firehook.DeliveryDelivered)
	reqs := rc.Got()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		if id := r.Header.Get(webhook.HeaderID); id != d.EventID {
			t.Errorf("request %d: webhook-id %q, want the event id %q", i+1, id, d.EventID)
		}
		if n := r.Header.Get(webhook.HeaderAttempt); n != []string{"1", "2"}[i] {
			t.Errorf("request %d: firehook-attempt %q, want %d", i+1, n, i+1)
		}
		if err := verify(r, ep.Secret); err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: content-type %q", i+1, ct)
		}
		if ev := parse(t, r.Body); ev.ID != d.EventID || ev.person() != "alice" || ev.Sequence != 1 || ev.Type != firehook.EventIdentified {
			t.Errorf("request %d: body %s", i+1, r.Body)
		}
	}
	if len(got.Attempts) != 2 {
		t.Fatalf("receipt has %d attempts, want 2: %+v", len(got.Attempts), got.Attempts)
	}
	a1, a2 := got.Attempts[0], got.Attempts[1]
	if a1.N != 1 || a1.StatusCode != 500 || a1.ResponseSnippet != "upstream down" || a1.Error != "" {
		t.Errorf("attempt 1 = %+v, want n 1, 500, snippet %q", a1, "upstream down")
	}
	if a2.N != 2 || a2.StatusCode != 200 || a2.ResponseSnippet != `{"ok":true}` || a2.Error != "" {
		t.Errorf("attempt 2 = %+v, want n 2, 200, snippet %q", a2, `{"ok":true}`)
	}
	if !got.NextAttemptAt.IsZero() {
		t.Errorf("delivered with next_attempt_at %v", got.NextAttemptAt)
	}
	if a2.At.Before(a1.At) {
		t.Errorf("attempt 2 at %v is before attempt 1 at %v", a2.At, a1.At)
	}
}

// 429 with Retry-After: the next attempt waits at least that long,
// although the schedule's next step is 20 ms.
func TestDelivery_429HonoursRetryAfter(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		if r.Call == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	ep := h.endpoint(rc.URL, nil)
	d := h.dispatch(ep, "alice")

	got := h.waitStatus(d.ID, firehook.DeliveryDelivered)
	reqs := rc.Got()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 900*time.Millisecond {
		t.Fatalf("second attempt %s after the first, want ≥ 1 s (Retry-After: 1)", gap)
	}
	if got.Attempts[0].StatusCode != http.StatusTooManyRequests {
		t.Errorf("attempt 1 = %+v, want 429", got.Attempts[0])
	}
}

// 410 Gone disables the endpoint; nothing more is sent; the delivery
// stays unfinished and is delivered once the endpoint is enabled again.
func TestDelivery_410DisablesTheEndpoint_reenablingResumes(t *testing.T) {
	h := newHarness(t)
	var gone atomic.Bool
	gone.Store(true)
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
		}
	})
	ep := h.endpoint(rc.URL, nil)
	st := h.statsOf(ep.ID)
	d := h.dispatch(ep, "alice")

	testkit.Eventually(t, wait, func() bool { return h.endpointNow(ep.ID).State == firehook.EndpointDisabled },
		"endpoint not disabled by 410")
	if e := h.endpointNow(ep.ID); e.DisabledReason != "410 Gone" {
		t.Fatalf("disabled_reason = %q, want %q", e.DisabledReason, "410 Gone")
	}
	testkit.Eventually(t, wait, func() bool { return st.State() == endpoint.StateDisabled },
		"stats state %q, want disabled", st.State())

	// Disabled: neither the retry nor a new delivery is sent.
	d2 := h.dispatch(ep, "bob")
	consistently(t, 400*time.Millisecond, func() bool { return len(rc.Got()) == 1 },
		"a disabled endpoint got %d requests, want only the one answered 410", len(rc.Got()))
	held := h.delivery(d.ID)
	if held.Status != firehook.DeliveryRetrying || held.NextAttemptAt.IsZero() || len(held.Attempts) != 1 ||
		held.Attempts[0].StatusCode != http.StatusGone {
		t.Fatalf("delivery after 410: status %q, next %v, attempts %+v; want retrying with one 410 attempt",
			held.Status, held.NextAttemptAt, held.Attempts)
	}
	if s := h.delivery(d2.ID).Status; s != firehook.DeliveryPending {
		t.Fatalf("delivery queued while disabled is %q, want pending", s)
	}

	gone.Store(false)
	if _, err := h.store.Config.UpdateEndpoint(ep.ID, func(e *firehook.Endpoint) error {
		e.State, e.DisabledReason = firehook.EndpointEnabled, ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.reload(ep)
	got := h.waitDelivered(d, d2)
	if n := len(got[0].Attempts); n != 2 || got[0].Attempts[1].StatusCode != 200 {
		t.Fatalf("resumed delivery attempts %+v, want 410 then 200", got[0].Attempts)
	}
	testkit.Eventually(t, wait, func() bool { return st.State() == endpoint.StateHealthy },
		"stats state %q after re-enabling and delivering, want healthy", st.State())
	if e := h.endpointNow(ep.ID); e.FailingSince != nil {
		t.Errorf("failing_since %v after a success, want nil", e.FailingSince)
	}
}

// A receiver slower than timeout_ms: the attempt is cut off at the
// timeout, recorded with status 0 and a timeout error, and retried.
func TestDelivery_slowerThanTimeout_recordedAndRetried(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		if r.Call == 1 {
			// Would answer 200 after 2 s; the client gives up before.
			timer := time.NewTimer(2 * time.Second)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-clientGone(w):
			}
		}
	})
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.TimeoutMS = 150 })
	d := h.dispatch(ep, "alice")

	got := h.waitStatus(d.ID, firehook.DeliveryDelivered)
	if len(got.Attempts) != 2 {
		t.Fatalf("attempts %+v, want the timed-out one and a successful retry", got.Attempts)
	}
	a := got.Attempts[0]
	if a.StatusCode != 0 || !strings.Contains(a.Error, "timed out") {
		t.Fatalf("attempt 1 = %+v, want status 0 and an error mentioning the timeout", a)
	}
	if a.DurationMS < 140 || a.DurationMS > 1500 {
		t.Errorf("attempt 1 took %d ms, want about the 150 ms timeout", a.DurationMS)
	}
	if got.Attempts[1].StatusCode != 200 {
		t.Errorf("attempt 2 = %+v, want 200", got.Attempts[1])
	}
}

// A receiver that resets the connection: a transport error, retried.
func TestDelivery_connectionReset_retried(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		if r.Call == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
			_ = conn.Close()
		}
	})
	ep := h.endpoint(rc.URL, nil)
	d := h.dispatch(ep, "alice")

	got := h.waitStatus(d.ID, firehook.DeliveryDelivered)
	if len(got.Attempts) != 2 {
		t.Fatalf("attempts %+v, want the reset one and a successful retry", got.Attempts)
	}
	if a := got.Attempts[0]; a.StatusCode != 0 || a.Error == "" {
		t.Fatalf("attempt 1 = %+v, want status 0 with the transport error", a)
	}
	if n := len(rc.Got()); n != 2 {
		t.Fatalf("receiver got %d requests, want 2", n)
	}
}

// A black hole (never answers) times out and is retried, and holds only
// its own endpoint: another endpoint's delivery goes through meanwhile.
func TestDelivery_blackHole_timesOutAndDoesNotBlockAnotherEndpoint(t *testing.T) {
	h := newHarness(t)
	hole := h.receiver(func(w http.ResponseWriter, _ *testkit.Received) { hang(w, nil) })
	healthy := h.receiver(nil)
	slow := h.endpoint(hole.URL, func(e *firehook.Endpoint) { e.TimeoutMS = 600 })
	fast := h.endpoint(healthy.URL, nil)

	// Fill every in-flight slot of the black hole's endpoint.
	var held []firehook.Delivery
	for _, p := range persons("held", firehook.DefaultMaxInFlight) {
		held = append(held, h.create(slow, p))
	}
	h.enqueue(slow, held...)
	hole.WaitFor(t, len(held), wait)

	start := time.Now()
	ok := h.dispatch(fast, "bob")
	h.waitStatus(ok.ID, firehook.DeliveryDelivered)
	took := time.Since(start)
	for _, d := range held {
		if n := len(h.delivery(d.ID).Attempts); n != 0 {
			t.Fatalf("the healthy endpoint's delivery took %s: it arrived only after the black hole's attempts ended", took)
		}
	}
	t.Logf("healthy endpoint delivered in %s while the black hole held %d requests", took, len(held))

	// The black hole's attempts time out, are recorded and retried.
	hole.WaitFor(t, len(held)+1, wait)
	d := held[0]
	testkit.Eventually(t, wait, func() bool { return len(h.delivery(d.ID).Attempts) > 0 }, "no attempt recorded")
	a := h.delivery(d.ID)
	if a.Status != firehook.DeliveryRetrying || a.Attempts[0].StatusCode != 0 || !strings.Contains(a.Attempts[0].Error, "timed out") {
		t.Fatalf("black-holed delivery: status %q, attempts %+v; want retrying after a timeout", a.Status, a.Attempts)
	}
	if n := len(healthy.Got()); n != 1 {
		t.Fatalf("healthy receiver got %d requests, want 1", n)
	}
}

// Redirects are not followed: the 3xx is the outcome, recorded and
// retried (no request reaches the Location).
func TestDelivery_redirectNotFollowed(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(func(w http.ResponseWriter, r *testkit.Received) {
		if r.Call == 1 {
			w.Header().Set("Location", "http://169.254.169.254/latest/meta-data/")
			w.WriteHeader(http.StatusFound)
		}
	})
	ep := h.endpoint(rc.URL, nil)
	d := h.dispatch(ep, "alice")

	got := h.waitStatus(d.ID, firehook.DeliveryDelivered)
	if len(got.Attempts) != 2 {
		t.Fatalf("attempts %+v, want the 302 and a successful retry", got.Attempts)
	}
	if a := got.Attempts[0]; a.StatusCode != http.StatusFound || a.Error != "" {
		t.Fatalf("attempt 1 = %+v, want 302 recorded as it came", a)
	}
	if n := len(rc.Got()); n != 2 {
		t.Fatalf("receiver got %d requests, want 2", n)
	}
}

// Past the endpoint's retry window the delivery fails for good.
func TestDelivery_retryWindowPassed_failed(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(func(w http.ResponseWriter, _ *testkit.Received) { w.WriteHeader(http.StatusInternalServerError) })
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.RetryWindowS = 1 })
	d := h.dispatch(ep, "alice")

	got := h.waitStatus(d.ID, firehook.DeliveryFailed)
	if !got.NextAttemptAt.IsZero() {
		t.Fatalf("failed with next_attempt_at %v, want zero", got.NextAttemptAt)
	}
	n := len(got.Attempts)
	if n < 4 {
		t.Fatalf("failed after %d attempts, want it retried through the window: %+v", n, got.Attempts)
	}
	// Every attempt is scheduled within the window; an open breaker (5
	// failures in a row) may hold one back until its next probe, at most
	// MaxProbeInterval (200 ms) later.
	first, last := got.Attempts[0].At, got.Attempts[n-1].At
	if span := last.Sub(first); span > time.Second+250*time.Millisecond {
		t.Errorf("last attempt %s after the first, well outside the 1 s window", span)
	}
	if after := got.UpdatedAt.Sub(first); after < 700*time.Millisecond {
		t.Errorf("failed %s after the first attempt, want about the 1 s window", after)
	}
	for _, a := range got.Attempts {
		if a.StatusCode != 500 {
			t.Errorf("attempt %+v, want 500", a)
		}
	}
	consistently(t, 300*time.Millisecond, func() bool { return len(rc.Got()) == n },
		"a failed delivery was tried again: %d requests for %d attempts", len(rc.Got()), n)
}

// Replaying a delivery that is still retrying (in the actor's memory)
// starts a fresh plan: the retry window counts from the first attempt
// after the replay (persistence.Outbox.Replay, record).
func TestDelivery_replayOfARetryingDeliveryRestartsItsWindow(t *testing.T) {
	h := newHarness(t, func(c *endpoint.Config) { c.BreakerThreshold = 1000 })
	rc := h.receiver(func(w http.ResponseWriter, _ *testkit.Received) { w.WriteHeader(http.StatusInternalServerError) })
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) { e.RetryWindowS = 1 })
	d := h.dispatch(ep, "alice")

	// Well into its 1 s window, the delivery is replayed.
	testkit.Eventually(t, wait, func() bool {
		a := h.delivery(d.ID).Attempts
		return len(a) > 0 && a[len(a)-1].At.Sub(a[0].At) >= 500*time.Millisecond
	}, "no attempt 500 ms into the window")
	replayed, err := h.store.Outbox().Replay(d.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.reload(ep)

	got := h.waitStatus(d.ID, firehook.DeliveryFailed)
	var after []firehook.Attempt
	for _, a := range got.Attempts {
		if !a.At.Before(replayed.ReplayedAt) {
			after = append(after, a)
		}
	}
	if len(after) < 4 {
		t.Fatalf("%d attempts after the replay, want it retried through a fresh window: %+v", len(after), got.Attempts)
	}
	if span := got.UpdatedAt.Sub(after[0].At); span < 700*time.Millisecond {
		t.Fatalf("failed %s after the first attempt since the replay, want about the 1 s window", span)
	}
	if span := after[len(after)-1].At.Sub(after[0].At); span > time.Second+250*time.Millisecond {
		t.Errorf("attempts after the replay span %s, more than the window", span)
	}
}

// An Enqueue that arrives after the actor already sent and finished the
// delivery (it loaded it from the outbox first) does not send it again.
func TestDelivery_anOvertakenEnqueueDoesNotSendAgain(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(nil)
	ep := h.endpoint(rc.URL, nil)
	d := h.create(ep, "p_ada")
	h.reload(ep) // the actor starts and loads d from the outbox
	h.waitDelivered(d)
	h.enqueue(ep, d) // the person actor's hand-off, overtaken: d as it was created
	consistently(t, 300*time.Millisecond, func() bool { return len(rc.Got()) == 1 },
		"the delivery was sent again: %d requests", len(rc.Got()))
}
