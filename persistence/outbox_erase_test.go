package persistence

import (
	"bytes"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// RedactPerson rewrites the payloads of one person's deliveries, pending
// and finished, for every tenant, keeping a receipt's expiry, and names
// the endpoints of the pending ones; other persons' payloads stay.
func TestOutbox_RedactPersonRewritesOnlyThatPersonsPayloads(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	pending := newDelivery(t, s, "p_ada", "ep_1")
	done := setStatus(t, s, newDelivery(t, s, "p_ada", "ep_2"), firehook.DeliveryDelivered)
	other := newDelivery(t, s, "p_bob", "ep_1")
	expiry := func(id string) uint64 {
		var exp uint64
		_ = s.db.View(func(txn *badger.Txn) error {
			it, err := txn.Get([]byte(prefixPayload + id))
			if err == nil {
				exp = it.ExpiresAt()
			}
			return err
		})
		return exp
	}
	doneExpiry := expiry(done.ID)
	if doneExpiry == 0 {
		t.Fatal("a receipt's payload has no expiry")
	}

	endpoints, n, err := s.Outbox().RedactPerson("p_ada", func(b []byte) ([]byte, error) { return []byte("redacted"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(endpoints) != 1 || endpoints[0] != "ep_1" {
		t.Fatalf("redacted %d, endpoints %v; want 2 and [ep_1] (the pending one's)", n, endpoints)
	}
	for _, id := range []string{pending.ID, done.ID} {
		d, _, err := s.Outbox().Get(id)
		if err != nil || !bytes.Equal(d.Payload, []byte("redacted")) {
			t.Errorf("%s: payload %q (%v); want redacted", id, d.Payload, err)
		}
	}
	if got := expiry(done.ID); got != doneExpiry {
		t.Errorf("the receipt's payload expires at %d after the redaction; want %d as before", got, doneExpiry)
	}
	if d, _, _ := s.Outbox().Get(other.ID); bytes.Equal(d.Payload, []byte("redacted")) {
		t.Error("another person's payload was redacted")
	}
	if _, n, _ := s.Outbox().RedactPerson("p_ada", func(b []byte) ([]byte, error) { return b, nil }); n != 0 {
		t.Errorf("a redaction that changes nothing counted %d", n)
	}
}
