package persistence

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/firehook/firehook"
)

// Replicas of other members' deliveries, and their takeover.
//
// In a cluster, the member that decides for a person (the primary of the
// person's shard) copies each decision's unfinished deliveries, with
// their payloads, to the shard's other owner before it sends them
// (PutReplicas). The copy is dropped when the primary reports the
// delivery finished (DropReplicas), or expires after ReplicaRetention.
//
// When the primary dies, the holder of the copies takes the person over:
// Adopt turns the copies into deliveries of this node's own outbox, with
// their decision (dd/), so that a replay of the same event here finds it
// decided, and the lane sequence raised to theirs, and it notes each
// decision taken over (dt/<member>/<event id>). When the dead member comes
// back, it asks for those notes (TakenOverFrom) before its endpoint actors
// start, and Reconcile removes its own unfinished copies of the deliveries
// now sent elsewhere, so that it does not send them a second time after
// later ones, then DropTakenOver forgets the notes.

// ReplicaRetention bounds how long a replica nobody reported finished is
// kept: longer than any delivery's retry window (API.md: 24 h), so a
// replica expires only once its delivery must have finished anyway.
const ReplicaRetention = 72 * time.Hour

// takenOverRetention bounds how long a takeover note waits for its member
// to come back and ask for it.
const takenOverRetention = 7 * 24 * time.Hour

// EncodeDelivery returns d with its payload in one buffer: the form of a
// replica, and of a delivery sent between members.
func EncodeDelivery(d *firehook.Delivery) []byte {
	rec := encodeDelivery(d)
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(rec)+len(d.Payload)), uint64(len(rec)))
	out = append(out, rec...)
	return append(out, d.Payload...)
}

// DecodeDelivery decodes EncodeDelivery's form. It fails on malformed
// input, never panics.
func DecodeDelivery(b []byte) (firehook.Delivery, error) {
	var d firehook.Delivery
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return d, fmt.Errorf("delivery: bad length prefix: %w", errOutboxEncoding)
	}
	if err := decodeDelivery(b[k:k+int(n)], &d); err != nil {
		return d, err
	}
	if rest := b[k+int(n):]; len(rest) > 0 {
		d.Payload = bytes.Clone(rest)
	}
	return d, nil
}

// validMember reports whether name can be a key part of a replica.
func validMember(name string) bool { return name != "" && !strings.Contains(name, "/") }

// PutReplicas stores copies of member's deliveries ds (with payloads).
// Finished ones are skipped; storing a copy again replaces it. The write
// is not waited for (the next fsync of the store makes it durable): a
// copy matters only when its member dies, and is lost only if this node
// dies too.
func (o *Outbox) PutReplicas(member string, ds []firehook.Delivery) error {
	if !validMember(member) {
		return fmt.Errorf("replicas: member %q: %w", member, firehook.ErrInvalid)
	}
	exp := uint64(time.Now().Add(ReplicaRetention).Unix())
	return o.writeMode(prefixReplica+member, false, func(txn *badger.Txn) error {
		for i := range ds {
			d := &ds[i]
			if d.Status.Finished() {
				continue
			}
			if !validDeliveryID(d.ID) {
				return fmt.Errorf("replica: delivery id %q: %w", d.ID, firehook.ErrInvalid)
			}
			e := badger.NewEntry([]byte(prefixReplica+member+"/"+d.ID), EncodeDelivery(d))
			e.ExpiresAt = exp
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// DropReplicas removes the copies of member's deliveries ids (finished
// there). Unknown ids are ignored.
func (o *Outbox) DropReplicas(member string, ids []string) error {
	if !validMember(member) {
		return fmt.Errorf("replicas: member %q: %w", member, firehook.ErrInvalid)
	}
	return o.writeMode(prefixReplica+member, false, func(txn *badger.Txn) error {
		for _, id := range ids {
			if err := txn.Delete([]byte(prefixReplica + member + "/" + id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Replicas returns the copies of member's deliveries whose person keep
// accepts (nil: all), in delivery id order.
func (o *Outbox) Replicas(member string, keep func(personKey string) bool) ([]firehook.Delivery, error) {
	var out []firehook.Delivery
	err := o.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixReplica + member + "/")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var d firehook.Delivery
			err := it.Item().Value(func(v []byte) error {
				var err error
				d, err = DecodeDelivery(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("replica %s: %w", it.Item().Key(), err)
			}
			if keep == nil || keep(d.PersonKey) {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read replicas of %s: %w", member, err)
	}
	return out, nil
}

// ReplicaCounts returns how many copies of each member's deliveries this
// node holds.
func (o *Outbox) ReplicaCounts() (map[string]int, error) {
	out := map[string]int{}
	err := o.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix, opts.PrefetchValues = []byte(prefixReplica), false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			rest := strings.TrimPrefix(string(it.Item().Key()), prefixReplica)
			if member, _, ok := strings.Cut(rest, "/"); ok {
				out[member]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count replicas: %w", err)
	}
	return out, nil
}

// TakenOver is one decision of a member that another took over: the
// event, its decision, and the ids of its deliveries.
type TakenOver struct {
	EventID    string
	Type       string
	Sequence   uint64
	PersonKey  string
	Deliveries []string
}

// Adopt takes over the copies ds of dead member's deliveries: each
// event's decision and deliveries become this node's (a delivery this
// node holds already stays as it is), the lane sequences are raised to
// theirs, the copies are removed and the takeover noted for member. It
// returns the deliveries adopted, for the endpoint actors, once they are
// durable.
func (o *Outbox) Adopt(member string, ds []firehook.Delivery) ([]firehook.Delivery, error) {
	if !validMember(member) {
		return nil, fmt.Errorf("adopt: member %q: %w", member, firehook.ErrInvalid)
	}
	byEvent := map[string][]firehook.Delivery{}
	var order []string
	for _, d := range ds {
		if d.EventID == "" || d.PersonKey == "" || d.Sequence == 0 || !validDeliveryID(d.ID) {
			return nil, fmt.Errorf("adopt: delivery %q lacks its event, person or sequence: %w", d.ID, firehook.ErrInvalid)
		}
		if byEvent[d.EventID] == nil {
			order = append(order, d.EventID)
		}
		byEvent[d.EventID] = append(byEvent[d.EventID], d)
	}
	var adopted []firehook.Delivery
	now := time.Now()
	noteExp := uint64(now.Add(takenOverRetention).Unix())
	for _, eventID := range order {
		dels := byEvent[eventID]
		first := dels[0]
		var mine []firehook.Delivery
		err := o.writeMode(first.PersonKey, false, func(txn *badger.Txn) error {
			mine = mine[:0]
			rec := dispatchRecord{Type: first.Type, Sequence: first.Sequence, PersonKey: first.PersonKey}
			for _, d := range dels {
				rec.Deliveries = append(rec.Deliveries, d.ID)
			}
			recKey := []byte(prefixDispatched + eventID)
			if _, err := txn.Get(recKey); errors.Is(err, badger.ErrKeyNotFound) {
				if err := txn.Set(recKey, encodeDispatchRecord(&rec)); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			seqKey := []byte(prefixLaneSeq + first.PersonKey)
			last, err := getUint64(txn, seqKey)
			if err != nil {
				return err
			}
			if first.Sequence > last {
				if err := txn.Set(seqKey, binary.BigEndian.AppendUint64(nil, first.Sequence)); err != nil {
					return err
				}
			}
			for i := range dels {
				d := dels[i]
				if _, err := txn.Get([]byte(prefixDelivery + d.ID)); err == nil {
					// Held here already (a replay, or adopted before).
				} else if !errors.Is(err, badger.ErrKeyNotFound) {
					return err
				} else {
					if err := o.putDelivery(txn, nil, &d, now); err != nil {
						return err
					}
					mine = append(mine, d)
				}
				if err := txn.Delete([]byte(prefixReplica + member + "/" + d.ID)); err != nil {
					return err
				}
			}
			e := badger.NewEntry([]byte(prefixTakenOver+member+"/"+eventID), encodeDispatchRecord(&rec))
			e.ExpiresAt = noteExp
			return txn.SetEntry(e)
		})
		if err != nil {
			return adopted, fmt.Errorf("adopt the deliveries of event %s: %w", eventID, err)
		}
		adopted = append(adopted, mine...)
	}
	if len(order) > 0 {
		if err := o.syncShared(); err != nil {
			return adopted, fmt.Errorf("adopt: %w", err)
		}
	}
	return adopted, nil
}

// TakenOverFrom returns the decisions of member this node took over and
// has not forgotten (DropTakenOver).
func (o *Outbox) TakenOverFrom(member string) ([]TakenOver, error) {
	var out []TakenOver
	err := o.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixTakenOver + member + "/")
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rec dispatchRecord
			if err := it.Item().Value(func(v []byte) error { return decodeDispatchRecord(v, &rec) }); err != nil {
				return fmt.Errorf("takeover note %s: %w", it.Item().Key(), err)
			}
			out = append(out, TakenOver{EventID: strings.TrimPrefix(string(it.Item().Key()), string(opts.Prefix)),
				Type: rec.Type, Sequence: rec.Sequence, PersonKey: rec.PersonKey, Deliveries: rec.Deliveries})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read takeover notes of %s: %w", member, err)
	}
	return out, nil
}

// DropTakenOver forgets the takeover notes of member's events eventIDs
// (member has reconciled them).
func (o *Outbox) DropTakenOver(member string, eventIDs []string) error {
	return o.writeMode(prefixTakenOver+member, false, func(txn *badger.Txn) error {
		for _, id := range eventIDs {
			if err := txn.Delete([]byte(prefixTakenOver + member + "/" + id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Reconcile is run by a member that comes back, with the decisions of it
// that others took over while it was down: each decision is stored when
// it has none for the event (so that replaying the event here does not
// decide it again), the lane sequence raised to it, and this node's
// unfinished copies of the deliveries, which another member now sends,
// removed. It returns how many deliveries it removed.
func (o *Outbox) Reconcile(tos []TakenOver) (removed int, err error) {
	for _, to := range tos {
		if to.EventID == "" || to.PersonKey == "" {
			continue
		}
		n := 0
		err := o.writeMode(to.PersonKey, false, func(txn *badger.Txn) error {
			n = 0
			recKey := []byte(prefixDispatched + to.EventID)
			if _, err := txn.Get(recKey); errors.Is(err, badger.ErrKeyNotFound) {
				rec := dispatchRecord{Type: to.Type, Sequence: to.Sequence, PersonKey: to.PersonKey, Deliveries: to.Deliveries}
				if err := txn.Set(recKey, encodeDispatchRecord(&rec)); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			seqKey := []byte(prefixLaneSeq + to.PersonKey)
			last, err := getUint64(txn, seqKey)
			if err != nil {
				return err
			}
			if to.Sequence > last {
				if err := txn.Set(seqKey, binary.BigEndian.AppendUint64(nil, to.Sequence)); err != nil {
					return err
				}
			}
			for _, id := range to.Deliveries {
				d, ok, err := getDelivery(txn, id, false)
				if err != nil {
					return err
				}
				if !ok || d.Status.Finished() {
					continue // a receipt of its own attempts stays
				}
				if err := deleteDelivery(txn, &d); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("reconcile event %s: %w", to.EventID, err)
		}
		removed += n
	}
	if len(tos) > 0 {
		if err := o.syncShared(); err != nil {
			return removed, fmt.Errorf("reconcile: %w", err)
		}
	}
	return removed, nil
}

// deleteDelivery removes d (as stored) and its index entries.
func deleteDelivery(txn *badger.Txn, d *firehook.Delivery) error {
	for _, k := range []string{prefixDelivery + d.ID, prefixPayload + d.ID,
		prefixDlvEndpoint + d.EndpointID + "/" + d.ID, statusKey(d), queueKey(d)} {
		if err := txn.Delete([]byte(k)); err != nil {
			return err
		}
	}
	return nil
}

// HeldReplicas returns those of ids (deliveries of member) that this node
// holds copies of.
func (o *Outbox) HeldReplicas(member string, ids []string) ([]string, error) {
	var out []string
	err := o.db.View(func(txn *badger.Txn) error {
		for _, id := range ids {
			_, err := txn.Get([]byte(prefixReplica + member + "/" + id))
			switch {
			case err == nil:
				out = append(out, id)
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read replicas of %s: %w", member, err)
	}
	return out, nil
}

// Void undoes the decisions of eventIDs made here whose copies never
// reached another member, while the persons' sequences went on elsewhere
// without them (a member that died between a decision and its copy):
// their unfinished deliveries, never sent, and the decision records are
// removed, so that the events, replayed from the log, are decided again
// by their persons' owners with sequences after those. Finished
// deliveries (their receipts) stay. It returns how many deliveries it
// removed.
func (o *Outbox) Void(eventIDs []string) (removed int, err error) {
	for _, eventID := range eventIDs {
		n := 0
		err := o.writeMode("void/"+eventID, false, func(txn *badger.Txn) error {
			n = 0
			recKey := []byte(prefixDispatched + eventID)
			item, err := txn.Get(recKey)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			var rec dispatchRecord
			if err := item.Value(func(v []byte) error { return decodeDispatchRecord(v, &rec) }); err != nil {
				return fmt.Errorf("decode dispatch record of %s: %w", eventID, err)
			}
			for _, id := range rec.Deliveries {
				d, ok, err := getDelivery(txn, id, false)
				if err != nil {
					return err
				}
				if !ok || d.Status.Finished() {
					continue
				}
				if err := deleteDelivery(txn, &d); err != nil {
					return err
				}
				n++
			}
			return txn.Delete(recKey)
		})
		if err != nil {
			return removed, fmt.Errorf("void the decision of %s: %w", eventID, err)
		}
		removed += n
	}
	if len(eventIDs) > 0 {
		if err := o.syncShared(); err != nil {
			return removed, fmt.Errorf("void: %w", err)
		}
	}
	return removed, nil
}
