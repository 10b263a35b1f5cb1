// Package api holds what every HTTP surface of Firehook shares: the
// catalogue of error codes, the {"error","code"} error body, and strict
// JSON reading and writing. The ingest and admin packages build on it so
// that a client sees one error shape everywhere.
package api
