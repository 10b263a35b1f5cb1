package persistence

// The stored forms of the outbox's two per-event records, compact binary
// written and read without reflection, in place of encoding/json on the
// dispatch and delivery hot path:
//
//   - a delivery under dv/<delivery id>: every field of firehook.Delivery
//     but Payload, which is stored apart under dp/;
//   - an event's dispatch decision under dd/<event id>: a dispatchRecord.
//
// Strings and times are written as in eventcodec.go: a string is a
// uvarint byte length followed by the bytes, kept exactly as given; a time
// is a marker byte, eventTimeZero for the zero time.Time with nothing
// after it, or eventTimeSet followed by the varint Unix seconds and the
// uvarint nanoseconds within the second. Decoded times are in UTC: Equal
// to what was encoded, without its location or monotonic reading. Other
// integers are varints (encoding/binary): uvarint for the unsigned ones,
// varint for the signed ones.
//
// A delivery, in order:
//
//	version            byte, outboxCodecVersion (1)
//	id                 string
//	event_id           string
//	endpoint_id        string
//	tenant_id          string
//	person_key         string
//	type               string
//	sequence           uvarint
//	priority           varint
//	status             string
//	next_attempt_at    time
//	created_at         time
//	updated_at         time
//	replayed_at        time
//	event_received_at  time
//	attempts           uvarint count, then per attempt:
//	  n                varint
//	  at               time
//	  status_code      varint
//	  duration_ms      varint
//	  error            string
//	  response_snippet string
//
// A dispatch record, in order:
//
//	version     byte, outboxCodecVersion (1)
//	type        string
//	sequence    uvarint
//	person_key  string
//	deliveries  uvarint count, then that many strings (delivery ids)
//
// Neither holds a map, so one record always has one encoding.
//
// Nodes before this codec stored both records as encoding/json of the Go
// struct, which always starts with '{'. The decoders read a record that
// starts with '{' as JSON, exactly as encoding/json reads it (times keep
// their stored offset), so a data directory written by an older node reads
// as before; its records turn binary as they are rewritten. A version
// byte must therefore never be '{' (0x7b). Changing a layout means a new
// version byte and keeping the decoder of the old one.
//
// Empty lists decode as nil, whichever form they were stored in: a
// delivery without attempts has nil Attempts, as every writer creates it
// and as the JSON records always gave back ("attempts": null in a
// receipt).

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/binread"
)

// outboxCodecVersion is the first byte of every encoded delivery and
// dispatch record. It must never be jsonRecordStart.
const outboxCodecVersion = 1

// jsonRecordStart is the first byte of a record stored as JSON by an
// older node.
const jsonRecordStart = '{'

// errOutboxEncoding is wrapped by every error decodeDelivery and
// decodeDispatchRecord return.
var errOutboxEncoding = errors.New("corrupt outbox record")

// Upper bounds of the encoded sizes, used to size an encoding's buffer
// once.
const (
	maxTimeLen = 1 + 2*binary.MaxVarintLen64 // marker, seconds, nanoseconds
	// maxAttemptFixed is an attempt without its two strings' bytes: three
	// varints, a time and two string lengths.
	maxAttemptFixed = 5*binary.MaxVarintLen64 + maxTimeLen
	// minAttemptLen is the shortest encoded attempt: a byte for each of
	// its six fields (small integers, the zero time, empty strings).
	minAttemptLen = 6
)

// The values that nearly every stored status and type hold: the decoders
// return these constants rather than a fresh copy of each.
var (
	knownStatuses = []string{
		string(firehook.DeliveryPending), string(firehook.DeliveryRetrying),
		string(firehook.DeliveryDelivered), string(firehook.DeliveryFailed),
	}
	knownTypes = []string{firehook.EventIdentified, firehook.EventUpdated}
)

// appendDelivery appends the stored form of d (every field but Payload;
// see the format above) to dst and returns the extended slice.
func appendDelivery(dst []byte, d *firehook.Delivery) []byte {
	dst = append(dst, outboxCodecVersion)
	dst = appendEventString(dst, d.ID)
	dst = appendEventString(dst, d.EventID)
	dst = appendEventString(dst, d.EndpointID)
	dst = appendEventString(dst, d.TenantID)
	dst = appendEventString(dst, d.PersonKey)
	dst = appendEventString(dst, d.Type)
	dst = binary.AppendUvarint(dst, d.Sequence)
	dst = binary.AppendVarint(dst, int64(d.Priority))
	dst = appendEventString(dst, string(d.Status))
	dst = appendEventTime(dst, d.NextAttemptAt)
	dst = appendEventTime(dst, d.CreatedAt)
	dst = appendEventTime(dst, d.UpdatedAt)
	dst = appendEventTime(dst, d.ReplayedAt)
	dst = appendEventTime(dst, d.EventReceivedAt)
	dst = binary.AppendUvarint(dst, uint64(len(d.Attempts)))
	for i := range d.Attempts {
		a := &d.Attempts[i]
		dst = binary.AppendVarint(dst, int64(a.N))
		dst = appendEventTime(dst, a.At)
		dst = binary.AppendVarint(dst, int64(a.StatusCode))
		dst = binary.AppendVarint(dst, a.DurationMS)
		dst = appendEventString(dst, a.Error)
		dst = appendEventString(dst, a.ResponseSnippet)
	}
	return dst
}

// encodeDelivery returns the stored form of d in a buffer of its own,
// allocated once: badger keeps the value of a Set until the commit, so
// it cannot share a buffer.
func encodeDelivery(d *firehook.Delivery) []byte {
	const fixed = 1 + // version
		7*binary.MaxVarintLen64 + // six string lengths, the attempt count
		2*binary.MaxVarintLen64 + // sequence, priority
		5*maxTimeLen
	n := fixed + len(d.ID) + len(d.EventID) + len(d.EndpointID) + len(d.TenantID) +
		len(d.PersonKey) + len(d.Type) + len(d.Status)
	for i := range d.Attempts {
		n += maxAttemptFixed + len(d.Attempts[i].Error) + len(d.Attempts[i].ResponseSnippet)
	}
	return appendDelivery(make([]byte, 0, n), d)
}

// decodeDelivery decodes a stored delivery into d, replacing every field
// but Payload, which it leaves as it is. b is appendDelivery's form or,
// when it starts with '{', the JSON of an older node. The strings are
// copies, so b may be reused afterwards (a badger value is only valid
// inside its transaction). It fails, leaving d unchanged, on an unknown
// version, truncated input, a length or count larger than the input
// left, a malformed varint or time, an integer that overflows int,
// trailing bytes and invalid JSON; the error wraps errOutboxEncoding. It
// never panics, and allocates in proportion to len(b) whatever the
// length prefixes and counts claim.
func decodeDelivery(b []byte, d *firehook.Delivery) error {
	var out firehook.Delivery
	var err error
	if isJSONRecord(b) {
		out, err = decodeJSONRecord[firehook.Delivery](b)
	} else {
		err = decodeBinaryDelivery(b, &out)
	}
	if err != nil {
		return err
	}
	// The one place where both forms are normalised (see the format).
	if len(out.Attempts) == 0 {
		out.Attempts = nil
	}
	out.Payload = d.Payload
	*d = out
	return nil
}

// decodeBinaryDelivery decodes appendDelivery's form into out, which it
// may leave half filled on an error.
func decodeBinaryDelivery(b []byte, out *firehook.Delivery) error {
	r := newRecordDecoder(b)
	r.version()
	out.ID = r.String()
	out.EventID = r.String()
	out.EndpointID = r.String()
	out.TenantID = r.String()
	out.PersonKey = r.String()
	out.Type = r.knownString(knownTypes)
	out.Sequence = r.Uvarint()
	out.Priority = r.int("priority")
	out.Status = firehook.DeliveryStatus(r.knownString(knownStatuses))
	out.NextAttemptAt = r.time("next_attempt_at")
	out.CreatedAt = r.time("created_at")
	out.UpdatedAt = r.time("updated_at")
	out.ReplayedAt = r.time("replayed_at")
	out.EventReceivedAt = r.time("event_received_at")
	if n := r.count("attempts", minAttemptLen); n > 0 {
		out.Attempts = make([]firehook.Attempt, n)
		for i := range out.Attempts {
			a := &out.Attempts[i]
			a.N = r.int("attempt n")
			a.At = r.time("attempt at")
			a.StatusCode = r.int("attempt status_code")
			a.DurationMS = r.Varint()
			a.Error = r.String()
			a.ResponseSnippet = r.String()
		}
	}
	return r.Finish()
}

// appendDispatchRecord appends the stored form of rec (see the format
// above) to dst and returns the extended slice.
func appendDispatchRecord(dst []byte, rec *dispatchRecord) []byte {
	dst = append(dst, outboxCodecVersion)
	dst = appendEventString(dst, rec.Type)
	dst = binary.AppendUvarint(dst, rec.Sequence)
	dst = appendEventString(dst, rec.PersonKey)
	dst = binary.AppendUvarint(dst, uint64(len(rec.Deliveries)))
	for _, id := range rec.Deliveries {
		dst = appendEventString(dst, id)
	}
	return dst
}

// encodeDispatchRecord returns the stored form of rec in a buffer of its
// own, allocated once (see encodeDelivery).
func encodeDispatchRecord(rec *dispatchRecord) []byte {
	n := 1 + 4*binary.MaxVarintLen64 + len(rec.Type) + len(rec.PersonKey)
	for _, id := range rec.Deliveries {
		n += binary.MaxVarintLen64 + len(id)
	}
	return appendDispatchRecord(make([]byte, 0, n), rec)
}

// decodeDispatchRecord decodes a stored dispatch record into rec,
// replacing all of it. b is appendDispatchRecord's form or, when it starts
// with '{', the JSON of an older node. It copies, fails, never panics and
// bounds its allocations as decodeDelivery does; the error wraps
// errOutboxEncoding. No deliveries decode as nil Deliveries.
func decodeDispatchRecord(b []byte, rec *dispatchRecord) error {
	var out dispatchRecord
	if isJSONRecord(b) {
		var err error
		if out, err = decodeJSONRecord[dispatchRecord](b); err != nil {
			return err
		}
	} else {
		r := newRecordDecoder(b)
		r.version()
		out.Type = r.knownString(knownTypes)
		out.Sequence = r.Uvarint()
		out.PersonKey = r.String()
		if n := r.count("deliveries", 1); n > 0 { // an id takes at least its length byte
			out.Deliveries = make([]string, n)
			for i := range out.Deliveries {
				out.Deliveries[i] = r.String()
			}
		}
		if err := r.Finish(); err != nil {
			return err
		}
	}
	if len(out.Deliveries) == 0 {
		out.Deliveries = nil
	}
	*rec = out
	return nil
}

// isJSONRecord reports whether b is a record stored as JSON by an older
// node.
func isJSONRecord(b []byte) bool { return len(b) > 0 && b[0] == jsonRecordStart }

// decodeJSONRecord decodes an older node's JSON record with encoding/json,
// exactly as that node read it; the error wraps errOutboxEncoding. It
// returns the record rather than filling the caller's: encoding/json
// moves what it decodes into to the heap, and the binary path's record
// need not go with it.
func decodeJSONRecord[T any](b []byte) (T, error) {
	var rec T
	if err := json.Unmarshal(b, &rec); err != nil {
		var zero T
		return zero, fmt.Errorf("JSON: %w: %w", err, errOutboxEncoding)
	}
	return rec, nil
}

// recordDecoder reads the fields of an encoded outbox record: the
// event codec's reader (strings, times) with the outbox's sentinel, and a
// few reads of its own. After the first failure every read returns a zero
// value (see binread.Reader).
type recordDecoder struct{ eventDecoder }

func newRecordDecoder(b []byte) recordDecoder {
	return recordDecoder{eventDecoder{binread.New(b, errOutboxEncoding)}}
}

// version reads the version byte and fails on any but outboxCodecVersion.
func (r *recordDecoder) version() {
	if v := r.Byte(); v != outboxCodecVersion && r.Err == nil {
		r.Fail("unknown version %d", v)
	}
}

// int reads a varint that must fit an int; field names it in errors.
func (r *recordDecoder) int(field string) int {
	v := r.Varint()
	if int64(int(v)) != v {
		r.Fail("%s: %d overflows int", field, v)
		return 0
	}
	return int(v)
}

// count reads the uvarint length of a list whose items take at least
// minLen bytes each; field names it in errors. A count the input left
// cannot hold fails before anything is sized by it.
func (r *recordDecoder) count(field string, minLen int) int {
	n := r.Uvarint()
	if r.Err != nil {
		return 0
	}
	if n > uint64(len(r.B)/minLen) {
		r.Fail("%s: %d items in %d bytes", field, n, len(r.B))
		return 0
	}
	return int(n)
}

// knownString reads a string; when it is one of known, it returns that
// string instead of a copy, sparing an allocation.
func (r *recordDecoder) knownString(known []string) string {
	b := r.LenBytes()
	for _, s := range known {
		if string(b) == s { // compared in place, not converted
			return s
		}
	}
	return string(b)
}
