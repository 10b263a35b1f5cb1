package wal

import "os"

// Config configures a Log. The zero value of a field means its default.
type Config struct {
	// Dir is the log's directory, created if missing. Required.
	Dir string
	// SegmentSize is the size in bytes past which the log starts a new
	// segment (a segment may exceed it by one batch). Retention drops
	// whole segments, so it is also the granularity of the disk space
	// given back. Default 64 MiB.
	SegmentSize int64
	// MaxRecord is the largest record in bytes; Append refuses larger
	// ones and recovery treats a larger length as damage. Default 1 MiB.
	MaxRecord int
	// MaxBatch is the most records one write (and one fdatasync) carries.
	// Default 1024.
	MaxBatch int
	// QueueSize is how many appends may wait for the writer before Append
	// blocks. Default 8192.
	QueueSize int
	// FirstSeq is the sequence of the first record of a log that holds
	// none (default 1): a log that replaces another numbers on after it.
	FirstSeq uint64
	// NoSync skips the fdatasync after each write: a process crash loses
	// nothing (the page cache keeps the writes) but a power loss may.
	// Benchmarks that compare against fsync set it; nothing else should.
	NoSync bool
	// OnDurable, when set, is called by the log's syncer goroutine after
	// every fdatasync with the records it made durable, in sequence order,
	// before their Appends return. It must not block: hand the entries on
	// and return. The slice is the callee's to keep.
	OnDurable func([]Entry)
	// SyncFile makes a segment's written bytes durable. Default
	// fdatasync(2); tests replace it to inject disk faults.
	SyncFile func(f *os.File) error
	// WriteFile writes a batch of framed records to a segment. Default
	// (*os.File).Write; tests replace it to inject disk faults (a full or
	// read-only disk).
	WriteFile func(f *os.File, b []byte) (int, error)
}

// Entry is a record made durable, as OnDurable reports it.
type Entry struct {
	Seq uint64
	Tag any // what the appender passed to Append
}

const (
	defaultSegmentSize = 64 << 20
	defaultMaxRecord   = 1 << 20
	defaultMaxBatch    = 1024
	defaultQueueSize   = 8192
)

func (c *Config) withDefaults() {
	if c.SegmentSize <= 0 {
		c.SegmentSize = defaultSegmentSize
	}
	if c.MaxRecord <= 0 {
		c.MaxRecord = defaultMaxRecord
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = defaultMaxBatch
	}
	if c.QueueSize <= 0 {
		c.QueueSize = defaultQueueSize
	}
	if c.SyncFile == nil {
		c.SyncFile = fdatasync
	}
	if c.WriteFile == nil {
		c.WriteFile = (*os.File).Write
	}
}
