// Package wal is the node's write-ahead log of accepted events: an
// append-only, segmented, CRC-framed file log with group commit. It is the
// one durable write an event pays on its way in (see
// docs/architecture.md): a record is answered only once an fdatasync has
// covered it, and concurrent appends share that fdatasync.
//
// # Files
//
// A log is a directory of segment files named after the sequence of their
// first record, zero-padded so that name order is log order:
// 00000000000000000001.wal, 00000000000000524289.wal, … A segment starts
// with a 16-byte header — the magic "FHWAL\x00\x00\x01" and its first
// sequence, little-endian — followed by frames:
//
//	length  uint32 LE   bytes of data (≤ Config.MaxRecord)
//	crc     uint32 LE   CRC-32C of the sequence's 8 bytes followed by data
//	seq     uint64 LE   the record's sequence
//	data    length bytes
//
// Sequences grow by one from frame to frame; a gap is possible only where
// damage was repaired (see below) and readers skip it.
//
// # Recovery
//
// Open reads every segment. A frame whose length is out of bounds, whose
// CRC fails or whose sequence does not follow its predecessor's is damage:
// a torn write at the tail after a crash, or bytes changed on disk. The
// reader then looks for the next intact frame further on (an 8-byte
// sequence and a CRC-32C make a false match vanishingly unlikely), so a
// flipped byte costs the records it touches and not the rest of the
// segment. A damaged segment is rewritten with its intact frames only
// (temporary file, fdatasync, rename), every damage is reported
// (Log.Damage), and the sequences after the last intact record skip as
// many numbers as the damaged bytes could have held, so that no sequence
// a lost record had can be given to a new one.
package wal
