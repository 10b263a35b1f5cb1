package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// The dispatch state of a (tenant, person) — whether its First Match was
// made, and its last sequence — is one counter, its lane sequence. When
// the person moves to another node of a cluster, that counter moves with
// it: LaneSequences reads the counters of the persons that leave,
// MergeLaneSequences stores them on the node that takes them over.

// LaneSequences returns the lane sequence of every (tenant, person) key
// (firehook.PersonKey) that keep accepts.
func (o *Outbox) LaneSequences(keep func(personKey string) bool) (map[string]uint64, error) {
	out := map[string]uint64{}
	err := o.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefixLaneSeq)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			lane := strings.TrimPrefix(string(it.Item().Key()), prefixLaneSeq)
			if keep != nil && !keep(lane) {
				continue
			}
			err := it.Item().Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("malformed lane sequence of %s", lane)
				}
				out[lane] = binary.BigEndian.Uint64(v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lane sequences: %w", err)
	}
	return out, nil
}

// LaneSequence returns the lane sequence of personKey (firehook.PersonKey):
// present once the tenant's First Match of the person was made here, or
// copied or handed here.
func (o *Outbox) LaneSequence(personKey string) (seq uint64, ok bool, err error) {
	err = o.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(prefixLaneSeq + personKey))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("malformed lane sequence of %s", personKey)
			}
			seq, ok = binary.BigEndian.Uint64(v), true
			return nil
		})
	})
	if err != nil {
		return 0, false, fmt.Errorf("read lane sequence: %w", err)
	}
	return seq, ok, nil
}

// MergeLaneSequences raises the lane sequence of each key to the given one
// (a lower or equal one changes nothing, so merging twice, or in any
// order, ends the same), durably, and returns how many it raised.
func (o *Outbox) MergeLaneSequences(seqs map[string]uint64) (int, error) {
	return o.mergeLaneSequences(seqs, true)
}

// MergeLaneSequencesUnsynced is MergeLaneSequences without the wait for
// an fsync: the store's next one makes it durable (the pipeline's
// checkpoint, every 200 ms under load). For the copies of another
// member's decisions, made on every decision: they matter only if that
// member dies, and a killed process loses nothing committed (badger's
// files are written through the page cache); a machine that loses power
// with its copies' member is the loss of both.
func (o *Outbox) MergeLaneSequencesUnsynced(seqs map[string]uint64) (int, error) {
	return o.mergeLaneSequences(seqs, false)
}

func (o *Outbox) mergeLaneSequences(seqs map[string]uint64, wait bool) (int, error) {
	raised := 0
	for lane, seq := range seqs {
		if lane == "" || seq == 0 {
			continue
		}
		key := []byte(prefixLaneSeq + lane)
		var up bool
		err := o.writeMode(lane, false, func(txn *badger.Txn) error {
			up = false
			cur, err := getUint64(txn, key)
			if err != nil || cur >= seq {
				return err
			}
			up = true
			return txn.Set(key, binary.BigEndian.AppendUint64(nil, seq))
		})
		if err != nil {
			return raised, fmt.Errorf("merge lane sequence of %s: %w", lane, err)
		}
		if up {
			raised++
		}
	}
	if raised > 0 && wait {
		if err := o.syncShared(); err != nil {
			return raised, fmt.Errorf("merge lane sequences: %w", err)
		}
	}
	return raised, nil
}
