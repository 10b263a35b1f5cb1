package identity

import (
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/firehook/firehook/internal/splitmix"
)

// ShardDigest sums up what lookups in one index shard answer, so that two
// nodes can check that they hold the same shard without sending it: equal
// contents give equal digests, on any node, whatever the order in which
// the entries were written.
//
// It covers every index entry of the shard: the hash of each indexed
// identifier and of each learned link (LinkIdentifier) in the shard, the
// person id the entry leads to (not the node's ordinal) and whether it is
// a company-only record's entry (a learned link's never is: see
// LearnRecord).
//
// It does not cover the records themselves: profile fields, updated_at,
// a person's IPs (never indexed) and the identifiers a record lists in
// other shards. The copies of a record on different owners can
// legitimately differ in the identifiers of shards their node does not
// own (see RecordShards), so compare the digests of a shard only between
// nodes that both own it (or receive it): a node that does not own a
// shard may hold stale entries there, of records it keeps for other
// shards. Nor does it cover whether a learned link's person is held (a
// link whose person's record is missing counts, and answers no hit), or
// a link's tenant and visitor id beyond their hash.
//
// Learned links are learned only where the person is held (see
// LearnRecord), so two owners of a shard that hold different sets of
// persons can differ in its links; a transfer gives the receiver the
// persons of the links it brings (see ExportShards).
type ShardDigest struct {
	// Entries is the number of index entries in the shard (ShardLen).
	Entries int `json:"entries"`
	// Sum is an order-independent 64-bit hash of the entries: the sum of
	// a hash of each (identifier hash, person id, company flag).
	Sum uint64 `json:"sum"`
}

// ShardDigest returns the digest of shard (0 ≤ shard < NumShards). It
// holds the shard's read lock while it reads the shard (about 10 ns an
// entry), so lookups go on and writes to that shard wait.
func (g *Graph) ShardDigest(shard int) ShardDigest {
	s := &g.shards[shard]
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Every ordinal in the shard was handed out before it was put there,
	// so this copy of the id table covers them all; its bytes never change
	// (see idTable), so it is read without the table's lock.
	g.ids.mu.RLock()
	refs, chunks := g.ids.refs, slices.Clone(g.ids.chunks)
	g.ids.mu.RUnlock()
	personHash := func(ord uint32) uint64 {
		ref := refs[ord&^companyFlag]
		off, n := int(ref>>8&0xFFFFFF), int(ref&0xFF)
		h := xxhash.Sum64(chunks[ref>>32][off : off+n])
		if ord&companyFlag != 0 {
			h = ^h
		}
		return h
	}
	var d ShardDigest
	add := func(key uint64, ord uint32) {
		d.Entries++
		d.Sum += splitmix.Mix64(key + splitmix.Mix64(personHash(ord)))
	}
	overlaid := len(s.overlay) > 0
	for i, k := range s.keys {
		if overlaid {
			if _, ok := s.overlay[k]; ok {
				continue // the overlay's entry (or tombstone) replaces it
			}
		}
		add(k, s.vals[i])
	}
	for k, v := range s.overlay {
		if v != tombstone {
			add(k, v)
		}
	}
	return d
}
