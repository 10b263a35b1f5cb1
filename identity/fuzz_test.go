package identity

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParseRecord: ParseRecord never panics, and
//   - a line it accepts is valid JSON, and the record is in normal form:
//     each identifier is what NewIdentifier makes of it, there are 1 to
//     64 and no duplicates, and the record written out with encoding/json
//     and parsed again is the same record;
//   - a line it refuses is refused with ErrInvalidRecord, and only a line
//     that encoding/json finds malformed is called malformed JSON.
//
// Seeds: the lines of the table tests here, and the files in
// testdata/fuzz/FuzzParseRecord.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(benchLine))
	for _, l := range acceptedLines(f) {
		f.Add([]byte(l))
	}
	for _, l := range rejectedLines(f) {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("ParseRecord(%q) error = %v; want ErrInvalidRecord", line, err)
			}
			if errors.Is(err, errMalformedJSON) && json.Valid(line) {
				t.Fatalf("ParseRecord(%q) = %v, but encoding/json finds the line well-formed", line, err)
			}
			if !reflect.DeepEqual(r, Record{}) {
				t.Fatalf("ParseRecord(%q) returned %+v with its error", line, r)
			}
			return
		}
		if !json.Valid(line) {
			t.Fatalf("ParseRecord(%q) accepted a line encoding/json finds malformed", line)
		}
		checkNormalRecord(t, r)

		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", r, err)
		}
		again, err := ParseRecord(b)
		if err != nil {
			t.Fatalf("ParseRecord(%q) = %+v, but its JSON %s is refused: %v", line, r, b, err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("ParseRecord(%q) =\n%+v\nbut written out and parsed again\n%+v", line, r, again)
		}
	})
}

// checkNormalRecord fails the test unless r is in the normal form that
// ParseRecord promises.
func checkNormalRecord(tb testing.TB, r Record) {
	tb.Helper()
	if !validPersonID(r.PersonID) {
		tb.Fatalf("person_id %q is not valid", r.PersonID)
	}
	if n := len(r.Identifiers); n < 1 || n > maxRecordIDs {
		tb.Fatalf("%d identifiers; want 1 to %d", n, maxRecordIDs)
	}
	seen := map[Identifier]bool{}
	for _, id := range r.Identifiers {
		if norm, err := NewIdentifier(id.Type, id.Value); err != nil || norm != id {
			tb.Fatalf("identifier %+v is not normal: NewIdentifier gives %+v, %v", id, norm, err)
		}
		if seen[id] {
			tb.Fatalf("identifier %+v listed twice", id)
		}
		seen[id] = true
	}
	if r.Person.IsZero() && r.Company.IsZero() {
		tb.Fatalf("record %+v has neither person nor company", r)
	}
	if r.UpdatedAt.Location().String() != "UTC" {
		tb.Fatalf("updated_at %v is not in UTC", r.UpdatedAt)
	}
	p, c := r.Person, r.Company
	for _, s := range []string{p.FirstName, p.LastName, p.JobTitle, p.LinkedInURL, p.BusinessEmail,
		p.Location.City, p.Location.Region, p.Location.Country,
		c.Name, c.Domain, c.Industry, c.EmployeeRange, c.RevenueRange} {
		if len(s) > maxRecordFieldLen || !utf8.ValidString(s) {
			tb.Fatalf("text field %q is longer than %d bytes or not UTF-8", s, maxRecordFieldLen)
		}
	}
}

// acceptedLines and rejectedLines are the lines of the table tests.
func acceptedLines(tb testing.TB) []string {
	var out []string
	for _, tc := range parseRecordAccepts(tb) {
		out = append(out, tc.line)
	}
	return out
}

func rejectedLines(tb testing.TB) []string {
	var out []string
	for _, tc := range parseRecordRejects(tb) {
		out = append(out, tc.line)
	}
	return out
}
