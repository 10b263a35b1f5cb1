package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// line builds an import line from a JSON object with the record's
// required parts filled in when the object does not set them.
func line(tb testing.TB, fields map[string]any) string {
	tb.Helper()
	m := map[string]any{
		"person_id":   "p_1",
		"identifiers": []any{map[string]any{"type": "cookie", "value": "ck1"}},
		"person":      map[string]any{"first_name": "Ada"},
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func ids(pairs ...string) []Identifier {
	var out []Identifier
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Identifier{Type: Type(pairs[i]), Value: pairs[i+1]})
	}
	return out
}

// acceptCase is a line ParseRecord accepts and the record it reads.
type acceptCase struct {
	name string
	line string
	want Record
}

func parseRecordAccepts(t testing.TB) []acceptCase {
	ada := Person{FirstName: "Ada"}
	cookie := ids("cookie", "ck1")
	return []acceptCase{
		{
			name: "minimal person record",
			line: `{"person_id":"p_1","identifiers":[{"type":"cookie","value":"ck1"}],"person":{"first_name":"Ada"}}`,
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "every field, normalised",
			line: `{"person_id":"p_123","updated_at":"2025-03-01T12:30:00+02:00",
				"identifiers":[
					{"type":"hem_sha256","value":"` + strings.ToUpper(sha256Hex) + `"},
					{"type":"hem_sha1","value":"` + sha1Hex + `"},
					{"type":"hem_md5","value":" ` + md5Hex + ` "},
					{"type":"device_id","value":"A1B2C3D4E5F60718"},
					{"type":"maid","value":"` + strings.ToUpper(maidUUID) + `"},
					{"type":"cookie","value":"AbC123"},
					{"type":"ip","value":"::ffff:8.8.8.8"}],
				"person":{"first_name":" Ada ","last_name":"Lovelace","job_title":"Analyst",
					"linkedin_url":"https://www.linkedin.com/in/ada","business_email":"Ada@Acme.com",
					"location":{"city":"London","region":"England","country":"United Kingdom"}},
				"company":{"name":"Acme Corp","domain":"https://WWW.Acme.com/about","industry":"Software",
					"employee_range":"51-200","revenue_range":"$10M-$50M"}}`,
			want: Record{
				PersonID:  "p_123",
				UpdatedAt: time.Date(2025, 3, 1, 10, 30, 0, 0, time.UTC),
				Identifiers: ids("hem_sha256", sha256Hex, "hem_sha1", sha1Hex, "hem_md5", md5Hex,
					"device_id", "a1b2c3d4e5f60718", "maid", maidUUID, "cookie", "AbC123", "ip", "8.8.8.8"),
				Person: Person{FirstName: "Ada", LastName: "Lovelace", JobTitle: "Analyst",
					LinkedInURL: "https://www.linkedin.com/in/ada", BusinessEmail: "Ada@Acme.com",
					Location: Location{City: "London", Region: "England", Country: "United Kingdom"}},
				Company: Company{Name: "Acme Corp", Domain: "www.acme.com", Industry: "Software",
					EmployeeRange: "51-200", RevenueRange: "$10M-$50M"},
			},
		},
		{
			name: "company-only record",
			line: `{"person_id":"c_9","identifiers":[{"type":"ip","value":"8.8.4.4"},{"type":"ip","value":"1.1.1.1"}],
				"company":{"name":"Acme","domain":"acme.com"}}`,
			want: Record{PersonID: "c_9", Identifiers: ids("ip", "8.8.4.4", "ip", "1.1.1.1"),
				Company: Company{Name: "Acme", Domain: "acme.com"}},
		},
		{
			name: "company-only record with only a domain",
			line: `{"person_id":"c_9","identifiers":[{"type":"ip","value":"8.8.4.4"}],"company":{"domain":"Acme.com."}}`,
			want: Record{PersonID: "c_9", Identifiers: ids("ip", "8.8.4.4"), Company: Company{Domain: "acme.com"}},
		},
		{
			name: "junk values dropped silently",
			line: line(t, map[string]any{"identifiers": []any{
				map[string]any{"type": "cookie", "value": "null"},
				map[string]any{"type": "maid", "value": "00000000-0000-0000-0000-000000000000"},
				map[string]any{"type": "hem_md5", "value": strings.Repeat("0", 32)},
				map[string]any{"type": "device_id", "value": "undefined"},
				map[string]any{"type": "cookie"},
				map[string]any{"type": "cookie", "value": nil},
				map[string]any{"type": "cookie", "value": "ck1"},
			}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "duplicates removed once normalised, first kept in order",
			line: line(t, map[string]any{"identifiers": []any{
				map[string]any{"type": "hem_md5", "value": md5Hex},
				map[string]any{"type": "cookie", "value": "ck1"},
				map[string]any{"type": "hem_md5", "value": strings.ToUpper(md5Hex)},
				map[string]any{"type": "ip", "value": "::ffff:8.8.8.8"},
				map[string]any{"type": "ip", "value": "8.8.8.8"},
				map[string]any{"type": "cookie", "value": " ck1 "},
				map[string]any{"type": "device_id", "value": "ck1"}, // another type: not a duplicate
			}}),
			want: Record{PersonID: "p_1", Identifiers: ids("hem_md5", md5Hex, "cookie", "ck1", "ip", "8.8.8.8", "device_id", "ck1"), Person: ada},
		},
		{
			name: "type in any case, with space",
			line: line(t, map[string]any{"identifiers": []any{map[string]any{"type": " Cookie ", "value": "ck1"}}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "unknown members ignored at every level",
			line: `{"person_id":"p_1","source":"vendor-x","score":-1.5e+3,"tags":["a",{"b":[null,true,false,0]}],
				"identifiers":[{"type":"cookie","value":"ck1","first_seen":"2024-01-01","weight":0.5}],
				"person":{"first_name":"Ada","age":36,"location":{"city":"London","geo":{"lat":51.5,"lon":-0.1}}},
				"company":{"name":"Acme","ticker":"ACME","hq":{}}}`,
			want: Record{PersonID: "p_1", Identifiers: cookie,
				Person: Person{FirstName: "Ada", Location: Location{City: "London"}}, Company: Company{Name: "Acme"}},
		},
		{
			name: "nulls read as absent",
			line: `{"person_id":"p_1","updated_at":null,"identifiers":[{"type":"cookie","value":"ck1"}],
				"person":{"first_name":"Ada","last_name":null,"location":null},"company":null}`,
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "placeholder text emptied",
			line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "last_name": "NULL",
				"job_title": "n/a", "linkedin_url": "undefined", "business_email": "null",
				"location": map[string]any{"city": "None"}}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "escapes decoded",
			line: `{"person_id":"p_1","identifiers":[{"type":"cookie","value":"a\"b\\c\/d"}],
				"person":{"first_name":"Ren\u00e9e","last_name":"\ud83d\ude00 Smith\n","job_title":"R\u0026D \ud800 lead"}}`,
			want: Record{PersonID: "p_1", Identifiers: ids("cookie", `a"b\c/d`),
				Person: Person{FirstName: "Renée", LastName: "😀 Smith", JobTitle: "R&D \ufffd lead"}},
		},
		{
			name: "escaped member names",
			line: `{"person\u005fid":"p_1","identifiers":[{"type":"cookie","value":"ck1"}],"person":{"first_name":"Ada"}}`,
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "surrounding white space and CRLF",
			line: " \t{ \"person_id\" : \"p_1\" , \"identifiers\" : [ { \"type\" : \"cookie\" , \"value\" : \"ck1\" } ] , \"person\" : { \"first_name\" : \"Ada\" } } \r\n",
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "a repeated member: the last wins",
			line: `{"person_id":"p_0","person_id":"p_1","identifiers":[{"type":"cookie","value":"old"}],
				"identifiers":[{"type":"cookie","value":"ck1"}],"person":{"first_name":"Ada"}}`,
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada},
		},
		{
			name: "text cut to 256 bytes on a character boundary",
			line: line(t, map[string]any{"person": map[string]any{
				"first_name": strings.Repeat("é", 200),             // 400 bytes
				"last_name":  strings.Repeat("x", 255) + " tail",   // cut after the space, which is trimmed
				"job_title":  strings.Repeat("y", 256) + "zzzzzzz", // exactly 256 kept
			}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: Person{
				FirstName: strings.Repeat("é", 128), LastName: strings.Repeat("x", 255), JobTitle: strings.Repeat("y", 256)}},
		},
		{
			name: "text that is a placeholder once cut",
			line: line(t, map[string]any{"person": map[string]any{
				"first_name": "null" + strings.Repeat(" ", 300) + "x", "last_name": "Lovelace"}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: Person{LastName: "Lovelace"}},
		},
		{
			name: "person id of every allowed character, 128 long",
			line: line(t, map[string]any{"person_id": "aZ09._:-" + strings.Repeat("x", 120)}),
			want: Record{PersonID: "aZ09._:-" + strings.Repeat("x", 120), Identifiers: cookie, Person: ada},
		},
		{
			name: "64 identifiers",
			line: line(t, map[string]any{"identifiers": manyCookies(64)}),
			want: Record{PersonID: "p_1", Identifiers: manyIdentifiers(64), Person: ada},
		},
		{
			name: "updated_at with fractional seconds",
			line: line(t, map[string]any{"updated_at": "2025-03-01T12:30:00.123456789Z"}),
			want: Record{PersonID: "p_1", UpdatedAt: time.Date(2025, 3, 1, 12, 30, 0, 123456789, time.UTC), Identifiers: cookie, Person: ada},
		},
		{
			name: "linkedin_url over plain http",
			line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "linkedin_url": "HTTP://linkedin.com/in/ada"}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: Person{FirstName: "Ada", LinkedInURL: "HTTP://linkedin.com/in/ada"}},
		},
		{
			name: "unicode company domain",
			line: line(t, map[string]any{"company": map[string]any{"domain": "Bücher.DE"}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada, Company: Company{Domain: "bücher.de"}},
		},
		{
			name: "company domain with a port",
			line: line(t, map[string]any{"company": map[string]any{"domain": "acme.com:443"}}),
			want: Record{PersonID: "p_1", Identifiers: cookie, Person: ada, Company: Company{Domain: "acme.com"}},
		},
	}
}

func TestParseRecord_accepts(t *testing.T) {
	for _, tc := range parseRecordAccepts(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRecord([]byte(tc.line))
			if err != nil {
				t.Fatalf("ParseRecord: %v\nline: %s", err, tc.line)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseRecord =\n%+v\nwant\n%+v", got, tc.want)
			}
			// What ParseRecord returns is in normal form: written out and
			// read again, it stays the same.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ParseRecord(b)
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("ParseRecord(json.Marshal(record)) = %+v, %v; want the record again", again, err)
			}
		})
	}
}

func manyCookies(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"type": "cookie", "value": fmt.Sprintf("ck%d", i)}
	}
	return out
}

func manyIdentifiers(n int) []Identifier {
	out := make([]Identifier, n)
	for i := range out {
		out[i] = Identifier{TypeCookie, fmt.Sprintf("ck%d", i)}
	}
	return out
}

// rejectCase is a line ParseRecord refuses and what the error says.
type rejectCase struct {
	name           string
	line           string
	want           string // in the error message
	alsoIdentifier bool   // the error wraps ErrInvalidIdentifier too
}

func parseRecordRejects(t testing.TB) []rejectCase {
	return []rejectCase{
		// Not a JSON object in UTF-8.
		{name: "empty line", line: "", want: "malformed JSON"},
		{name: "white space only", line: " \t", want: "malformed JSON"},
		{name: "invalid UTF-8", line: "{\"person_id\":\"p_\xff1\"}", want: "not valid UTF-8"},
		{name: "not JSON", line: "person_id=p_1", want: "malformed JSON"},
		{name: "a JSON array", line: `[{"person_id":"p_1"}]`, want: "must be a JSON object"},
		{name: "a JSON string", line: `"p_1"`, want: "must be a JSON object"},
		{name: "truncated", line: `{"person_id":"p_1","identifiers":[{"type":"cookie","val`, want: "malformed JSON"},
		{name: "two objects on a line", line: line(t, nil) + line(t, nil), want: "malformed JSON"},
		{name: "trailing comma", line: `{"person_id":"p_1",}`, want: "malformed JSON"},
		{name: "single quotes", line: `{'person_id':'p_1'}`, want: "malformed JSON"},
		{name: "raw control character in a string", line: "{\"person_id\":\"p_1\",\"x\":\"a\tb\"}", want: "control character"},
		{name: "unknown escape", line: `{"person_id":"p\x1"}`, want: "unknown escape"},
		{name: "short unicode escape", line: `{"person_id":"p\u12"}`, want: `hex digits after \u`},
		{name: "bad number in an unknown member", line: `{"x":01,"person_id":"p_1"}`, want: "malformed JSON"},
		{name: "bad literal in an unknown member", line: `{"x":tru,"person_id":"p_1"}`, want: "malformed JSON"},
		{name: "unknown member nested too deep", line: `{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, want: "nested more than"},

		// person_id.
		{name: "person_id missing", line: line(t, map[string]any{"person_id": nil}), want: "person_id: missing"},
		{name: "person_id empty", line: line(t, map[string]any{"person_id": ""}), want: "person_id: missing"},
		{name: "person_id a number", line: line(t, map[string]any{"person_id": 42}), want: "person_id: want a string"},
		{name: "person_id with a space", line: line(t, map[string]any{"person_id": "p 1"}), want: "person_id: must be"},
		{name: "person_id with a slash", line: line(t, map[string]any{"person_id": "p/1"}), want: "person_id: must be"},
		{name: "person_id non-ASCII", line: line(t, map[string]any{"person_id": "pé"}), want: "person_id: must be"},
		{name: "person_id of 129 characters", line: line(t, map[string]any{"person_id": strings.Repeat("p", 129)}), want: "person_id: must be"},

		// updated_at.
		{name: "updated_at not RFC 3339", line: line(t, map[string]any{"updated_at": "2025-03-01 12:30:00"}), want: "updated_at: not an RFC 3339 time"},
		{name: "updated_at a date only", line: line(t, map[string]any{"updated_at": "2025-03-01"}), want: "updated_at: not an RFC 3339 time"},
		{name: "updated_at a number", line: line(t, map[string]any{"updated_at": 1700000000}), want: "updated_at: want a string"},
		{name: "updated_at before year 1 in UTC", line: line(t, map[string]any{"updated_at": "0000-01-01T00:00:00+01:00"}), want: "updated_at: year out of range"},

		// identifiers.
		{name: "identifiers missing", line: line(t, map[string]any{"identifiers": nil}), want: "identifiers: none left"},
		{name: "identifiers empty", line: line(t, map[string]any{"identifiers": []any{}}), want: "identifiers: none left"},
		{name: "identifiers all junk", line: line(t, map[string]any{"identifiers": []any{
			map[string]any{"type": "cookie", "value": "null"}, map[string]any{"type": "ip", "value": "0"}}}), want: "identifiers: none left"},
		{name: "identifiers an object", line: line(t, map[string]any{"identifiers": map[string]any{"type": "cookie", "value": "ck1"}}), want: "identifiers: want an array"},
		{name: "identifier a string", line: line(t, map[string]any{"identifiers": []any{"cookie:ck1"}}), want: "identifiers[0]: want an object"},
		{name: "identifier value a number", line: line(t, map[string]any{"identifiers": []any{
			map[string]any{"type": "cookie", "value": "ck1"}, map[string]any{"type": "cookie", "value": 7}}}), want: "identifiers[1].value: want a string"},
		{name: "unknown type names its index", line: line(t, map[string]any{"identifiers": []any{
			map[string]any{"type": "cookie", "value": "ck1"}, map[string]any{"type": "cookie", "value": "ck2"},
			map[string]any{"type": "email", "value": "a@b.c"}}}), want: `identifiers[2]: unknown type "email"`},
		{name: "type missing", line: line(t, map[string]any{"identifiers": []any{map[string]any{"value": "ck1"}}}), want: "identifiers[0]: type missing"},
		{name: "invalid value names its index and why", line: line(t, map[string]any{"identifiers": []any{
			map[string]any{"type": "cookie", "value": "ck1"}, map[string]any{"type": "hem_sha256", "value": md5Hex}}}),
			want: "identifiers[1]: invalid identifier: hem_sha256 must be 64 hex digits", alsoIdentifier: true},
		{name: "private IP", line: line(t, map[string]any{"identifiers": []any{map[string]any{"type": "ip", "value": "192.168.0.10"}}}),
			want: "identifiers[0]: invalid identifier: ip 192.168.0.10 is not a public address", alsoIdentifier: true},
		{name: "an invalid value among junk is still an error", line: line(t, map[string]any{"identifiers": []any{
			map[string]any{"type": "cookie", "value": "null"}, map[string]any{"type": "maid", "value": "not-a-uuid"}}}),
			want: "identifiers[1]: invalid identifier: maid must be a UUID", alsoIdentifier: true},
		{name: "65 identifiers", line: line(t, map[string]any{"identifiers": manyCookies(65)}), want: "identifiers: more than 64"},

		// person and company.
		{name: "neither person nor company", line: line(t, map[string]any{"person": nil}), want: "person: a record needs person fields or a company"},
		{name: "person and company empty", line: line(t, map[string]any{"person": map[string]any{}, "company": map[string]any{}}), want: "person: a record needs"},
		{name: "person fields all placeholders", line: line(t, map[string]any{"person": map[string]any{"first_name": " null "}}), want: "person: a record needs"},
		{name: "person not an object", line: line(t, map[string]any{"person": "Ada"}), want: "person: want an object"},
		{name: "first_name a number", line: line(t, map[string]any{"person": map[string]any{"first_name": 1}}), want: "person.first_name: want a string"},
		{name: "location not an object", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "location": "London"}}), want: "person.location: want an object"},
		{name: "city a list", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "location": map[string]any{"city": []string{"London"}}}}), want: "person.location.city: want a string"},
		{name: "linkedin_url not a URL", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "linkedin_url": "linkedin.com/in/ada"}}), want: "person.linkedin_url: must be an http(s) URL"},
		{name: "linkedin_url javascript", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "linkedin_url": "javascript:alert(1)"}}), want: "person.linkedin_url"},
		{name: "linkedin_url without a host", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "linkedin_url": "https:///in/ada"}}), want: "person.linkedin_url"},
		{name: "linkedin_url with a space", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "linkedin_url": "https://linkedin.com/in/a da"}}), want: "person.linkedin_url"},
		{name: "linkedin_url too long", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "linkedin_url": "https://linkedin.com/in/" + strings.Repeat("a", 240)}}), want: "person.linkedin_url"},
		{name: "business_email not an address", line: line(t, map[string]any{"person": map[string]any{"first_name": "Ada", "business_email": "ada at acme"}}), want: "person.business_email: not an email address"},
		{name: "company not an object", line: line(t, map[string]any{"company": []any{}}), want: "company: want an object"},
		{name: "company.domain with a space", line: line(t, map[string]any{"company": map[string]any{"domain": "ac me.com"}}), want: "company.domain: not a host name"},
		{name: "company.domain without a dot", line: line(t, map[string]any{"company": map[string]any{"domain": "localhost"}}), want: "company.domain: not a host name"},
		{name: "company.domain an IP address", line: line(t, map[string]any{"company": map[string]any{"domain": "8.8.8.8"}}), want: "company.domain: not a host name"},
		{name: "company.domain of another scheme", line: line(t, map[string]any{"company": map[string]any{"domain": "ftp://acme.com"}}), want: "company.domain: not a host name"},
		{name: "company.domain an email", line: line(t, map[string]any{"company": map[string]any{"domain": "ada@acme.com"}}), want: "company.domain: not a host name"},
		{name: "company.domain with an empty label", line: line(t, map[string]any{"company": map[string]any{"domain": "acme..com"}}), want: "company.domain: not a host name"},
		{name: "company.domain label ending in a hyphen", line: line(t, map[string]any{"company": map[string]any{"domain": "acme-.com"}}), want: "company.domain: not a host name"},
		{name: "company-only record without name or domain", line: line(t, map[string]any{"person": nil, "company": map[string]any{"industry": "Software"}}),
			want: "company: a company-only record needs a name or a domain"},
	}
}

func TestParseRecord_rejects(t *testing.T) {
	for _, tc := range parseRecordRejects(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRecord([]byte(tc.line))
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("ParseRecord = %+v, %v; want ErrInvalidRecord\nline: %s", got, err, tc.line)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if errors.Is(err, ErrInvalidIdentifier) != tc.alsoIdentifier {
				t.Errorf("errors.Is(%v, ErrInvalidIdentifier) = %v, want %v", err, !tc.alsoIdentifier, tc.alsoIdentifier)
			}
			if !reflect.DeepEqual(got, Record{}) {
				t.Errorf("ParseRecord returned %+v with its error; want the zero Record", got)
			}
		})
	}
}

func TestParseRecord_sharesNoMemoryWithLine(t *testing.T) {
	l := []byte(`{"person_id":"p_1","identifiers":[{"type":"cookie","value":"ck1"}],"person":{"first_name":"Ada"},"company":{"name":"Acme"}}`)
	r, err := ParseRecord(l)
	if err != nil {
		t.Fatal(err)
	}
	for i := range l {
		l[i] = 'X'
	}
	if r.PersonID != "p_1" || r.Identifiers[0].Value != "ck1" || r.Person.FirstName != "Ada" || r.Company.Name != "Acme" {
		t.Fatalf("record changed with the line it came from: %+v", r)
	}
}

func TestPerson_IsZero(t *testing.T) {
	if !(Person{}).IsZero() {
		t.Error("Person{}.IsZero() = false")
	}
	for _, p := range []Person{{FirstName: "A"}, {BusinessEmail: "a@b.c"}, {Location: Location{Country: "FR"}}} {
		if p.IsZero() {
			t.Errorf("%+v.IsZero() = true", p)
		}
	}
}

func TestCompany_IsZero(t *testing.T) {
	if !(Company{}).IsZero() {
		t.Error("Company{}.IsZero() = false")
	}
	for _, c := range []Company{{Name: "A"}, {Domain: "a.com"}, {RevenueRange: "$1M-$10M"}} {
		if c.IsZero() {
			t.Errorf("%+v.IsZero() = true", c)
		}
	}
}

func TestRecord_IsCompanyOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
		want bool
	}{
		{"company and no person", Record{Company: Company{Domain: "acme.com"}}, true},
		{"person and company", Record{Person: Person{FirstName: "Ada"}, Company: Company{Domain: "acme.com"}}, false},
		{"a location is a person field", Record{Person: Person{Location: Location{City: "Paris"}}, Company: Company{Name: "Acme"}}, false},
		{"person only", Record{Person: Person{LastName: "Lovelace"}}, false},
		{"neither", Record{}, false},
	} {
		if got := tc.r.IsCompanyOnly(); got != tc.want {
			t.Errorf("%s: IsCompanyOnly() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRecord_JSON(t *testing.T) {
	t.Run("zero parts are left out", func(t *testing.T) {
		b, err := json.Marshal(Record{PersonID: "c_1", Identifiers: ids("ip", "8.8.8.8"), Company: Company{Domain: "acme.com"}})
		if err != nil {
			t.Fatal(err)
		}
		const want = `{"person_id":"c_1","identifiers":[{"type":"ip","value":"8.8.8.8"}],"company":{"domain":"acme.com"}}`
		if string(b) != want {
			t.Errorf("json.Marshal = %s, want %s", b, want)
		}
	})
}

// benchLine is a typical line of a large import: a person with two email
// hash triples, devices, cookies and a full profile.
const benchLine = `{"person_id":"p_1234567","updated_at":"2025-06-01T08:00:00Z","identifiers":[` +
	`{"type":"hem_sha256","value":"973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"},` +
	`{"type":"hem_sha1","value":"567159d622ffbb50b11b0efd307be358624a26ee"},` +
	`{"type":"hem_md5","value":"55502f40dc8b7c769880b10874abc9d0"},` +
	`{"type":"hem_sha256","value":"ed6c35e905a6daa500da471136a733ccccf446b294e80ae03a1d5d865fe1044c"},` +
	`{"type":"hem_sha1","value":"1f0d8c7d5c3e0bb1a3e4c9b1f2a6d8e7c5b4a392"},` +
	`{"type":"hem_md5","value":"0c4d7e6b5a4f3e2d1c0b9a8f7e6d5c4b"},` +
	`{"type":"device_id","value":"e621e1f8-c36c-495a-93fc-0c247a3e6e5f"},` +
	`{"type":"maid","value":"6d92078a-8246-4ba4-ae5b-76104861e7dc"},` +
	`{"type":"cookie","value":"Zx81AbQ9c4LmN0pRsTuVwX"},` +
	`{"type":"cookie","value":"b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"},` +
	`{"type":"ip","value":"81.2.69.142"}],` +
	`"person":{"first_name":"Rosalind","last_name":"Franklin","job_title":"Senior Data Engineer",` +
	`"linkedin_url":"https://www.linkedin.com/in/rosalind-franklin-1234567","business_email":"rosalind.franklin@acme-analytics.com",` +
	`"location":{"city":"Springfield","region":"Illinois","country":"United States"}},` +
	`"company":{"name":"Acme Analytics LLC","domain":"acme-analytics.com","industry":"Computer Software",` +
	`"employee_range":"51-200","revenue_range":"$10M-$50M"}}`

// BenchmarkParseRecord measures the parser on benchLine; the import's
// target is 250,000 lines/s for the whole pipeline.
func BenchmarkParseRecord(b *testing.B) {
	l := []byte(benchLine)
	if _, err := ParseRecord(l); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(l)))
	for b.Loop() {
		if _, err := ParseRecord(l); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseRecord_encodingJSON is the reference the hand-written
// decoder is measured against: encoding/json decoding benchLine into a
// Record, without any validation.
func BenchmarkParseRecord_encodingJSON(b *testing.B) {
	l := []byte(benchLine)
	b.ReportAllocs()
	b.SetBytes(int64(len(l)))
	for b.Loop() {
		var r Record
		if err := json.Unmarshal(l, &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
