// Package binread reads the compact binary records that Firehook stores
// in badger (identity graph records, visitor state): varints,
// length-prefixed strings and raw bytes, with a sticky error so that a
// decoder reads every field and checks once at the end.
package binread

import (
	"encoding/binary"
	"fmt"
)

// Reader reads B from the front. After the first failure every read
// returns a zero value, B is emptied and Err keeps that first failure,
// which wraps the Corrupt error given to New.
type Reader struct {
	B       []byte
	Err     error
	corrupt error
}

// New returns a Reader over b whose failures wrap corrupt.
func New(b []byte, corrupt error) Reader { return Reader{B: b, corrupt: corrupt} }

// Fail records a failure (the first one wins) and stops reading.
func (r *Reader) Fail(format string, args ...any) {
	if r.Err == nil {
		r.Err = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), r.corrupt)
	}
	r.B = nil
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if b := r.Bytes(1); b != nil {
		return b[0]
	}
	return 0
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Fail("bad uvarint")
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	if r.Err != nil {
		return 0
	}
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.Fail("bad varint")
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Bytes reads n bytes; the result aliases the input.
func (r *Reader) Bytes(n int) []byte {
	if r.Err != nil {
		return nil
	}
	if n < 0 || n > len(r.B) {
		r.Fail("%d bytes wanted, %d left", n, len(r.B))
		return nil
	}
	out := r.B[:n]
	r.B = r.B[n:]
	return out
}

// String reads a uvarint length and that many bytes, copied.
func (r *Reader) String() string { return string(r.LenBytes()) }

// LenBytes reads a uvarint length and that many bytes; the result aliases
// the input (String copies it).
func (r *Reader) LenBytes() []byte {
	n := r.Uvarint()
	if r.Err != nil {
		return nil
	}
	if n > uint64(len(r.B)) {
		r.Fail("string of %d bytes, %d left", n, len(r.B))
		return nil
	}
	return r.Bytes(int(n))
}

// Finish fails when bytes are left over, and returns Err.
func (r *Reader) Finish() error {
	if r.Err == nil && len(r.B) > 0 {
		r.Fail("%d trailing bytes", len(r.B))
	}
	return r.Err
}
