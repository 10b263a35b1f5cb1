// Package clusterpb holds the protobuf messages that Firehook nodes send
// each other (firehook_cluster.proto; the generated code is committed so that a
// build needs no generator).
package clusterpb
