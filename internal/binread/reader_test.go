package binread

import (
	"encoding/binary"
	"errors"
	"testing"
)

var errBad = errors.New("bad record")

func TestReader_ReadsWhatWasWrittenAndFailsOnce(t *testing.T) {
	var b []byte
	b = append(b, 7)
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	r := New(b, errBad)
	if r.Byte() != 7 || r.Uvarint() != 300 || r.Varint() != -5 || r.String() != "abc" || r.Finish() != nil {
		t.Fatalf("round trip failed: %v", r.Err)
	}
	for i := range b { // every truncation fails, wrapping the given error
		r := New(b[:i], errBad)
		r.Byte()
		r.Uvarint()
		r.Varint()
		_ = r.String()
		if err := r.Finish(); !errors.Is(err, errBad) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	r = New(append(append([]byte(nil), b...), 0), errBad)
	r.Byte()
	r.Uvarint()
	r.Varint()
	_ = r.String()
	if err := r.Finish(); !errors.Is(err, errBad) {
		t.Fatalf("a trailing byte was not reported: %v", err)
	}
}
