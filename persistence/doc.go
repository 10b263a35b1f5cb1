// Package persistence is the node's durable state: one embedded badger
// database under the data directory, with a small typed API over it.
//
//   - Store opens the database and owns its background work (value-log GC).
//   - Config (tenants, sites, endpoints) is held in memory and written
//     through to badger, so the ingest hot path never reads the disk for it.
//   - EventLog is the append-only log of accepted pixel events. Appends are
//     group-committed: many concurrent appends share one write and one fsync,
//     and an append returns only after its event is on disk. Each event gets
//     a monotonic per-node sequence, so later stages can resume after a crash.
//
// Key layout (one byte-string namespace per record kind) is in keys.go.
package persistence
