package identity

import "fmt"

// Lookup returns the record that identifier id belongs to. A hit in the
// index is confirmed against the record (it must list id), so a hash
// collision answers "not found" rather than another person.
func (g *Graph) Lookup(id Identifier) (*Record, bool, error) {
	ord, ok := g.get(id.Hash())
	if !ok {
		return nil, false, nil
	}
	h, ok, err := g.confirm(id, ord)
	if err != nil || !ok {
		return nil, false, err
	}
	return h.Record, true, nil
}

// profile returns the decoded record of a person from the hot-profile
// cache, or reads it from the store (and caches it). The record is shared:
// callers must not modify it.
func (g *Graph) profile(personID string) (*Record, bool, error) {
	if rec, ok := g.cache.get(personID); ok {
		return rec, true, nil
	}
	gen := g.gen.Load()
	raw, ok, err := g.store.Person(personID)
	if err != nil || !ok {
		return nil, false, err
	}
	dec, err := decodeRecord(raw)
	if err != nil {
		return nil, false, fmt.Errorf("identity: decode person %s: %w", personID, err)
	}
	rec := &dec
	// Cache only when no write happened since the read began. A write
	// bumps gen, then evicts under the same shard lock that this check
	// holds: either the check sees the new gen, or the eviction comes
	// after this Set. A stale record never stays cached.
	g.cache.setIf(personID, rec, func() bool { return g.gen.Load() == gen })
	return rec, true, nil
}

// Profile returns the record of a person by id.
func (g *Graph) Profile(personID string) (*Record, bool, error) { return g.profile(personID) }
