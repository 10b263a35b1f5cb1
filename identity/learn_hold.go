package identity

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
// graph does not hold the person.
func (g *Graph) hold(rec *Record, owned func(shard int) bool) error {
	if _, held, err := g.profile(rec.PersonID); err != nil || held {
		return err
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if _, held, err := g.store.Person(rec.PersonID); err != nil || held {
		return err // stored meanwhile
	}
	return g.upsertLocked([]Record{g.heldCopy(rec, owned)}, nil, map[string]*Record{rec.PersonID: nil}, false)
}

// heldCopy is the copy of rec that a graph that does not hold its person
// stores to answer a learned link (see LearnRecordAndHold): without the
// identifiers of the shards the node owns (owned), nor those another
// person holds here. Called under writeMu.
func (g *Graph) heldCopy(rec *Record, owned func(shard int) bool) Record {
	cp := *rec
	cp.Identifiers = make([]Identifier, 0, len(rec.Identifiers))
	for _, id := range rec.Identifiers {
		if indexed(id.Type, rec.IsCompanyOnly()) {
			h := id.Hash()
			if owned(int(h >> 56)) {
				continue
			}
			if _, taken := g.get(h); taken {
				continue // another person's: the person is not held here
			}
		}
		cp.Identifiers = append(cp.Identifiers, id)
	}
	return cp
}
