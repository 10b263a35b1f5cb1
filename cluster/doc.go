// Package cluster spreads one Firehook deployment over several nodes with
// no external coordinator.
//
// Membership comes from gossip (hashicorp/memberlist): every node knows
// the alive members and what each advertises (its actor-system, admin and
// ingest addresses, its version). Placement is a pure function of that
// member set: every node computes the same owners for each of the 256
// graph shards (two owners each) and, through a key's shard, for every
// (tenant, visitor) and (tenant, person) key. Messages between nodes are
// protobuf messages over protoactor-go's remote transport (clusterpb).
//
// The pipeline uses it at three hand-over points: the accepting node
// hands each stored event to its visitor's owner (which stores it before
// acknowledging), the visitor's owner asks the owners of the identifiers'
// shards for identity hits, and it hands each match to its person's owner,
// which decides and delivers. Configuration is small and everywhere: every
// write is sent to every member and the full state is exchanged on join.
package cluster
