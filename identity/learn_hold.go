package identity

import (
	"bytes"
	"fmt"
)

// LearnRecordAndHold is LearnRecord for a node that may not hold the
// person of rec: in a cluster, an owner of the link's shard that owns none
// of the person's shards. A link's hit is answered with its person's
// record, so when this graph does not hold the person it first stores a
// copy of rec, without the identifiers of the shards it owns (owned): the
// node decides those itself, and rec, read on another node, may be stale
// there (had the person one there, this node would hold it). Nor does the
// copy take an identifier another person holds here. Then it learns the
// link.
//
// A copy held this way is kept current by nothing else: no import routes
// the person here, since none of its identifiers is in a shard this node
// owns. So when the graph holds the person only so (its record has no
// identifier of an owned shard), rec, read just now from an owner of the
// evidence, replaces the copy when they differ: the owners of the link's
// shard then answer the link alike (person or company) whatever each held
// before.
//
// The copy is no live write for a transfer in progress (see Transfer):
// a copy of the person that the transfer brings replaces it, and it
// changes no entry of the shards this node owns, so the owners of the
// link's shard stay equal whichever of them held the person before.
// Storing the record with Upsert instead would be a live write on this
// node alone.
//
// owned is called under the graph's write lock: it must be quick and must
// not call the graph.
func (g *Graph) LearnRecordAndHold(tenant, visitorID string, rec *Record, owned func(shard int) bool) error {
	if err := g.hold(rec, owned); err != nil {
		return err
	}
	return g.LearnRecord(tenant, visitorID, rec)
}

// hold stores the copy of rec that LearnRecordAndHold describes when the
// graph does not hold the person, or holds it only as such a copy.
func (g *Graph) hold(rec *Record, owned func(shard int) bool) error {
	if local, held, err := g.profile(rec.PersonID); err != nil || (held && maintained(local, owned)) {
		return err
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	var local *Record
	if raw, held, err := g.store.Person(rec.PersonID); err != nil {
		return err
	} else if held {
		dec, err := decodeRecord(raw)
		if err != nil {
			return fmt.Errorf("identity: decode person %s: %w", rec.PersonID, err)
		}
		local = &dec
		if maintained(local, owned) {
			return nil // stored meanwhile, by an owner's write
		}
	}
	cp := g.heldCopy(rec, owned)
	if local != nil {
		same, err := sameEncoding(local, &cp)
		if err != nil || same {
			return err
		}
	}
	return g.upsertLocked([]Record{cp}, nil, map[string]*Record{rec.PersonID: local}, false)
}

// maintained reports whether rec has an indexed identifier in a shard
// this node owns: the imports of its person are routed here, so this
// node's copy is current.
func maintained(rec *Record, owned func(shard int) bool) bool {
	for _, id := range rec.Identifiers {
		if indexed(id.Type, rec.IsCompanyOnly()) && owned(ShardOf(id)) {
			return true
		}
	}
	return false
}

// sameEncoding reports whether a and b are stored alike.
func sameEncoding(a, b *Record) (bool, error) {
	x, err := appendRecord(nil, a)
	if err != nil {
		return false, err
	}
	y, err := appendRecord(nil, b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// heldCopy is the copy of rec that a graph that does not hold its person
// (or holds it only as such a copy) stores to answer a learned link (see
// LearnRecordAndHold): without the identifiers of the shards the node
// owns (owned), nor those another person holds here. Called under writeMu.
func (g *Graph) heldCopy(rec *Record, owned func(shard int) bool) Record {
	cp := *rec
	cp.Identifiers = make([]Identifier, 0, len(rec.Identifiers))
	for _, id := range rec.Identifiers {
		if indexed(id.Type, rec.IsCompanyOnly()) {
			h := id.Hash()
			if owned(int(h >> 56)) {
				continue
			}
			if ord, taken := g.get(h); taken && g.personID(ord) != rec.PersonID {
				continue // another person's: the person is not held here
			}
		}
		cp.Identifiers = append(cp.Identifiers, id)
	}
	return cp
}
