package identity

import (
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/firehook/firehook/persistence"
)

// typeVisitor is the identifier of a learned link: a tenant's first-party
// visitor id (value "tenant/vid"). Visitor ids are only meaningful within
// the tenant whose pixel set them, so the tenant is part of the key.
const typeVisitor Type = "vid"

// LinkIdentifier is the identifier of the learned link of tenant's
// visitor visitorID: what Hits is asked about, and what shards the link
// (see LinkShard). No record lists it.
func LinkIdentifier(tenant, visitorID string) Identifier {
	return Identifier{Type: typeVisitor, Value: tenant + "/" + visitorID}
}

// linkHash is LinkIdentifier(tenant, visitorID).Hash() without building
// the identifier.
func linkHash(tenant, visitorID string) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(string(typeVisitor))
	_, _ = d.WriteString(":")
	_, _ = d.WriteString(tenant)
	_, _ = d.WriteString("/")
	_, _ = d.WriteString(visitorID)
	return d.Sum64()
}

// Upsert stores records, replacing any stored record with the same
// person id (its identifiers are replaced, not merged). An identifier
// belongs to one person: the record that names it last (in recs order,
// after every stored record) takes it, and any other record, stored or in
// the batch, is written without it. The writes are not fsynced: call Sync
// when a batch of upserts is complete. A shard owner that is sent records
// of an import made on another node (see ImportOptions.Upsert) calls
// Upsert for each batch in the order received, then Sync, before it
// acknowledges.
func (g *Graph) Upsert(recs []Record) error { return g.upsert(recs, nil) }

// upsert is Upsert; enc, when not nil, holds the stored form of each
// record (encoded in parallel by the import's parsers).
func (g *Graph) upsert(recs []Record, enc [][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	return g.upsertLocked(recs, enc, nil, true)
}

// upsertLocked is upsert under writeMu. read holds stored records that
// the caller has already read, by person id (a nil value: not stored);
// they are not read again. live says that recs are writes of the graph's
// own stream (an import, an owner's upsert) rather than copies a shard
// transfer brings: the transfers in progress record the persons and
// identifiers that live writes decide (see Transfer).
func (g *Graph) upsertLocked(recs []Record, enc [][]byte, read map[string]*Record, live bool) error {
	if err := g.markChanged(); err != nil {
		return err
	}

	// The last record of each id wins within the batch; keep batch order.
	last := make(map[string]int, len(recs))
	for i := range recs {
		last[recs[i].PersonID] = i
	}
	var order []int
	for i := range recs {
		if last[recs[i].PersonID] == i {
			order = append(order, i)
		}
	}

	// Who takes each indexed identifier, and which stored persons outside
	// the batch lose one.
	claimed := make(map[uint64]string)
	var ids, losers []string
	for _, i := range order {
		r := &recs[i]
		ids = append(ids, r.PersonID)
		for _, ident := range r.Identifiers {
			if !indexed(ident.Type, r.IsCompanyOnly()) {
				continue
			}
			h := ident.Hash()
			claimed[h] = r.PersonID
			if ord, ok := g.get(h); ok {
				if owner := g.personID(ord); owner != r.PersonID {
					if _, inBatch := last[owner]; !inBatch && !slices.Contains(losers, owner) {
						losers = append(losers, owner)
					}
				}
			}
		}
	}
	// Read the stored records this batch replaces; persons the graph has
	// never held are skipped without a read.
	var toRead []string
	for _, id := range losers {
		if _, done := read[id]; !done {
			toRead = append(toRead, id)
		}
	}
	for _, id := range ids {
		if _, done := read[id]; !done && g.known.mayContain(id) {
			toRead = append(toRead, id)
		}
	}
	old, err := g.readRecords(toRead)
	if err != nil {
		return err
	}
	for id, r := range read {
		if r != nil {
			old[id] = r
		}
	}

	// keep is r without the identifiers that another record took.
	keep := func(r *Record) *Record {
		kept := make([]Identifier, 0, len(r.Identifiers))
		for _, ident := range r.Identifiers {
			owner, taken := claimed[ident.Hash()]
			if !indexed(ident.Type, r.IsCompanyOnly()) || !taken || owner == r.PersonID {
				kept = append(kept, ident)
			}
		}
		if len(kept) == len(r.Identifiers) {
			return r
		}
		nr := *r
		nr.Identifiers = kept
		return &nr
	}
	final := make(map[string]*Record, len(order)+len(losers))
	writes := make([]persistence.PersonWrite, 0, len(order)+len(losers))
	add := func(r *Record, v []byte) error {
		if v == nil {
			var err error
			if v, err = appendRecord(nil, r); err != nil {
				return fmt.Errorf("identity: encode person %s: %w", r.PersonID, err)
			}
		}
		writes = append(writes, persistence.PersonWrite{ID: r.PersonID, Value: v})
		final[r.PersonID] = r
		return nil
	}
	for _, i := range order {
		r := keep(&recs[i])
		var v []byte
		if enc != nil && r == &recs[i] {
			v = enc[i] // unchanged: the parser's encoding stands
		}
		if err := add(r, v); err != nil {
			return err
		}
	}
	for _, id := range losers {
		if r, ok := old[id]; ok {
			if nr := keep(r); nr != r {
				if err := add(nr, nil); err != nil {
					return err
				}
			}
		}
	}
	if err := g.store.WritePersons(writes); err != nil {
		return err
	}

	// The records are written: now the filter, the index and the cache
	// follow.
	g.gen.Add(1)
	for id, r := range final {
		g.known.add(id)
		if o, ok := old[id]; ok {
			g.unindex(id, o)
		} else {
			g.persons.Add(1)
		}
		g.indexRecord(g.newOrdinal(id, r.IsCompanyOnly()), r)
		g.cache.del(id)
	}
	if live && len(g.transfers) > 0 {
		g.noteUpserted(ids, final)
	}
	return nil
}

// readRecords reads and decodes the stored records of ids (missing ids
// are absent from the map).
func (g *Graph) readRecords(ids []string) (map[string]*Record, error) {
	raw, err := g.store.Persons(ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*Record, len(raw))
	for id, v := range raw {
		r, err := decodeRecord(v)
		if err != nil {
			return nil, fmt.Errorf("identity: decode stored person %s: %w", id, err)
		}
		out[id] = &r
	}
	return out, nil
}

// unindex removes the index entries of a stored record (those still
// pointing to it) and its learned links stay: they point to the person id,
// whose new ordinal they must follow.
func (g *Graph) unindex(id string, rec *Record) {
	for _, ident := range rec.Identifiers {
		h := ident.Hash()
		if ord, ok := g.get(h); ok && g.personID(ord) == id {
			g.drop(h, ord)
		}
	}
}

// Sync makes every graph write so far durable, the learned links whose
// commits are still in flight included (LearnRecord does not wait for them).
func (g *Graph) Sync() error {
	g.waitLinks()
	return g.store.Sync()
}

// waitLinks waits for the learned links committed so far. LearnRecord adds to
// linkWrites under writeMu, so waiting under it never overlaps an Add
// (the sync.WaitGroup rule).
func (g *Graph) waitLinks() {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	g.linkWrites.Wait()
}

// Erase removes a person: the record, every index entry, every learned
// link, and it adds the person's hashed emails to the global suppression
// list so that they are never matched or learned again. It reports whether
// the person existed.
func (g *Graph) Erase(personID string, sup *Suppressions) (bool, error) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	g.linkWrites.Wait() // the person's links are all in badger before they are deleted
	g.noteErased(personID)
	raw, ok, err := g.store.Person(personID)
	if err == nil && ok {
		err = g.markChanged()
	}
	if err != nil || !ok {
		return false, err
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return false, fmt.Errorf("identity: decode person %s: %w", personID, err)
	}
	var hems []string
	for _, id := range rec.Identifiers {
		if id.Type == TypeHEMSHA256 || id.Type == TypeHEMSHA1 || id.Type == TypeHEMMD5 {
			hems = append(hems, id.Value)
		}
	}
	if h, err := HashEmail(rec.Person.BusinessEmail); err == nil {
		hems = append(hems, h.SHA256, h.SHA1, h.MD5) // the profile's address too
	}
	if sup != nil && len(hems) > 0 {
		// Suppress first: a crash after this line leaves the person
		// suppressed (safe) rather than erased but matchable again.
		if _, err := sup.Add(GlobalScope, KindHEM, hems); err != nil {
			return false, err
		}
	}
	links, err := g.store.DeleteLinks(personID)
	if err != nil {
		return false, err
	}
	if err := g.store.WritePersons([]persistence.PersonWrite{{ID: personID}}); err != nil {
		return false, err
	}
	if err := g.store.Sync(); err != nil {
		return false, err
	}
	g.gen.Add(1)
	g.unindex(personID, &rec)
	for _, l := range links {
		h := linkHash(l[0], l[1])
		if ord, ok := g.get(h); ok && g.personID(ord) == personID {
			g.drop(h, ord)
		}
	}
	g.links.Add(-int64(len(links)))
	g.persons.Add(-1)
	g.cache.del(personID)
	return true, nil
}

// Learn stores a learned link: tenant's visitor vid is personID. Later
// visits that carry only the visitor id then match the person. It is a
// no-op when the link exists.
func (g *Graph) Learn(tenant, vid, personID string) error {
	rec, ok, err := g.profile(personID)
	if err != nil || !ok {
		return err // unknown or erased: nothing to learn
	}
	return g.LearnRecord(tenant, vid, rec)
}

// LearnRecord is Learn for the person of rec, a record read before (by the
// match; see Source): badger is not read under writeMu unless rec's
// identifiers no longer lead to the person (an import changed them
// meanwhile). Reads wait for badger's commits in flight, and those for
// its fsyncs: under writeMu that would serialise every match that learns.
// A person this graph does not hold (erased meanwhile) is not learned.
// The link is in the index when LearnRecord returns; its badger commit is
// not waited for (Sync waits for it).
//
// While a transfer brings the link's shard (see BeginTransfer), the link
// is learned even when this graph does not hold the person yet (its
// record may still be on its way): if the record never came,
// Transfer.Finish holds a copy of rec as LearnRecordAndHold does (the
// sender learned the link too), unless the person was erased since; then
// it removes the link.
func (g *Graph) LearnRecord(tenant, vid string, rec *Record) error {
	personID := rec.PersonID
	h := linkHash(tenant, vid)
	// A transfer must see every learned link, even one that changes nothing.
	if ord, ok := g.get(h); ok && g.personID(ord) == personID && g.receiving[h>>56].Load() == 0 {
		return nil
	}
	lw := g.store.NewLinkWrite() // may wait for badger: not under writeMu
	committed := false
	defer func() {
		if !committed {
			lw.Discard()
		}
	}()
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if ord, ok := g.get(h); ok && g.personID(ord) == personID {
		// Known already: learned meanwhile, or sent here while a transfer
		// brings its shard (which must see it all the same).
		if len(g.transfers) > 0 {
			g.noteLearned(tenant, vid, h)
		}
		return nil
	}
	target, ok := g.ordinalIn(rec)
	if !ok {
		target, ok = g.ordinalOf(personID)
	}
	if ok && target&companyFlag != 0 {
		// A link's entry never carries the company flag, as a start loads
		// it (a hit of the link tells a company by its record: see confirm).
		target = g.newOrdinal(personID, false)
	}
	var provisional *Record // the person is not held yet: the record the link waits for
	if !ok {
		_, exists, err := g.store.Person(personID)
		if err != nil {
			return err
		}
		if !exists {
			if !g.awaitsPerson(h, personID) {
				return nil // erased meanwhile: nothing to learn
			}
			provisional = rec
		}
		target = g.newOrdinal(personID, false)
	}
	if err := g.markChanged(); err != nil {
		return err
	}
	previous := ""
	if ord, had := g.get(h); had {
		previous = g.personID(ord)
	} else {
		g.links.Add(1)
	}
	// The index changes now; badger's commit is not waited for (a match
	// must not wait for a disk write, and writeMu would serialise every
	// match that learns behind it). A link lost in a crash is learned
	// again at the visitor's next visit with an email or device id.
	// Erase, SaveSnapshot and Close wait for the commits in flight.
	if len(g.transfers) > 0 {
		g.noteLearned(tenant, vid, h)
		g.noteProvisional(tenant, vid, h, personID, provisional)
	}
	g.linkWrites.Add(1)
	committed = true
	lw.Commit(tenant, vid, personID, previous, func(err error) {
		if err != nil {
			g.cfg.Log.Error("identity: storing a learned link", "tenant", tenant, "err", err)
		}
		g.linkWrites.Done()
	})
	g.put(h, target)
	return nil
}

// ordinalOf finds the current ordinal of a person through one of its
// indexed identifiers.
func (g *Graph) ordinalOf(personID string) (uint32, bool) {
	rec, ok, err := g.profile(personID)
	if err != nil || !ok {
		return 0, false
	}
	return g.ordinalIn(rec)
}

// ordinalIn finds the current ordinal of rec's person through one of the
// indexed identifiers of rec.
func (g *Graph) ordinalIn(rec *Record) (uint32, bool) {
	personID := rec.PersonID
	for _, id := range rec.Identifiers {
		if !indexed(id.Type, rec.IsCompanyOnly()) {
			continue
		}
		if ord, ok := g.get(id.Hash()); ok && g.personID(ord) == personID {
			return ord, true
		}
	}
	return 0, false
}
