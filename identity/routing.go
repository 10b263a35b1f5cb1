package identity

import "slices"

// Routing: in a cluster each of the NumShards index shards has owners,
// and a shard's owners hold every record with an indexed identifier in
// the shard and every learned link in it. A lookup of an identifier is
// sent to the owners of ShardOf(id); a record being imported to the
// owners of each of RecordShards(rec); a learned link to the owners of
// LinkShard(tenant, visitorID).

// ShardOf is the shard of an identifier: the top byte of its hash, 0 to
// NumShards-1 (the same as id.Shard()). Only the owners of the shard can
// answer a lookup of id.
func ShardOf(id Identifier) int { return int(id.Hash() >> 56) }

// LinkShard is the shard of the learned link of tenant's visitor
// visitorID: ShardOf(LinkIdentifier(tenant, visitorID)).
func LinkShard(tenant, visitorID string) int { return int(linkHash(tenant, visitorID) >> 56) }

// RecordShards returns the distinct shards, in increasing order, of the
// identifiers of rec that the index holds (a person's IPs are not
// indexed; a company-only record's are): every shard whose owner must
// hold rec for a lookup there to find it. A record with no indexed
// identifier has none: no lookup ever finds it.
//
// Routing records this way gives each shard the answers a single graph
// would give for its identifiers, provided that (see ImportOptions.Upsert)
// each owner upserts the records of a batch routed to it as one batch, in
// order, and that a person who leaves a shard is dropped there: when the
// new record of a person has no shard that a node owns, a node that holds
// the person must remove it (a single graph would replace the record and
// release the identifiers it no longer lists; the node is not sent the
// new record). Erase with nil Suppressions removes it, and with it the
// person's learned links on that node.
//
// The copies of a record on different owners can differ in the
// identifiers of shards their node does not own (another record took
// one, on another node). Lookups only go to a shard's owners, so that
// changes the record a hit carries, never who matches.
func RecordShards(rec *Record) []int {
	var buf [16]int
	out := buf[:0]
	for _, id := range rec.Identifiers {
		if indexed(id.Type, rec.IsCompanyOnly()) {
			out = append(out, ShardOf(id))
		}
	}
	slices.Sort(out)
	return slices.Clone(slices.Compact(out))
}
