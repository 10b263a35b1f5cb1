// Package persistence is the node's durable state: the event log in its
// own files, and two embedded badger databases under the data directory,
// with a small typed API over them.
//
//   - EventLog (DATA/events, package wal) is the append-only log of
//     accepted pixel events, the pipeline's source of truth and the one
//     fdatasync an event pays: appends are group-committed (many
//     concurrent appends share one write and one fdatasync) and an append
//     returns only after its event is on disk. Each event gets a monotonic
//     per-node sequence, so later stages resume from their checkpoint
//     after a crash by replaying it.
//   - Store opens the databases and owns their background work (value-log
//     GC, the outbox flush, the event log's retention).
//   - Config (tenants, sites, endpoints) is held in memory and written
//     through to badger, so the ingest hot path never reads the disk for it.
//     It is replicated record by record, last writer wins, as are the
//     suppression lists (GraphStore, package identity): every record has a
//     Version from the node's Clock and every deletion leaves a tombstone
//     (replica.go).
//   - Dispatch decisions, the outbox and the visitors' state are the
//     pipeline's derived state, in the main badger; the identity graph has
//     a badger of its own (DATA/graph).
//
// Key layout (one byte-string namespace per record kind) is in keys.go.
package persistence
