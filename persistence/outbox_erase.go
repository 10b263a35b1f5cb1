package persistence

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// RedactPerson rewrites with redact the stored payload of every delivery
// (for every tenant) of the erased person personID: the ones still to be
// sent, whose future attempts must not carry the person, and the receipts
// kept for the retention period, whose payloads the API shows. A
// payload keeps its expiry. It returns the endpoints of the unfinished
// ones rewritten (their actors hold payloads in memory: reload them) and
// how many payloads it rewrote.
//
// It reads every delivery of the outbox: an erasure is rare, and the
// outbox has no index by person.
func (o *Outbox) RedactPerson(personID string, redact func(payload []byte) ([]byte, error)) (endpoints []string, n int, err error) {
	suffix := "/" + personID
	type match struct {
		id, endpoint string
		unfinished   bool
	}
	var found []match
	err = o.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixDelivery)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var d firehook.Delivery
			if err := it.Item().Value(func(v []byte) error { return decodeDelivery(v, &d) }); err != nil {
				return fmt.Errorf("decode %s: %w", it.Item().Key(), err)
			}
			if strings.HasSuffix(d.PersonKey, suffix) {
				found = append(found, match{d.ID, d.EndpointID, !d.Status.Finished()})
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("outbox: redact person %s: %w", personID, err)
	}
	seen := map[string]bool{}
	for _, m := range found {
		changed, err := o.redactPayload(m.id, redact)
		if err != nil {
			return endpoints, n, fmt.Errorf("outbox: redact person %s: delivery %s: %w", personID, m.id, err)
		}
		if changed {
			n++
		}
		if changed && m.unfinished && !seen[m.endpoint] {
			seen[m.endpoint] = true
			endpoints = append(endpoints, m.endpoint)
		}
	}
	return endpoints, n, nil
}

// redactPayload rewrites delivery id's payload with redact, keeping its
// expiry; false when there is none or redact left it as it was.
func (o *Outbox) redactPayload(id string, redact func([]byte) ([]byte, error)) (bool, error) {
	changed := false
	err := o.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(prefixPayload + id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil // expired or finished meanwhile
		}
		if err != nil {
			return err
		}
		old, err := item.ValueCopy(nil)
		if err != nil || len(old) == 0 {
			return err
		}
		out, err := redact(old)
		if err != nil || string(out) == string(old) {
			return err
		}
		e := badger.NewEntry([]byte(prefixPayload+id), out)
		e.ExpiresAt = item.ExpiresAt()
		changed = true
		return txn.SetEntry(e)
	})
	if err == nil && changed {
		err = o.db.Sync()
	}
	return changed, err
}
