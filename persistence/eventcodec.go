package persistence

// The stored form of a firehook.Event: compact binary, written and read
// without reflection, in place of encoding/json on the event log's hot
// path. Seq is not part of it: the log frame that holds the encoding
// carries the sequence number.
//
// All integers are varints (encoding/binary); a string is a uvarint byte
// length followed by the bytes, kept exactly as given (no UTF-8 check).
// The fields, in order:
//
//	version      byte, eventCodecVersion (1)
//	id           string
//	tenant_id    string
//	site_id      string
//	visitor_id   string
//	session_id   string
//	url          string
//	referrer     string
//	title        string
//	utm          map
//	client_ts    time
//	received_at  time
//	ip           string
//	user_agent   string
//	hem_sha256   string
//	hem_sha1     string
//	hem_md5      string
//	ids          map
//
// A map is a uvarint count followed by that many key, value string pairs
// in strictly increasing key order, so that one event always has one
// encoding; nil and empty maps are both written as count 0 and read back
// as nil.
//
// A time is one byte: 0 for the zero time.Time, with nothing after it, or
// 1 followed by the varint Unix seconds and the uvarint nanoseconds within
// the second (below 1e9). Decoded times are in UTC, so they are Equal to,
// not identical with, what was encoded (location and monotonic reading
// are not kept).
//
// Changing the layout means a new version byte and keeping a decoder for
// the old one: events written by an older node stay in the log.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/internal/binread"
)

// eventCodecVersion is the first byte of every encoded event.
const eventCodecVersion = 1

// Time markers, the first byte of an encoded time.
const (
	eventTimeZero = 0 // the zero time.Time, nothing follows
	eventTimeSet  = 1 // varint Unix seconds and uvarint nanoseconds follow
)

// errEventEncoding is wrapped by every error decodeEvent returns.
var errEventEncoding = errors.New("corrupt event encoding")

// appendEvent appends the stored form of ev (every field but Seq; see the
// format above) to dst and returns the extended slice. It allocates
// nothing but what growing dst takes, except that sorting the keys of a
// map with more than 16 entries needs a heap buffer.
func appendEvent(dst []byte, ev *firehook.Event) []byte {
	dst = append(dst, eventCodecVersion)
	dst = appendEventString(dst, ev.ID)
	dst = appendEventString(dst, ev.TenantID)
	dst = appendEventString(dst, ev.SiteID)
	dst = appendEventString(dst, ev.VisitorID)
	dst = appendEventString(dst, ev.SessionID)
	dst = appendEventString(dst, ev.URL)
	dst = appendEventString(dst, ev.Referrer)
	dst = appendEventString(dst, ev.Title)
	dst = appendEventMap(dst, ev.UTM)
	dst = appendEventTime(dst, ev.ClientTS)
	dst = appendEventTime(dst, ev.ReceivedAt)
	dst = appendEventString(dst, ev.IP)
	dst = appendEventString(dst, ev.UserAgent)
	dst = appendEventString(dst, ev.HEMs.SHA256)
	dst = appendEventString(dst, ev.HEMs.SHA1)
	dst = appendEventString(dst, ev.HEMs.MD5)
	return appendEventMap(dst, ev.IDs)
}

// appendEventString appends s as a uvarint length and its bytes.
func appendEventString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendEventTime appends t as a marker byte and, unless t is the zero
// time, its Unix seconds and nanoseconds.
func appendEventTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, eventTimeZero)
	}
	dst = append(dst, eventTimeSet)
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

// appendEventMap appends m as a count and its pairs in key order.
func appendEventMap(dst []byte, m map[string]string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	if len(m) == 0 {
		return dst
	}
	// UTM and IDs hold a handful of keys: sort them in a buffer on the
	// stack; append moves to the heap only for a larger map.
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = appendEventString(dst, k)
		dst = appendEventString(dst, m[k])
	}
	return dst
}

// decodeEvent decodes what appendEvent encoded into ev, replacing every
// field but Seq, which it leaves as it is. The strings are copies, so b
// may be reused afterwards (a badger value is only valid inside its
// transaction). It fails, leaving ev unchanged, on an unknown version,
// truncated input, a length or count larger than the input left, a
// malformed varint, time or map, and trailing bytes; the error wraps
// errEventEncoding. It never panics, and allocates in proportion to
// len(b) whatever the length prefixes and counts claim.
func decodeEvent(b []byte, ev *firehook.Event) error {
	d := eventDecoder{binread.New(b, errEventEncoding)}
	if v := d.Byte(); v != eventCodecVersion && d.Err == nil {
		d.Fail("unknown version %d", v)
	}
	var out firehook.Event
	out.ID = d.String()
	out.TenantID = d.String()
	out.SiteID = d.String()
	out.VisitorID = d.String()
	out.SessionID = d.String()
	out.URL = d.String()
	out.Referrer = d.String()
	out.Title = d.String()
	out.UTM = d.stringMap("utm")
	out.ClientTS = d.time("client_ts")
	out.ReceivedAt = d.time("received_at")
	out.IP = d.String()
	out.UserAgent = d.String()
	out.HEMs.SHA256 = d.String()
	out.HEMs.SHA1 = d.String()
	out.HEMs.MD5 = d.String()
	out.IDs = d.stringMap("ids")
	if err := d.Finish(); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	out.Seq = ev.Seq
	*ev = out
	return nil
}

// eventDecoder reads the fields of an encoded event (see binread.Reader:
// after the first failure every read returns a zero value).
type eventDecoder struct{ binread.Reader }

// time reads a time written by appendEventTime; field names it in errors.
func (d *eventDecoder) time(field string) time.Time {
	switch marker := d.Byte(); {
	case d.Err != nil:
		return time.Time{}
	case marker == eventTimeZero:
		return time.Time{}
	case marker != eventTimeSet:
		d.Fail("%s: unknown time marker %d", field, marker)
		return time.Time{}
	}
	sec := d.Varint()
	nsec := d.Uvarint()
	if d.Err != nil {
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		d.Fail("%s: nanoseconds %d out of range", field, nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// stringMap reads a map written by appendEventMap; field names it in
// errors. A count of 0 gives nil.
func (d *eventDecoder) stringMap(field string) map[string]string {
	n := d.Uvarint()
	if d.Err != nil || n == 0 {
		return nil
	}
	// Every pair takes at least two bytes (two empty strings), so a
	// larger count cannot be honest; checking it first keeps a corrupt
	// count from sizing the map.
	if n > uint64(len(d.B)/2) {
		d.Fail("%s: %d pairs in %d bytes", field, n, len(d.B))
		return nil
	}
	m := make(map[string]string, n)
	var prev string
	for i := uint64(0); i < n && d.Err == nil; i++ {
		k := d.String()
		v := d.String()
		if d.Err == nil && i > 0 && k <= prev {
			d.Fail("%s: key of pair %d out of order", field, i)
		}
		m[k] = v
		prev = k
	}
	if d.Err != nil {
		return nil
	}
	return m
}
