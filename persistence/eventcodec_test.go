package persistence

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/firehook/firehook"
)

// codecFullEvent is an event with every field set, as the pixel endpoint
// would store it.
func codecFullEvent() firehook.Event {
	paris := time.FixedZone("CEST", 2*60*60)
	return firehook.Event{
		ID:         "evt_01JQZ8Y3M4N5P6Q7R8S9T0V1W2",
		Seq:        42,
		TenantID:   "ten_01JQZ8WZ1A2B3C4D5E6F7G8H9J",
		SiteID:     "site_01JQZ8X0K1M2N3P4Q5R6S7T8V9",
		VisitorID:  "vis_3f0c9a6e-8d1b-4b7e-9a52-0c6f1d2e3a4b",
		SessionID:  "s_1718000000_8f3a",
		URL:        "https://shop.example.com/produits/café-crème?utm_source=newsletter&utm_medium=email#détails",
		Referrer:   "https://www.google.com/search?q=caf%C3%A9",
		Title:      "Café crème — Boutique 東京 🛒",
		UTM:        map[string]string{"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "été-2025", "utm_term": "café", "utm_content": "bannière_🙂"},
		ClientTS:   time.Date(2025, 6, 14, 9, 30, 15, 123456789, paris),
		ReceivedAt: time.Date(2025, 6, 14, 7, 30, 15, 987654321, time.UTC),
		IP:         "2001:db8::8a2e:370:7334",
		UserAgent:  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		HEMs: firehook.HEMs{
			SHA256: "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b",
			SHA1:   "e22b8e6a2f5fbbbd9e8e9f1ff9c4d1e0a1b2c3d4",
			MD5:    "5d41402abc4b2a76b9719d911017c592",
		},
		IDs: map[string]string{"device_id": "dev-7f3e2a", "maid": "6d92078a-8246-4ba4-ae5b-76104861e7dc", "cookie": "fh_c=8f2e"},
	}
}

// codecMinimalEvent has only what every stored event has.
func codecMinimalEvent() firehook.Event {
	return firehook.Event{
		ID:         "evt_01JQZ8Y3M4N5P6Q7R8S9T0V1W3",
		TenantID:   "ten_1",
		SiteID:     "site_1",
		VisitorID:  "vis_1",
		URL:        "https://example.com/",
		ClientTS:   time.Unix(1718000000, 0),
		ReceivedAt: time.Unix(1718000001, 500),
	}
}

// codecWant is what decoding the encoding of ev into an event whose Seq
// is seq must give: Seq kept, times in UTC, empty maps nil.
func codecWant(ev firehook.Event, seq uint64) firehook.Event {
	ev.Seq = seq
	ev.ClientTS = ev.ClientTS.UTC()
	ev.ReceivedAt = ev.ReceivedAt.UTC()
	if len(ev.UTM) == 0 {
		ev.UTM = nil
	}
	if len(ev.IDs) == 0 {
		ev.IDs = nil
	}
	return ev
}

// codecDiff describes how got differs from want, "" when it does not:
// times must be Equal, zero alike and in UTC, the rest deeply equal.
func codecDiff(got, want firehook.Event) string {
	var diffs []string
	for _, tc := range []struct {
		name      string
		got, want time.Time
	}{{"ClientTS", got.ClientTS, want.ClientTS}, {"ReceivedAt", got.ReceivedAt, want.ReceivedAt}} {
		switch {
		case !tc.got.Equal(tc.want) || tc.got.IsZero() != tc.want.IsZero():
			diffs = append(diffs, fmt.Sprintf("%s = %v (zero %t), want %v (zero %t)", tc.name, tc.got, tc.got.IsZero(), tc.want, tc.want.IsZero()))
		case tc.got.Location() != time.UTC:
			diffs = append(diffs, fmt.Sprintf("%s is in %v, want UTC", tc.name, tc.got.Location()))
		}
	}
	got.ClientTS, got.ReceivedAt = time.Time{}, time.Time{}
	want.ClientTS, want.ReceivedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		diffs = append(diffs, fmt.Sprintf("got  %#v\nwant %#v", got, want))
	}
	return strings.Join(diffs, "\n")
}

func TestEventCodec_RoundTrip(t *testing.T) {
	withTimes := func(ev firehook.Event, client, received time.Time) firehook.Event {
		ev.ClientTS, ev.ReceivedAt = client, received
		return ev
	}
	withMaps := func(ev firehook.Event, utm, ids map[string]string) firehook.Event {
		ev.UTM, ev.IDs = utm, ids
		return ev
	}
	manyKeys := map[string]string{} // more than appendEventMap sorts on the stack
	for i := range 40 {
		manyKeys[fmt.Sprintf("key_%02d", 39-i)] = strings.Repeat("v", i)
	}
	tokyo := time.FixedZone("JST", 9*60*60)
	full := codecFullEvent()

	tests := []struct {
		name string
		ev   firehook.Event
	}{
		{"full", full},
		{"minimal", codecMinimalEvent()},
		{"zero event", firehook.Event{}},
		{"zero times", withTimes(full, time.Time{}, time.Time{})},
		{"zero time in a zone", withTimes(full, time.Time{}.In(tokyo), time.Time{})},
		{"one nanosecond after the zero time", withTimes(full, time.Time{}.Add(1), time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC))},
		{"monotonic reading and zone", withTimes(full, time.Now(), time.Now().In(tokyo))},
		{"before 1970 and far future", withTimes(full, time.Date(1900, 2, 28, 23, 59, 59, 999999999, tokyo), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC))},
		{"nil maps", withMaps(full, nil, nil)},
		{"empty maps", withMaps(full, map[string]string{}, map[string]string{})},
		{"empty key and value", withMaps(full, map[string]string{"": ""}, map[string]string{"": "x", "a": ""})},
		{"many keys", withMaps(full, manyKeys, manyKeys)},
		{"long strings", func() firehook.Event {
			ev := full
			ev.URL = "https://example.com/?" + strings.Repeat("q=é&", 5000)
			ev.UserAgent = strings.Repeat("Mozilla ", 300)
			return ev
		}()},
		{"invalid UTF-8 kept as is", func() firehook.Event {
			ev := full
			ev.Title = "\xff\xfe caf\xc3"
			ev.UTM = map[string]string{"\x80": "\xc0\xaf"}
			return ev
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := appendEvent(nil, &tc.ev)
			if enc[0] != eventCodecVersion {
				t.Fatalf("first byte %d, want version %d", enc[0], eventCodecVersion)
			}
			// Decode over a different event: every field but Seq must
			// be replaced.
			got := codecFullEvent()
			got.Title, got.Seq = "stale", 7
			if err := decodeEvent(enc, &got); err != nil {
				t.Fatalf("decodeEvent: %v", err)
			}
			if d := codecDiff(got, codecWant(tc.ev, 7)); d != "" {
				t.Fatal(d)
			}
			// Appending keeps what dst held.
			prefixed := appendEvent([]byte("frame"), &tc.ev)
			if !bytes.Equal(prefixed, append([]byte("frame"), enc...)) {
				t.Fatalf("appendEvent to a non-empty dst:\n%q\nwant %q", prefixed, enc)
			}
			// The decoded event encodes to the same bytes.
			if again := appendEvent(nil, &got); !bytes.Equal(again, enc) {
				t.Fatalf("re-encoding changed the bytes:\n%x\nwant %x", again, enc)
			}
		})
	}
}

// codecString draws valid UTF-8 text or arbitrary bytes.
var codecString = rapid.OneOf(
	rapid.String(),
	rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 300), func(b []byte) string { return string(b) }),
)

// codecTime draws the zero time, a realistic time or any Unix second at
// all, in one of a few zones.
var codecTime = rapid.Custom(func(t *rapid.T) time.Time {
	var sec int64
	switch rapid.IntRange(0, 3).Draw(t, "time kind") {
	case 0:
		return time.Time{}
	case 1, 2:
		sec = rapid.Int64Range(0, 4102444800).Draw(t, "sec") // 1970–2100
	case 3:
		sec = rapid.Int64Range(math.MinInt64, math.MaxInt64).Draw(t, "sec")
	}
	nsec := rapid.Int64Range(0, 999999999).Draw(t, "nsec")
	offset := rapid.SampledFrom([]int{0, 2 * 3600, -7 * 3600, 5*3600 + 1800}).Draw(t, "offset")
	return time.Unix(sec, nsec).In(time.FixedZone("Z", offset))
})

// codecEvent draws an event with any field values.
var codecEvent = rapid.Custom(func(t *rapid.T) firehook.Event {
	str := func(label string) string { return codecString.Draw(t, label) }
	strMap := func(label string) map[string]string {
		switch rapid.IntRange(0, 2).Draw(t, label+" kind") {
		case 0:
			return nil
		case 1:
			return map[string]string{}
		}
		return rapid.MapOfN(codecString, codecString, 1, 25).Draw(t, label)
	}
	return firehook.Event{
		ID: str("id"), Seq: rapid.Uint64().Draw(t, "seq"),
		TenantID: str("tenant"), SiteID: str("site"), VisitorID: str("visitor"),
		SessionID: str("session"), URL: str("url"), Referrer: str("referrer"),
		Title: str("title"), UTM: strMap("utm"),
		ClientTS: codecTime.Draw(t, "client_ts"), ReceivedAt: codecTime.Draw(t, "received_at"),
		IP: str("ip"), UserAgent: str("ua"),
		HEMs: firehook.HEMs{SHA256: str("sha256"), SHA1: str("sha1"), MD5: str("md5")},
		IDs:  strMap("ids"),
	}
})

// copyMap rebuilds m so that its insertion order differs from m's.
func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestEventCodec_RandomEventsRoundTripDeterministically(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ev := codecEvent.Draw(t, "event")
		enc := appendEvent(nil, &ev)

		twin := ev
		twin.UTM, twin.IDs = copyMap(ev.UTM), copyMap(ev.IDs)
		if again := appendEvent(nil, &twin); !bytes.Equal(again, enc) {
			t.Fatalf("the same event encoded twice:\n%x\n%x", enc, again)
		}

		seq := rapid.Uint64().Draw(t, "target seq")
		got := firehook.Event{Seq: seq}
		if err := decodeEvent(enc, &got); err != nil {
			t.Fatalf("decodeEvent: %v", err)
		}
		if d := codecDiff(got, codecWant(ev, seq)); d != "" {
			t.Fatal(d)
		}
		if again := appendEvent(nil, &got); !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding the decoded event changed the bytes:\n%x\nwant %x", again, enc)
		}
	})
}

func TestEventCodec_DecodeRejects(t *testing.T) {
	full := codecFullEvent()
	valid := appendEvent(nil, &full)

	// head is the encoding up to the UTM map: the version and the eight
	// strings before it, all empty.
	head := append([]byte{eventCodecVersion}, make([]byte, 8)...)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	sv := func(v int64) []byte { return binary.AppendVarint(nil, v) }
	str := func(s string) []byte { return append(uv(uint64(len(s))), s...) }
	// rest is everything after the UTM map of an otherwise empty event:
	// two zero times, five empty strings and an empty IDs map.
	rest := []byte{eventTimeZero, eventTimeZero, 0, 0, 0, 0, 0, 0}
	if err := decodeEvent(cat(head, uv(0), rest), new(firehook.Event)); err != nil {
		t.Fatalf("the hand-built empty event does not decode: %v", err) // the cases below build on it
	}

	tests := []rejectCase{
		{"empty", nil},
		{"version 0", cat([]byte{0}, valid[1:])},
		{"version 2", cat([]byte{2}, valid[1:])},
		{"version 255", cat([]byte{255}, valid[1:])},
		{"one trailing zero", cat(valid, []byte{0})},
		{"trailing garbage", cat(valid, []byte("garbage"))},
		{"a second event after the first", cat(valid, valid)},
		{"string longer than the input", cat([]byte{eventCodecVersion}, uv(1000), []byte("abc"))},
		{"string of 2^64-1 bytes", cat([]byte{eventCodecVersion}, uv(math.MaxUint64))},
		{"uvarint too long", cat([]byte{eventCodecVersion}, bytes.Repeat([]byte{0xff}, 11))},
		{"map count of 2^40", cat(head, uv(1<<40), rest)},
		{"map count of 2^64-1", cat(head, uv(math.MaxUint64), rest)},
		{"last map one pair short", cat(head, uv(0), rest[:len(rest)-1], uv(2), str("a"), str("1"))},
		{"map keys out of order", cat(head, uv(2), str("b"), str("1"), str("a"), str("2"), rest)},
		{"map key twice", cat(head, uv(2), str("a"), str("1"), str("a"), str("2"), rest)},
		{"time marker 2", cat(head, uv(0), []byte{2}, rest[1:])},
		{"time without seconds", cat(head, uv(0), []byte{eventTimeSet})},
		{"nanoseconds of 1e9", cat(head, uv(0), []byte{eventTimeSet}, sv(0), uv(1e9), rest[1:])},
	}
	assertDecodeRejects(t, tests, valid, func() firehook.Event {
		ev := codecMinimalEvent()
		ev.Seq = 9
		return ev
	}, decodeEvent, errEventEncoding)
}

// rejectCase is an input a decoder must refuse.
type rejectCase struct {
	name string
	b    []byte
}

// assertDecodeRejects runs decode on every case and on every truncation
// of valid: each must fail with an error wrapping sentinel and leave the
// value (a fresh one from fresh) unchanged.
func assertDecodeRejects[T any](t *testing.T, cases []rejectCase, valid []byte, fresh func() T, decode func([]byte, *T) error, sentinel error) {
	t.Helper()
	for i := range valid {
		cases = append(cases, rejectCase{fmt.Sprintf("truncated to %d of %d bytes", i, len(valid)), valid[:i]})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, before := fresh(), fresh()
			if err := decode(tc.b, &got); !errors.Is(err, sentinel) {
				t.Fatalf("decode(%x) = %v, want an error wrapping %v", tc.b, err, sentinel)
			}
			if !reflect.DeepEqual(got, before) {
				t.Fatalf("a failed decode changed the value to %#v", got)
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	full, minimal := codecFullEvent(), codecMinimalEvent()
	zeroTimes := full
	zeroTimes.ClientTS, zeroTimes.ReceivedAt = time.Time{}, time.Time{}
	for _, ev := range []firehook.Event{full, minimal, zeroTimes, {}} {
		f.Add(appendEvent(nil, &ev))
	}
	f.Add([]byte{})
	f.Add([]byte{eventCodecVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev firehook.Event
		if err := decodeEvent(b, &ev); err != nil {
			if !errors.Is(err, errEventEncoding) {
				t.Fatalf("error %v does not wrap %v", err, errEventEncoding)
			}
			return
		}
		enc := appendEvent(nil, &ev)
		var again firehook.Event
		if err := decodeEvent(enc, &again); err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%x", err, enc)
		}
		if d := codecDiff(again, ev); d != "" {
			t.Fatalf("decode, encode, decode changed the event:\n%s", d)
		}
		if enc2 := appendEvent(nil, &again); !bytes.Equal(enc2, enc) {
			t.Fatalf("the same event encoded differently:\n%x\n%x", enc, enc2)
		}
	})
}

// BenchmarkEventCodec compares the binary codec with encoding/json on the
// same full event; encoded-bytes is the size of one encoding.
func BenchmarkEventCodec(b *testing.B) {
	ev := codecFullEvent()
	benchmarkCodec(b, "", &ev, appendEvent, decodeEvent)
}

// benchmarkCodec measures a stored record's binary codec against
// encoding/json on v: encode (into a reused buffer) and decode, time and
// allocations, and the encoded size.
func benchmarkCodec[T any](b *testing.B, name string, v *T, appendBin func([]byte, *T) []byte, decodeBin func([]byte, *T) error) {
	b.Helper()
	bin := appendBin(nil, v)
	js, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	run := func(sub string, size int, fn func() error) {
		b.Run(name+sub, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size), "encoded-bytes")
		})
	}
	buf := make([]byte, 0, 2*len(bin))
	run("Binary/Encode", len(bin), func() error { buf = appendBin(buf[:0], v); return nil })
	run("Binary/Decode", len(bin), func() error { var out T; return decodeBin(bin, &out) })
	run("JSON/Encode", len(js), func() error { _, err := json.Marshal(v); return err })
	run("JSON/Decode", len(js), func() error { var out T; return json.Unmarshal(js, &out) })
}
