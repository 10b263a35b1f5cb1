package identity

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

func TestCodec_RoundTripsRecords(t *testing.T) {
	lines := []string{
		`{"person_id":"p_1","updated_at":"2024-06-24T15:06:53.123456789Z","identifiers":[{"type":"hem_sha256","value":"34ff0f315f2f2e07220c1d6b1f947e195321c9916c9c1427c17d6c87720fd7a3"},{"type":"hem_sha1","value":"166f3b49b813da57e2325112b7fdbbce700811be"},{"type":"hem_md5","value":"bc1a016bb8ce09a08fb34a102076f814"},{"type":"maid","value":"9603d08b-79d4-4e9b-a71a-3c1941d88bf3"},{"type":"cookie","value":"OxhQQvmqYEcts_20hXHu1g"},{"type":"device_id","value":"dev-1"},{"type":"ip","value":"147.217.189.111"}],"person":{"first_name":"Zoë","last_name":"Ünal","job_title":"CTO","linkedin_url":"https://www.linkedin.com/in/zoe","business_email":"zoe@black-games.com","location":{"city":"Köln","region":"NRW","country":"Germany"}},"company":{"name":"Black Games","domain":"black-games.com","industry":"Games","employee_range":"1001-5000","revenue_range":"$100M-$500M"}}`,
		`{"person_id":"c_acme","identifiers":[{"type":"ip","value":"2606:4700::1111"}],"company":{"name":"Acme"}}`,
		`{"person_id":"p_2","identifiers":[{"type":"cookie","value":"ck-2"}],"person":{"first_name":"Only"}}`,
	}
	for _, line := range lines {
		want, err := ParseRecord([]byte(line))
		if err != nil {
			t.Fatalf("ParseRecord(%s): %v", line, err)
		}
		b, err := appendRecord(nil, &want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Errorf("updated_at %v, want %v", got.UpdatedAt, want.UpdatedAt)
		}
		got.UpdatedAt, want.UpdatedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %s\n got %+v\nwant %+v", want.PersonID, got, want)
		}
		if len(b) >= len(line) {
			t.Errorf("stored form of %s is %d bytes, the JSON line %d: not compact", want.PersonID, len(b), len(line))
		}
		// Every truncation and a trailing byte are errors, never panics.
		for i := range b {
			if _, err := decodeRecord(b[:i]); err == nil {
				t.Fatalf("decoding %d of %d bytes succeeded", i, len(b))
			}
		}
		if _, err := decodeRecord(append(bytes.Clone(b), 0)); err == nil {
			t.Fatal("decoding with a trailing byte succeeded")
		}
	}
}

func TestCodec_RefusesAnotherVersion(t *testing.T) {
	r := Record{PersonID: "p", Identifiers: []Identifier{{Type: TypeCookie, Value: "c"}}}
	b, _ := appendRecord(nil, &r)
	b[0] = codecVersion + 1
	if _, err := decodeRecord(b); err == nil {
		t.Fatal("a record of an unknown version decoded")
	}
}
