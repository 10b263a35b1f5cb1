// Package identity is the match stage of the pipeline: identifiers and
// their normalisation, the identity graph, resolution of a visit to a
// person, and suppression.
//
// Ingest uses the normalisation in this package on arrival (an email is
// hashed here and its clear text dropped), so that a value is normalised
// the same way wherever it enters.
//
// A cluster places the graph's NumShards index shards on its nodes. The
// match stage then resolves a visit from the hits (Hit) that the owners of
// its identifiers' shards answer (Graph.Hits on each, merged by a Source,
// combined by CombineHits), and an import routes each record to the
// owners of its shards (RecordShards, ImportOptions.Upsert). On a single
// node the Source is the Graph itself.
//
// When the cluster's membership changes, a node that becomes an owner of
// shards receives them from a live owner while it already takes their
// live writes (ExportShards on the sender, a Transfer on the receiver),
// the two compare each shard's ShardDigest, and a node that stopped
// owning shards then drops them (DropShards).
package identity
