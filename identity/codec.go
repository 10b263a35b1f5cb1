package identity

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/firehook/firehook/internal/binread"
)

// The stored form of a Record: compact binary, not JSON. A graph holds
// millions of records; the binary form is less than half the size of the
// JSON one (hashed emails as raw bytes, no field names), so an import
// writes half the bytes, and a cold start reads identifiers without
// decoding the profile.
//
//	version        byte (codecVersion)
//	flags          byte (reserved, 0)
//	updated_at     varint, unix nanoseconds (0: none)
//	identifiers    uvarint count, then per identifier:
//	                 type byte (typeCodes), then for hems the raw digest
//	                 (32/20/16 bytes), for others uvarint length + bytes
//	strings        uvarint length + bytes each, in profileFields order
//	person_id      uvarint length + bytes
//
// Changing the layout means a new version byte and a decoder for the old.
const codecVersion = 1

var errCorrupt = errors.New("corrupt stored record")

// typeCodes numbers the identifier types in the stored form; never reuse
// a number.
var typeCodes = map[Type]byte{
	TypeCookie: 1, TypeHEMSHA256: 2, TypeHEMSHA1: 3, TypeHEMMD5: 4,
	TypeDeviceID: 5, TypeMAID: 6, TypeIP: 7,
}

var codeTypes = func() [256]Type {
	var out [256]Type
	for t, c := range typeCodes {
		out[c] = t
	}
	return out
}()

// digestLen is the raw length of a hashed-email type's digest (0: not one).
func digestLen(t Type) int {
	switch t {
	case TypeHEMSHA256:
		return 32
	case TypeHEMSHA1:
		return 20
	case TypeHEMMD5:
		return 16
	}
	return 0
}

// profileFields lists the text fields of a record in stored order.
func profileFields(r *Record) [13]*string {
	p, c := &r.Person, &r.Company
	return [13]*string{&p.FirstName, &p.LastName, &p.JobTitle, &p.LinkedInURL, &p.BusinessEmail,
		&p.Location.City, &p.Location.Region, &p.Location.Country,
		&c.Name, &c.Domain, &c.Industry, &c.EmployeeRange, &c.RevenueRange}
}

// appendRecord appends the stored form of r to buf.
func appendRecord(buf []byte, r *Record) ([]byte, error) {
	buf = append(buf, codecVersion, 0)
	var ts int64
	if !r.UpdatedAt.IsZero() {
		ts = r.UpdatedAt.UnixNano()
	}
	buf = binary.AppendVarint(buf, ts)
	buf = binary.AppendUvarint(buf, uint64(len(r.Identifiers)))
	for _, id := range r.Identifiers {
		code, ok := typeCodes[id.Type]
		if !ok {
			return nil, fmt.Errorf("encode %s: %w", id.Key(), ErrInvalidIdentifier)
		}
		buf = append(buf, code)
		if n := digestLen(id.Type); n > 0 {
			if len(id.Value) != 2*n {
				return nil, fmt.Errorf("encode %s: %w", id.Key(), ErrInvalidIdentifier)
			}
			start := len(buf)
			buf = append(buf, make([]byte, n)...)
			if _, err := hex.Decode(buf[start:], []byte(id.Value)); err != nil {
				return nil, fmt.Errorf("encode %s: %w", id.Key(), ErrInvalidIdentifier)
			}
			continue
		}
		buf = appendString(buf, id.Value)
	}
	for _, f := range profileFields(r) {
		buf = appendString(buf, *f)
	}
	return appendString(buf, r.PersonID), nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decoder reads the stored form.
type decoder struct{ binread.Reader }

func newDecoder(b []byte) decoder { return decoder{binread.New(b, errCorrupt)} }

func (d *decoder) header() int64 {
	if v := d.Byte(); v != codecVersion && d.Err == nil {
		d.Fail("version %d", v)
	}
	d.Byte() // flags
	return d.Varint()
}

func (d *decoder) identifier() Identifier {
	t := codeTypes[d.Byte()]
	if t == "" && d.Err == nil {
		d.Fail("unknown identifier type")
	}
	if n := digestLen(t); n > 0 {
		return Identifier{Type: t, Value: hex.EncodeToString(d.Bytes(n))}
	}
	return Identifier{Type: t, Value: d.String()}
}

// DecodeStoredRecord decodes a person record as the graph stores it in
// badger (for tools and tests that read the store directly).
func DecodeStoredRecord(b []byte) (Record, error) { return decodeRecord(b) }

// decodeRecord decodes a stored record.
func decodeRecord(b []byte) (Record, error) {
	d := newDecoder(b)
	var r Record
	if ts := d.header(); ts != 0 {
		r.UpdatedAt = time.Unix(0, ts).UTC()
	}
	n := d.Uvarint()
	if d.Err == nil && n > uint64(len(d.B)) {
		d.Fail("%d identifiers in %d bytes", n, len(d.B))
	}
	if d.Err == nil {
		r.Identifiers = make([]Identifier, 0, n)
	}
	for i := uint64(0); i < n && d.Err == nil; i++ {
		r.Identifiers = append(r.Identifiers, d.identifier())
	}
	for _, f := range profileFields(&r) {
		*f = d.String()
	}
	r.PersonID = d.String()
	if err := d.Finish(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// scanStored reads only what a cold start needs from a stored record: the
// hash of each identifier (as Identifier.Hash computes it) and whether the
// record is company-only. It allocates nothing per record but what
// appends to hashes.
func scanStored(b []byte, hashes []typedHash) ([]typedHash, bool, error) {
	d := newDecoder(b)
	d.header()
	n := d.Uvarint()
	var hexBuf [64]byte
	for i := uint64(0); i < n && d.Err == nil; i++ {
		t := codeTypes[d.Byte()]
		if t == "" {
			d.Fail("unknown identifier type")
			break
		}
		var value []byte
		if k := digestLen(t); k > 0 {
			raw := d.Bytes(k)
			if d.Err != nil {
				break
			}
			hex.Encode(hexBuf[:2*k], raw)
			value = hexBuf[:2*k]
		} else {
			value = d.Bytes(int(d.Uvarint()))
		}
		hashes = append(hashes, typedHash{t, hashOf(t, value)})
	}
	person, company := false, false
	for i := range 13 {
		if l := d.Uvarint(); l > 0 {
			if i < 8 {
				person = true
			} else {
				company = true
			}
			d.Bytes(int(l))
		}
	}
	d.Bytes(int(d.Uvarint())) // person id
	if d.Err != nil {
		return hashes, false, d.Err
	}
	return hashes, !person && company, nil
}

// typedHash is an identifier's type and hash.
type typedHash struct {
	t Type
	h uint64
}

// hashOf is Identifier{t, string(value)}.Hash() without building the
// string.
func hashOf(t Type, value []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(string(t))
	_, _ = d.WriteString(":")
	_, _ = d.Write(value)
	return d.Sum64()
}
