// Package firehook holds the domain types that every stage of the pipeline
// shares: tenants, sites, endpoints and the stored pixel event, plus the
// sentinel errors the stores return.
//
// The pipeline itself lives in the sub-packages, one folder a stage:
//
//	http/ingest   → validate, normalise and durably store pixel events
//	persistence   → badger: configuration and the group-committed event log
//	identity      → identity graph, resolution, suppression
//	actors        → visitor/person actors and endpoint actors (delivery)
//	cluster       → membership and placement across nodes
//	http/admin    → the operator's and tenants' admin API
//	node          → wires one node together
//	cmd/firehook  → the binary
//
// This package imports nothing of the project: it is the bottom of the
// dependency graph, so every layer can speak these types.
package firehook
