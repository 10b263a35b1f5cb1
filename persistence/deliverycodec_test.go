package persistence

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"pgregory.net/rapid"

	"github.com/firehook/firehook"
)

// codecFreshDelivery is a delivery as Dispatch stores it: pending, no
// attempts yet, due at its creation.
func codecFreshDelivery() firehook.Delivery {
	created := time.Date(2025, 6, 14, 7, 30, 15, 987654321, time.UTC)
	return firehook.Delivery{
		ID:              "dlv_01JXR4ZQ8W3M5N6P7Q8R9S0T1V",
		EventID:         "evt_01JXR4ZQ7A2B3C4D5E6F7G8H9J",
		EndpointID:      "ep_01JQZ8WZ1A2B3C4D5E6F7G8H9J",
		TenantID:        "ten_01JQZ8WZ1A2B3C4D5E6F7G8H9J",
		PersonKey:       "ten_01JQZ8WZ1A2B3C4D5E6F7G8H9J/per_01JQZ8X0K1M2N3P4Q5R6S7T8V9",
		Type:            firehook.EventUpdated,
		Sequence:        17,
		Priority:        firehook.PriorityEveryUpdate,
		Status:          firehook.DeliveryPending,
		NextAttemptAt:   created,
		CreatedAt:       created,
		UpdatedAt:       created,
		EventReceivedAt: created.Add(-3 * time.Millisecond),
	}
}

// codecAttemptedDelivery has three attempts with every Attempt field set
// and is waiting for the fourth.
func codecAttemptedDelivery() firehook.Delivery {
	d := codecFreshDelivery()
	paris := time.FixedZone("CEST", 2*60*60)
	d.Status = firehook.DeliveryRetrying
	d.Attempts = []firehook.Attempt{
		{N: 1, At: d.CreatedAt.Add(2 * time.Millisecond), StatusCode: 503, DurationMS: 118,
			Error: "", ResponseSnippet: `{"error":"upstream unavailable","retry":true}`},
		{N: 2, At: d.CreatedAt.Add(5 * time.Second).In(paris), StatusCode: 0, DurationMS: 10000,
			Error: `Post "https://hooks.example.com/firehook": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, ResponseSnippet: ""},
		{N: 3, At: d.CreatedAt.Add(35 * time.Second), StatusCode: 429, DurationMS: 7,
			Error: "rate limited", ResponseSnippet: "Too Many Requests — réessayez plus tard 🙂"},
	}
	d.UpdatedAt = d.CreatedAt.Add(35*time.Second + 7*time.Millisecond)
	d.NextAttemptAt = d.CreatedAt.Add(5 * time.Minute)
	return d
}

// codecFinishedDelivery is delivered: a receipt, no next attempt.
func codecFinishedDelivery() firehook.Delivery {
	d := codecAttemptedDelivery()
	d.Attempts = append(d.Attempts, firehook.Attempt{N: 4, At: d.NextAttemptAt, StatusCode: 204, DurationMS: 41})
	d.Status, d.NextAttemptAt = firehook.DeliveryDelivered, time.Time{}
	d.UpdatedAt = d.Attempts[3].At.Add(41 * time.Millisecond)
	return d
}

// codecReplayedDelivery was delivered, then replayed: pending again, due
// at the replay.
func codecReplayedDelivery() firehook.Delivery {
	d := codecFinishedDelivery()
	replay := d.UpdatedAt.Add(26 * time.Hour)
	d.Status, d.NextAttemptAt, d.ReplayedAt, d.UpdatedAt = firehook.DeliveryPending, replay, replay, replay
	return d
}

// deliveryTimes returns pointers to every time in d, its attempts' too.
func deliveryTimes(d *firehook.Delivery) map[string]*time.Time {
	out := map[string]*time.Time{
		"NextAttemptAt": &d.NextAttemptAt, "CreatedAt": &d.CreatedAt, "UpdatedAt": &d.UpdatedAt,
		"ReplayedAt": &d.ReplayedAt, "EventReceivedAt": &d.EventReceivedAt,
	}
	for i := range d.Attempts {
		out[fmt.Sprintf("Attempts[%d].At", i)] = &d.Attempts[i].At
	}
	return out
}

// deliveryCodecWant is what decoding d's encoding into a delivery that
// holds payload must give: Payload kept, times in UTC, no attempts nil.
func deliveryCodecWant(d firehook.Delivery, payload []byte) firehook.Delivery {
	d.Payload = payload
	d.Attempts = slices.Clone(d.Attempts)
	if len(d.Attempts) == 0 {
		d.Attempts = nil
	}
	for _, t := range deliveryTimes(&d) {
		*t = t.UTC()
	}
	return d
}

// deliveryCodecDiff describes how got differs from want, "" when it does
// not: times must be Equal and zero alike (and in UTC when utc is set),
// the rest deeply equal.
func deliveryCodecDiff(got, want firehook.Delivery, utc bool) string {
	got.Attempts, want.Attempts = slices.Clone(got.Attempts), slices.Clone(want.Attempts)
	var diffs []string
	gotTimes, wantTimes := deliveryTimes(&got), deliveryTimes(&want)
	for name, w := range wantTimes {
		g, ok := gotTimes[name]
		if !ok {
			continue // a missing attempt shows below
		}
		switch {
		case !g.Equal(*w) || g.IsZero() != w.IsZero():
			diffs = append(diffs, fmt.Sprintf("%s = %v (zero %t), want %v (zero %t)", name, *g, g.IsZero(), *w, w.IsZero()))
		case utc && g.Location() != time.UTC:
			diffs = append(diffs, fmt.Sprintf("%s is in %v, want UTC", name, g.Location()))
		}
	}
	for _, m := range []map[string]*time.Time{gotTimes, wantTimes} {
		for _, t := range m {
			*t = time.Time{}
		}
	}
	if !reflect.DeepEqual(got, want) {
		diffs = append(diffs, fmt.Sprintf("got  %#v\nwant %#v", got, want))
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "\n")
}

func TestDeliveryCodec_RoundTrip(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*60*60)
	with := func(d firehook.Delivery, change func(d *firehook.Delivery)) firehook.Delivery {
		d.Attempts = slices.Clone(d.Attempts)
		change(&d)
		return d
	}
	tests := []struct {
		name string
		d    firehook.Delivery
	}{
		{"fresh", codecFreshDelivery()},
		{"attempted, every attempt field set", codecAttemptedDelivery()},
		{"finished", codecFinishedDelivery()},
		{"replayed", codecReplayedDelivery()},
		{"zero delivery", firehook.Delivery{}},
		{"zero times", with(codecAttemptedDelivery(), func(d *firehook.Delivery) {
			for _, t := range deliveryTimes(d) {
				*t = time.Time{}
			}
		})},
		{"zero time in a zone", with(codecFreshDelivery(), func(d *firehook.Delivery) { d.CreatedAt = time.Time{}.In(tokyo) })},
		{"monotonic reading and zone", with(codecAttemptedDelivery(), func(d *firehook.Delivery) {
			d.CreatedAt, d.UpdatedAt, d.Attempts[0].At = time.Now(), time.Now().In(tokyo), time.Now()
		})},
		{"before 1970 and far future", with(codecFreshDelivery(), func(d *firehook.Delivery) {
			d.CreatedAt = time.Date(1900, 2, 28, 23, 59, 59, 999999999, tokyo)
			d.NextAttemptAt = time.Date(12000, 1, 1, 0, 0, 0, 1, time.UTC) // beyond what JSON can hold
		})},
		{"empty attempts", with(codecFreshDelivery(), func(d *firehook.Delivery) { d.Attempts = []firehook.Attempt{} })},
		{"extreme integers", with(codecAttemptedDelivery(), func(d *firehook.Delivery) {
			d.Sequence, d.Priority = math.MaxUint64, math.MinInt
			d.Attempts[0].N, d.Attempts[0].StatusCode, d.Attempts[0].DurationMS = math.MaxInt, -1, math.MinInt64
		})},
		{"unknown status and type kept", with(codecFreshDelivery(), func(d *firehook.Delivery) {
			d.Status, d.Type = "lost", "visitor.renamed"
		})},
		{"long strings, invalid UTF-8", with(codecAttemptedDelivery(), func(d *firehook.Delivery) {
			d.Attempts[0].ResponseSnippet = strings.Repeat("é", 4000)
			d.Attempts[1].Error = "\xff\xfe caf\xc3"
			d.PersonKey = "ten_1/" + strings.Repeat("p", 300)
		})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := encodeDelivery(&tc.d)
			if enc[0] != outboxCodecVersion {
				t.Fatalf("first byte %d, want version %d", enc[0], outboxCodecVersion)
			}
			if app := appendDelivery(nil, &tc.d); !bytes.Equal(app, enc) {
				t.Fatalf("appendDelivery and encodeDelivery differ:\n%x\n%x", app, enc)
			}
			if prefixed := appendDelivery([]byte("dv"), &tc.d); !bytes.Equal(prefixed, append([]byte("dv"), enc...)) {
				t.Fatalf("appendDelivery to a non-empty dst:\n%q\nwant %q", prefixed, enc)
			}

			// Decode over another delivery: every field but Payload is
			// replaced.
			payload := []byte(`{"kept":true}`)
			got := codecReplayedDelivery()
			got.Payload = payload
			if err := decodeDelivery(enc, &got); err != nil {
				t.Fatalf("decodeDelivery: %v", err)
			}
			if d := deliveryCodecDiff(got, deliveryCodecWant(tc.d, payload), true); d != "" {
				t.Fatal(d)
			}
			// One delivery, one encoding.
			if again := encodeDelivery(&got); !bytes.Equal(again, enc) {
				t.Fatalf("re-encoding the decoded delivery changed the bytes:\n%x\nwant %x", again, enc)
			}
		})
	}
}

func TestDeliveryCodec_EncodeAllocatesOnce(t *testing.T) {
	for _, d := range []firehook.Delivery{{}, codecFreshDelivery(), codecReplayedDelivery()} {
		if n := testing.AllocsPerRun(100, func() { encodeDelivery(&d) }); n != 1 {
			t.Errorf("encodeDelivery of %d attempts: %v allocations, want 1", len(d.Attempts), n)
		}
	}
	rec := dispatchRecord{Type: firehook.EventUpdated, Sequence: 3, PersonKey: "ten_1/p_1", Deliveries: []string{"dlv_1", "dlv_2"}}
	if n := testing.AllocsPerRun(100, func() { encodeDispatchRecord(&rec) }); n != 1 {
		t.Errorf("encodeDispatchRecord: %v allocations, want 1", n)
	}
}

// codecDelivery draws a delivery with any field values.
var codecDelivery = rapid.Custom(func(t *rapid.T) firehook.Delivery {
	str := func(label string) string { return codecString.Draw(t, label) }
	d := firehook.Delivery{
		ID: str("id"), EventID: str("event"), EndpointID: str("endpoint"), TenantID: str("tenant"),
		PersonKey: str("person"), Type: rapid.OneOf(rapid.SampledFrom(knownTypes), codecString).Draw(t, "type"),
		Sequence: rapid.Uint64().Draw(t, "sequence"), Priority: rapid.Int().Draw(t, "priority"),
		Status:        firehook.DeliveryStatus(rapid.OneOf(rapid.SampledFrom(knownStatuses), codecString).Draw(t, "status")),
		NextAttemptAt: codecTime.Draw(t, "next"), CreatedAt: codecTime.Draw(t, "created"),
		UpdatedAt: codecTime.Draw(t, "updated"), ReplayedAt: codecTime.Draw(t, "replayed"),
		EventReceivedAt: codecTime.Draw(t, "received"),
	}
	if n := rapid.IntRange(-1, 6).Draw(t, "attempts"); n >= 0 { // -1: nil
		d.Attempts = make([]firehook.Attempt, n)
		for i := range d.Attempts {
			d.Attempts[i] = firehook.Attempt{
				N: rapid.Int().Draw(t, "n"), At: codecTime.Draw(t, "at"),
				StatusCode: rapid.Int().Draw(t, "code"), DurationMS: rapid.Int64().Draw(t, "ms"),
				Error: str("error"), ResponseSnippet: str("snippet"),
			}
		}
	}
	return d
})

func TestDeliveryCodec_RandomDeliveriesRoundTripDeterministically(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := codecDelivery.Draw(t, "delivery")
		enc := encodeDelivery(&d)
		if again := encodeDelivery(&d); !bytes.Equal(again, enc) {
			t.Fatalf("the same delivery encoded twice:\n%x\n%x", enc, again)
		}
		var got firehook.Delivery
		if err := decodeDelivery(enc, &got); err != nil {
			t.Fatalf("decodeDelivery: %v", err)
		}
		if diff := deliveryCodecDiff(got, deliveryCodecWant(d, nil), true); diff != "" {
			t.Fatal(diff)
		}
		if again := encodeDelivery(&got); !bytes.Equal(again, enc) {
			t.Fatalf("re-encoding the decoded delivery changed the bytes:\n%x\nwant %x", again, enc)
		}
	})
}

func TestDispatchRecordCodec_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  dispatchRecord
		want dispatchRecord // when it differs from rec
	}{
		{name: "first match, one delivery", rec: dispatchRecord{Type: firehook.EventIdentified, Sequence: 1,
			PersonKey: "ten_1/per_1", Deliveries: []string{"dlv_01JXR4ZQ8W3M5N6P7Q8R9S0T1V"}}},
		{name: "update, three deliveries", rec: dispatchRecord{Type: firehook.EventUpdated, Sequence: math.MaxUint64,
			PersonKey: "ten_1/" + strings.Repeat("é", 200), Deliveries: []string{"dlv_a", "", "dlv_c"}}},
		{name: "no deliveries", rec: dispatchRecord{Type: firehook.EventUpdated, Sequence: 2, PersonKey: "ten_1/p",
			Deliveries: []string{}}, want: dispatchRecord{Type: firehook.EventUpdated, Sequence: 2, PersonKey: "ten_1/p"}},
		{name: "zero record", rec: dispatchRecord{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want.Type == "" && want.PersonKey == "" && want.Sequence == 0 {
				want = tc.rec
			}
			enc := encodeDispatchRecord(&tc.rec)
			if enc[0] != outboxCodecVersion {
				t.Fatalf("first byte %d, want version %d", enc[0], outboxCodecVersion)
			}
			if app := appendDispatchRecord([]byte("dd"), &tc.rec); !bytes.Equal(app, append([]byte("dd"), enc...)) {
				t.Fatalf("appendDispatchRecord to a non-empty dst:\n%q\nwant %q", app, enc)
			}
			got := dispatchRecord{Type: "stale", Sequence: 9, PersonKey: "stale", Deliveries: []string{"stale"}}
			if err := decodeDispatchRecord(enc, &got); err != nil {
				t.Fatalf("decodeDispatchRecord: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %#v\nwant %#v", got, want)
			}
			if again := encodeDispatchRecord(&got); !bytes.Equal(again, enc) {
				t.Fatalf("re-encoding changed the bytes:\n%x\nwant %x", again, enc)
			}
		})
	}
}

func TestDeliveryCodec_DecodeRejects(t *testing.T) {
	full := codecFinishedDelivery()
	valid := encodeDelivery(&full)

	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	sv := func(v int64) []byte { return binary.AppendVarint(nil, v) }
	// head is an empty delivery up to its times: the version, six empty
	// strings, sequence and priority 0 and an empty status.
	head := append([]byte{outboxCodecVersion}, make([]byte, 9)...)
	zeroTimes := bytes.Repeat([]byte{eventTimeZero}, 5)
	if err := decodeDelivery(cat(head, zeroTimes, uv(0)), new(firehook.Delivery)); err != nil {
		t.Fatalf("the hand-built empty delivery does not decode: %v", err) // the cases below build on it
	}
	// attempt is the shortest attempt: zero integers, time and strings.
	attempt := []byte{0, eventTimeZero, 0, 0, 0, 0}

	tests := []rejectCase{
		{"empty", nil},
		{"version 0", cat([]byte{0}, valid[1:])},
		{"version 2", cat([]byte{2}, valid[1:])},
		{"version 255", cat([]byte{255}, valid[1:])},
		{"one trailing zero", cat(valid, []byte{0})},
		{"a second delivery after the first", cat(valid, valid)},
		{"string longer than the input", cat([]byte{outboxCodecVersion}, uv(1000), []byte("dlv_"))},
		{"string of 2^64-1 bytes", cat([]byte{outboxCodecVersion}, uv(math.MaxUint64))},
		{"status longer than the input", cat(head[:9], uv(50), []byte("pending"))},
		{"uvarint too long", cat([]byte{outboxCodecVersion}, bytes.Repeat([]byte{0xff}, 11))},
		{"time marker 2", cat(head, []byte{2}, zeroTimes[1:], uv(0))},
		{"time without seconds", cat(head, []byte{eventTimeSet})},
		{"nanoseconds of 1e9", cat(head, []byte{eventTimeSet}, sv(0), uv(1e9), zeroTimes[1:], uv(0))},
		{"attempt count of 2^40", cat(head, zeroTimes, uv(1<<40), attempt)},
		{"attempt count of 2^64-1", cat(head, zeroTimes, uv(math.MaxUint64), attempt)},
		{"one attempt short", cat(head, zeroTimes, uv(3), attempt, attempt)},
		{"one attempt too many", cat(head, zeroTimes, uv(1), attempt, attempt)},
		{"attempt time marker 7", cat(head, zeroTimes, uv(1), []byte{0, 7, 0, 0, 0, 0})},
		{"JSON cut short", []byte(`{"id":"dlv_1","attempts":[`)},
		{"JSON of another shape", []byte(`{"attempts":{"n":1}}`)},
		{"JSON after the brace", []byte(`{}garbage`)},
	}
	assertDecodeRejects(t, tests, valid, func() firehook.Delivery {
		d := codecAttemptedDelivery()
		d.Payload = []byte("p")
		return d
	}, decodeDelivery, errOutboxEncoding)
}

func TestDispatchRecordCodec_DecodeRejects(t *testing.T) {
	rec := dispatchRecord{Type: firehook.EventUpdated, Sequence: 300, PersonKey: "ten_1/per_1", Deliveries: []string{"dlv_a", "dlv_b"}}
	valid := encodeDispatchRecord(&rec)
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	head := []byte{outboxCodecVersion, 0, 0, 0} // empty type, sequence 0, empty person key
	assertDecodeRejects(t, []rejectCase{
		{"empty", nil},
		{"version 2", append([]byte{2}, valid[1:]...)},
		{"trailing byte", append(slices.Clone(valid), 0)},
		{"delivery count of 2^64-1", append(slices.Clone(head), uv(math.MaxUint64)...)},
		{"delivery count past input", append(slices.Clone(head), 3, 0, 0)},
		{"JSON cut short", []byte(`{"type":"visitor.updated","deliveries":["dlv_a"`)},
	}, valid, func() dispatchRecord {
		return dispatchRecord{Type: firehook.EventUpdated, Sequence: 300, PersonKey: "ten_1/per_1", Deliveries: []string{"dlv_a", "dlv_b"}}
	}, decodeDispatchRecord, errOutboxEncoding)
}

// TestDeliveryCodec_ReadsJSONOfOlderNodes decodes records as nodes before
// the binary codec stored them: json.Marshal of the struct.
func TestDeliveryCodec_ReadsJSONOfOlderNodes(t *testing.T) {
	for _, d := range []firehook.Delivery{codecFreshDelivery(), codecAttemptedDelivery(), codecFinishedDelivery(), codecReplayedDelivery()} {
		d.Payload = []byte("not stored")
		old, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got := firehook.Delivery{Payload: []byte("kept")}
		if err := decodeDelivery(old, &got); err != nil {
			t.Fatalf("decodeDelivery(%s): %v", old, err)
		}
		// JSON keeps each time's offset: Equal, not necessarily UTC.
		if diff := deliveryCodecDiff(got, deliveryCodecWant(d, []byte("kept")), false); diff != "" {
			t.Fatalf("%s:\n%s", old, diff)
		}
	}

	// Old records without attempts held null or []: both read as nil.
	for _, attempts := range []string{"null", "[]"} {
		old := fmt.Appendf(nil, `{"id":"dlv_1","status":"pending","attempts":%s,"created_at":"2025-06-14T07:30:15Z"}`, attempts)
		var got firehook.Delivery
		if err := decodeDelivery(old, &got); err != nil || got.Attempts != nil || got.ID != "dlv_1" {
			t.Fatalf("decodeDelivery(%s) = %#v, %v; want nil Attempts", old, got, err)
		}
	}

	for _, rec := range []dispatchRecord{
		{Type: firehook.EventIdentified, Sequence: 1, PersonKey: "ten_1/per_1", Deliveries: []string{"dlv_a", "dlv_b"}},
		{Type: firehook.EventUpdated, Sequence: 8, PersonKey: "ten_1/per_1", Deliveries: []string{}},
	} {
		old, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var got dispatchRecord
		if err := decodeDispatchRecord(old, &got); err != nil {
			t.Fatalf("decodeDispatchRecord(%s): %v", old, err)
		}
		want := rec
		if len(want.Deliveries) == 0 {
			want.Deliveries = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeDispatchRecord(%s) = %#v, want %#v", old, got, want)
		}
	}
}

// TestDeliveryCodec_ReceiptJSONUnchanged: a receipt served from a binary
// record is the JSON it was when the record was JSON, "attempts": null
// without attempts included (for UTC times, as the node writes them).
func TestDeliveryCodec_ReceiptJSONUnchanged(t *testing.T) {
	for _, d := range []firehook.Delivery{codecFreshDelivery(), codecAttemptedDelivery(), codecReplayedDelivery()} {
		for i := range d.Attempts {
			d.Attempts[i].At = d.Attempts[i].At.UTC()
		}
		old, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var viaJSON, viaBinary firehook.Delivery
		if err := json.Unmarshal(old, &viaJSON); err != nil { // how receipts were read before
			t.Fatal(err)
		}
		if err := decodeDelivery(encodeDelivery(&d), &viaBinary); err != nil {
			t.Fatal(err)
		}
		before, _ := json.Marshal(viaJSON)
		after, _ := json.Marshal(viaBinary)
		if !bytes.Equal(before, after) {
			t.Fatalf("receipt changed:\nbefore %s\nafter  %s", before, after)
		}
	}
}

// TestOutbox_ReadsAndRewritesJSONRecordsOfOlderNodes stores a dispatch as
// an older node did (JSON under dd/ and dv/) and checks every reader, then
// that the next write stores the delivery in the binary form.
func TestOutbox_ReadsAndRewritesJSONRecordsOfOlderNodes(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	o := s.Outbox()
	_, dels := dispatch(t, s, "evt_old", "ten_a", "per_1", "ep_1", "ep_2")

	// Rewrite both records as JSON, exactly as before the codec.
	rec := dispatchRecord{Type: firehook.EventIdentified, Sequence: 1, PersonKey: "ten_a/per_1", Deliveries: ids(dels)}
	err := s.db.Update(func(txn *badger.Txn) error {
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := txn.Set([]byte(prefixDispatched+"evt_old"), v); err != nil {
			return err
		}
		for i := range dels {
			if v, err = json.Marshal(&dels[i]); err != nil {
				return err
			}
			if err := txn.Set([]byte(prefixDelivery+dels[i].ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	firstByte := func(key string) byte {
		t.Helper()
		var b byte
		err := s.db.View(func(txn *badger.Txn) error {
			it, err := txn.Get([]byte(key))
			if err != nil {
				return err
			}
			return it.Value(func(v []byte) error { b = v[0]; return nil })
		})
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		return b
	}
	if firstByte(prefixDelivery+dels[0].ID) != '{' || firstByte(prefixDispatched+"evt_old") != '{' {
		t.Fatal("the records were not rewritten as JSON")
	}

	got, ok, err := o.Get(dels[0].ID)
	if err != nil || !ok {
		t.Fatalf("Get of a JSON record = %v, %v", ok, err)
	}
	assertSameDelivery(t, got, dels[0])
	if !bytes.Equal(got.Payload, dels[0].Payload) {
		t.Fatalf("payload %q, want %q", got.Payload, dels[0].Payload)
	}

	decided, err := o.Decided([]string{"evt_old"})
	if want := (Dispatched{Type: firehook.EventIdentified, Sequence: 1, PersonKey: "ten_a/per_1"}); err != nil || decided["evt_old"] != want {
		t.Fatalf("Decided of a JSON record = %v, %v; want %+v", decided, err, want)
	}

	dec, replayed, err := s.Dispatch("evt_old", "ten_a", "per_1", buildFor(nil, "evt_old", "ep_1", "ep_2"))
	if err != nil {
		t.Fatalf("Dispatch replay over JSON records: %v", err)
	}
	wantDecision(t, "replay over JSON records", dec, firehook.EventIdentified, 1, true)
	if !slices.Equal(ids(replayed), ids(dels)) {
		t.Fatalf("replay returned %v, want %v", ids(replayed), ids(dels))
	}

	// The next write of a delivery stores it in the binary form.
	updated := setStatus(t, s, got, firehook.DeliveryRetrying)
	if b := firstByte(prefixDelivery + dels[0].ID); b != outboxCodecVersion {
		t.Fatalf("after Update the record starts with %q, want version %d", b, outboxCodecVersion)
	}
	if updated.Status != firehook.DeliveryRetrying || len(updated.Attempts) != 1 || updated.EventID != "evt_old" {
		t.Fatalf("after Update: %+v", updated)
	}
}

func FuzzDecodeDelivery(f *testing.F) {
	for _, d := range []firehook.Delivery{codecFreshDelivery(), codecAttemptedDelivery(), codecFinishedDelivery(), codecReplayedDelivery(), {}} {
		f.Add(encodeDelivery(&d))
		if old, err := json.Marshal(d); err == nil {
			f.Add(old)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{outboxCodecVersion})
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d firehook.Delivery
		if err := decodeDelivery(b, &d); err != nil {
			if !errors.Is(err, errOutboxEncoding) {
				t.Fatalf("error %v does not wrap %v", err, errOutboxEncoding)
			}
			return
		}
		enc := encodeDelivery(&d)
		var again firehook.Delivery
		if err := decodeDelivery(enc, &again); err != nil {
			t.Fatalf("re-encoded delivery does not decode: %v\n%x", err, enc)
		}
		// A JSON input keeps its times' offsets; the binary one is UTC.
		if diff := deliveryCodecDiff(again, d, false); diff != "" {
			t.Fatalf("decode, encode, decode changed the delivery:\n%s", diff)
		}
		if enc2 := encodeDelivery(&again); !bytes.Equal(enc2, enc) {
			t.Fatalf("the same delivery encoded differently:\n%x\n%x", enc, enc2)
		}
	})
}

func FuzzDecodeDispatchRecord(f *testing.F) {
	rec := dispatchRecord{Type: firehook.EventUpdated, Sequence: 4, PersonKey: "ten_1/per_1", Deliveries: []string{"dlv_a", "dlv_b"}}
	f.Add(encodeDispatchRecord(&rec))
	if old, err := json.Marshal(rec); err == nil {
		f.Add(old)
	}
	f.Add([]byte{outboxCodecVersion, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec dispatchRecord
		if err := decodeDispatchRecord(b, &rec); err != nil {
			if !errors.Is(err, errOutboxEncoding) {
				t.Fatalf("error %v does not wrap %v", err, errOutboxEncoding)
			}
			return
		}
		enc := encodeDispatchRecord(&rec)
		var again dispatchRecord
		if err := decodeDispatchRecord(enc, &again); err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("decode, encode, decode = %#v, %v; want %#v", again, err, rec)
		}
	})
}

// BenchmarkDeliveryCodec compares the binary codec with encoding/json,
// what the outbox used before, on a delivery as Dispatch writes it and on
// one after three attempts (what Record reads and writes back);
// encoded-bytes is the size of one encoding.
func BenchmarkDeliveryCodec(b *testing.B) {
	fresh, attempted := codecFreshDelivery(), codecAttemptedDelivery()
	benchmarkCodec(b, "Fresh/", &fresh, appendDelivery, decodeDelivery)
	benchmarkCodec(b, "Attempted/", &attempted, appendDelivery, decodeDelivery)
}

// BenchmarkDispatchRecordCodec is BenchmarkDeliveryCodec for the record
// of a decision with two deliveries.
func BenchmarkDispatchRecordCodec(b *testing.B) {
	rec := dispatchRecord{Type: firehook.EventUpdated, Sequence: 17,
		PersonKey:  "ten_01JQZ8WZ1A2B3C4D5E6F7G8H9J/per_01JQZ8X0K1M2N3P4Q5R6S7T8V9",
		Deliveries: []string{"dlv_01JXR4ZQ8W3M5N6P7Q8R9S0T1V", "dlv_01JXR4ZQ8W3M5N6P7Q8R9S0T1W"}}
	benchmarkCodec(b, "", &rec, appendDispatchRecord, decodeDispatchRecord)
}
