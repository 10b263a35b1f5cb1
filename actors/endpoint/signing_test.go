package endpoint_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
)

// Every request is signed with the endpoint's secret (Standard Webhooks).
func TestSigning_everyRequestVerifies(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(nil)
	ep := h.endpoint(rc.URL, func(e *firehook.Endpoint) {
		e.Headers = map[string]string{"X-Tenant-Token": "t0k"}
	})
	var ds []firehook.Delivery
	for _, p := range []string{"alice", "bob", "alice", "carol"} {
		ds = append(ds, h.dispatch(ep, p))
	}
	h.waitDelivered(ds...)
	other := firehook.NewWebhookSecret()
	for i, r := range rc.Got() {
		if err := verify(r, ep.Secret); err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
		if err := verify(r, other); !errors.Is(err, webhook.ErrNoMatch) {
			t.Errorf("request %d verifies with another secret: %v", i+1, err)
		}
		if got := r.Header.Get("X-Tenant-Token"); got != "t0k" {
			t.Errorf("request %d: the endpoint's extra header is %q", i+1, got)
		}
		if n := len(strings.Fields(r.Header.Get(webhook.HeaderSignature))); n != 1 {
			t.Errorf("request %d: %d signatures, want 1 outside a rotation", i+1, n)
		}
	}
}

// During a rotation each request carries two signatures and verifies
// with either secret alone; after the previous secret expires only the
// new one signs.
func TestSigning_rotation(t *testing.T) {
	h := newHarness(t)
	rc := h.receiver(nil)
	ep := h.endpoint(rc.URL, nil)
	old, fresh := ep.Secret, firehook.NewWebhookSecret()
	rotate := func(expires time.Time) {
		t.Helper()
		if _, err := h.store.Config.UpdateEndpoint(ep.ID, func(e *firehook.Endpoint) error {
			e.Secret, e.PreviousSecret, e.PreviousSecretExpiresAt = fresh, old, &expires
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	rotate(time.Now().Add(time.Hour))
	h.waitDelivered(h.dispatch(ep, "alice"))
	r := rc.Got()[0]
	if n := len(strings.Fields(r.Header.Get(webhook.HeaderSignature))); n != 2 {
		t.Fatalf("%d signatures during the rotation, want 2: %q", n, r.Header.Get(webhook.HeaderSignature))
	}
	if err := verify(r, old); err != nil {
		t.Errorf("with the previous secret alone: %v", err)
	}
	if err := verify(r, fresh); err != nil {
		t.Errorf("with the new secret alone: %v", err)
	}

	rotate(time.Now().Add(-time.Second))
	h.waitDelivered(h.dispatch(ep, "bob"))
	r = rc.Got()[1]
	if err := verify(r, fresh); err != nil {
		t.Errorf("after the previous secret expired, with the new one: %v", err)
	}
	if err := verify(r, old); !errors.Is(err, webhook.ErrNoMatch) {
		t.Errorf("after the previous secret expired it still verifies: %v", err)
	}
}
