package identity

import (
	"fmt"
	"slices"
	"strings"

	"github.com/firehook/firehook/persistence"
)

// Finish ends the transfer once the last batch is applied: it removes
// from the transferred shards what neither the transfer nor a live write
// confirmed (entries this node held before BeginTransfer that the sender
// does not have: a record here is rewritten without the identifier, a
// link is deleted), and the links learned before their person was held
// whose person was erased since. A person such a link leads to that
// never came (the export sends only the persons of the links it read; a
// link learned live after that brings none) is held as a copy of the
// record the link was learned with, as LearnRecordAndHold holds one. It
// returns how many identifiers and links it removed. The writes are not
// fsynced: call Graph.Sync.
//
// The transfer is over when Finish returns, even with an error (run a new
// one then). A second call returns ErrTransferClosed.
func (t *Transfer) Finish() (removed int, err error) {
	g := t.g
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if t.done {
		return 0, ErrTransferClosed
	}
	defer t.closeLocked()
	g.linkWrites.Wait() // the links learned so far are in badger
	n, err := t.sweep()
	if err != nil {
		return n, fmt.Errorf("identity: finish shard transfer: %w", err)
	}
	return n, nil
}

// sweep is Finish's removal, under writeMu.
func (t *Transfer) sweep() (int, error) {
	g := t.g
	var dropLinks [][2]string    // by key
	hold := map[string]*Record{} // persons of provisional links that never came
	for key, p := range t.provisional {
		tenant, vid, _ := strings.Cut(key, "/")
		if ord, ok := g.get(linkHash(tenant, vid)); !ok || g.personID(ord) != p {
			continue // learned again or erased since
		}
		if _, erased := t.erased[p]; erased {
			dropLinks = append(dropLinks, [2]string{tenant, vid})
			continue
		}
		if _, held := hold[p]; held {
			continue
		}
		_, held, err := g.store.Person(p)
		if err != nil {
			return 0, err
		}
		if !held {
			hold[p] = t.awaited[p]
		}
	}
	// A person the transfer did not bring is held all the same, as
	// LearnRecordAndHold holds it: the sender, which learned the link too,
	// holds the person, but the export only sends the persons of the links
	// its scan read, and a link learned after that brings none.
	holders := make([]string, 0, len(hold))
	for p := range hold {
		holders = append(holders, p)
	}
	slices.Sort(holders)
	for _, p := range holders {
		cp := g.heldCopy(hold[p], t.owns)
		if err := g.upsertLocked([]Record{cp}, nil, map[string]*Record{p: nil}, false); err != nil {
			return 0, err
		}
	}

	// The unconfirmed entries of the shards, by the person they lead to.
	byPerson := map[string]map[uint64]bool{}
	for h := range t.stale {
		if ord, ok := g.get(h); ok {
			p := g.personID(ord)
			if byPerson[p] == nil {
				byPerson[p] = map[uint64]bool{}
			}
			byPerson[p][h] = true
		}
	}
	persons := make([]string, 0, len(byPerson))
	for p := range byPerson {
		persons = append(persons, p)
	}
	slices.Sort(persons)
	recs, err := g.readRecords(persons)
	if err != nil {
		return 0, err
	}
	removed := 0
	var writes []persistence.PersonWrite
	var drops []uint64          // identifier entries to remove from the index
	rest := map[uint64]string{} // entries that are not identifiers of their record: links (or orphans)
	for _, p := range persons {
		stale := byPerson[p]
		rec := recs[p]
		if rec != nil {
			kept := make([]Identifier, 0, len(rec.Identifiers))
			for _, id := range rec.Identifiers {
				if h := id.Hash(); indexed(id.Type, rec.IsCompanyOnly()) && stale[h] {
					drops = append(drops, h)
					delete(stale, h)
					continue
				}
				kept = append(kept, id)
			}
			if len(kept) < len(rec.Identifiers) {
				nr := *rec
				nr.Identifiers = kept
				v, err := appendRecord(nil, &nr)
				if err != nil {
					return 0, fmt.Errorf("encode person %s: %w", p, err)
				}
				writes = append(writes, persistence.PersonWrite{ID: p, Value: v})
			}
		}
		for h := range stale {
			rest[h] = p
		}
	}
	if len(writes) == 0 && len(rest) == 0 && len(dropLinks) == 0 {
		return 0, nil
	}
	if err := g.markChanged(); err != nil {
		return 0, err
	}
	if len(writes) > 0 {
		if err := g.store.WritePersons(writes); err != nil {
			return 0, err
		}
		g.gen.Add(1)
		for _, h := range drops {
			if ord, ok := g.get(h); ok {
				g.drop(h, ord)
				removed++
			}
		}
		for _, w := range writes {
			g.cache.del(w.ID)
		}
	}
	if len(rest) > 0 {
		err := g.store.ScanLinksWhere(func(key []byte) bool {
			_, ok := rest[hashOf(typeVisitor, key)]
			return ok
		}, func(tenant, vid, _ string, _ uint64) error {
			dropLinks = append(dropLinks, [2]string{tenant, vid})
			return nil
		})
		if err != nil {
			return removed, err
		}
	}
	if len(dropLinks) > 0 {
		deleted, err := g.store.DeleteLinkKeys(dropLinks)
		if err != nil {
			return removed, err
		}
		for k, p := range deleted {
			h := linkHash(k[0], k[1])
			if ord, ok := g.get(h); ok && g.personID(ord) == p {
				g.drop(h, ord)
			}
			g.links.Add(-1)
			removed++
		}
	}
	for h, p := range rest { // neither an identifier of its record nor a stored link
		if ord, ok := g.get(h); ok && g.personID(ord) == p {
			g.drop(h, ord)
			removed++
		}
	}
	return removed, nil
}
