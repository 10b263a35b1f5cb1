package identity_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

// FuzzGraphImport: Graph.Import of any NDJSON body into a graph over a
// real store succeeds, and its report agrees with ParseRecord line by line
// (FuzzParseRecord checks ParseRecord itself): a line that is blank after
// its "\r\n" is skipped, one that ParseRecord accepts is imported, any
// other rejected, with its 1-based line number among the first
// MaxImportErrors errors. A body of which nothing is imported changes
// nothing in the graph; otherwise the last record imported is what its
// identifiers resolve to (the last upsert of an identifier wins).
//
// Seeds: the files in testdata/fuzz/FuzzGraphImport.
func FuzzGraphImport(f *testing.F) {
	g, _ := openGraph(f, testkit.OpenStore(f, f.TempDir()))
	f.Fuzz(func(t *testing.T, body []byte) {
		before := g.Stats()
		res, err := g.Import(context.Background(), bytes.NewReader(body), identity.ImportOptions{BatchSize: 2})
		if err != nil {
			t.Fatalf("Import: %v", err)
		}

		var want identity.ImportResult
		var last *identity.Record
		for i, raw := range bytes.SplitAfter(body, []byte("\n")) {
			line := bytes.TrimRight(raw, "\r\n")
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			rec, err := identity.ParseRecord(line)
			if err != nil {
				want.Rejected++
				if len(want.Errors) < identity.MaxImportErrors {
					want.Errors = append(want.Errors, identity.ImportError{Line: i + 1})
				}
				continue
			}
			want.Imported++
			last = &rec
		}
		lines := make([]identity.ImportError, len(res.Errors))
		for i, e := range res.Errors {
			if e.Error == "" {
				t.Fatalf("error %+v says nothing", e)
			}
			lines[i] = identity.ImportError{Line: e.Line}
		}
		if res.Imported != want.Imported || res.Rejected != want.Rejected || !reflect.DeepEqual(lines, want.Errors) &&
			len(lines)+len(want.Errors) > 0 {
			t.Fatalf("Import reported %+v; ParseRecord line by line gives %+v", res, want)
		}

		if last == nil {
			if after := g.Stats(); !reflect.DeepEqual(after, before) {
				t.Fatalf("nothing imported, but the graph went from %+v to %+v", before, after)
			}
			return
		}
		for _, id := range last.Identifiers {
			if id.Type == identity.TypeIP && !last.IsCompanyOnly() {
				continue // a person's IP is not a key (TestGraph_APersonsIPIsNotAKeyButACompanysIs)
			}
			got, found, err := g.Lookup(id)
			if err != nil || !found || got.PersonID != last.PersonID || got.Person != last.Person || got.Company != last.Company {
				t.Fatalf("after importing %+v last, Lookup(%v) = %+v, %v, %v", *last, id, got, found, err)
			}
		}
	})
}
