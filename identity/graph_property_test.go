package identity_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/persistence"
)

// The identifiers random operations draw from: few enough that persons
// often share and steal them.
func universe() []identity.Identifier {
	var out []identity.Identifier
	for i := range 5 {
		sum := sha256.Sum256([]byte(fmt.Sprintf("person-%d@example.com", i)))
		out = append(out, identity.Identifier{Type: identity.TypeHEMSHA256, Value: hex.EncodeToString(sum[:])})
		out = append(out, identity.Identifier{Type: identity.TypeDeviceID, Value: fmt.Sprintf("device-%d", i)})
	}
	for i := range 8 {
		out = append(out, identity.Identifier{Type: identity.TypeCookie, Value: fmt.Sprintf("cookie-%d", i)})
	}
	for i := range 3 {
		out = append(out, identity.Identifier{Type: identity.TypeIP, Value: fmt.Sprintf("8.8.%d.8", i)})
	}
	return out
}

// storedTruth computes, from badger alone, which record each indexed
// identifier belongs to, and fails if two records claim one.
func storedTruth(t *rapid.T, st *persistence.Store) map[string]string {
	owner := map[string]string{}
	err := st.Graph().ScanPersons(func(id string, v []byte) error {
		r, err := identity.DecodeStoredRecord(v)
		if err != nil {
			return err
		}
		for _, ident := range r.Identifiers {
			if ident.Type == identity.TypeIP && !r.IsCompanyOnly() {
				continue // a person's IP is never a key
			}
			if prev, ok := owner[ident.Key()]; ok {
				t.Fatalf("%s is held by both %s and %s in the store", ident.Key(), prev, id)
			}
			owner[ident.Key()] = id
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return owner
}

// checkIndex asserts that every lookup answers what the store holds.
func checkIndex(t *rapid.T, g *identity.Graph, st *persistence.Store, ids []identity.Identifier) {
	if err := g.Sync(); err != nil { // learned links are committed asynchronously
		t.Fatal(err)
	}
	truth := storedTruth(t, st)
	for _, id := range ids {
		rec, ok, err := g.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		want, wantOK := truth[id.Key()]
		got := ""
		if ok {
			got = rec.PersonID
		}
		if ok != wantOK || got != want {
			t.Fatalf("Lookup(%s) = %q (found %v); the store says %q (found %v)", id.Key(), got, ok, want, wantOK)
		}
	}
	links := 0
	if err := st.Graph().ScanLinks(func(string, string, string) error { links++; return nil }); err != nil {
		t.Fatal(err)
	}
	if s := g.Stats(); s.IndexEntries != int64(len(truth)+links) || s.LearnedLinks != int64(links) {
		t.Fatalf("stats %+v; the store holds %d identifiers and %d links", s, len(truth), links)
	}
}

// After any sequence of imports, erasures and learned links, the in-memory
// index answers exactly what badger holds — and so does a graph rebuilt
// from badger after a restart.
func TestGraph_IndexEqualsStoreAfterRandomOperations(t *testing.T) {
	ids := universe()
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "graph-property-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		st := openRapidStore(t, dir)
		defer func() { _ = st.Close() }() // whichever store is open when the check ends (Close is idempotent)
		snap := filepath.Join(dir, "graph.snap")
		g, sup := openRapidGraph(t, st, snap)
		m := identity.NewMatcher(g, sup)

		steps := rapid.IntRange(1, 25).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2, 3, 4, 5: // import a batch of records
				var lines []string
				for range rapid.IntRange(1, 4).Draw(t, "records") {
					person := fmt.Sprintf("p_%d", rapid.IntRange(0, 5).Draw(t, "person"))
					idx := rapid.SliceOfNDistinct(rapid.IntRange(0, len(ids)-1), 1, 5, rapid.ID[int]).Draw(t, "identifiers")
					var parts []string
					for _, i := range idx {
						parts = append(parts, fmt.Sprintf(`{"type":%q,"value":%q}`, ids[i].Type, ids[i].Value))
					}
					profile := `"person":{"first_name":"P"}`
					if rapid.Bool().Draw(t, "companyOnly") {
						profile = `"company":{"name":"C","domain":"c.example"}`
					}
					lines = append(lines, fmt.Sprintf(`{"person_id":%q,"identifiers":[%s],%s}`, person, strings.Join(parts, ","), profile))
				}
				if _, err := g.Import(context.Background(), strings.NewReader(strings.Join(lines, "\n")), identity.ImportOptions{BatchSize: rapid.IntRange(1, 3).Draw(t, "batch")}); err != nil {
					t.Fatal(err)
				}
			case 6, 7: // erase
				if _, err := g.Erase(fmt.Sprintf("p_%d", rapid.IntRange(0, 5).Draw(t, "erase")), sup); err != nil {
					t.Fatal(err)
				}
			default: // a visit that may learn a link
				id := ids[rapid.IntRange(0, len(ids)-1).Draw(t, "visitID")]
				vid := fmt.Sprintf("vid-%d", rapid.IntRange(0, 3).Draw(t, "vid"))
				if _, err := m.Match(identity.Visit{Tenant: "ten_1", VisitorID: vid, Identifiers: []identity.Identifier{id}}); err != nil {
					t.Fatal(err)
				}
			}
			checkIndex(t, g, st, ids)
		}
		// The same after a restart: with a snapshot saved at shutdown, or
		// after a crash (no snapshot, or a stale one).
		if rapid.Bool().Draw(t, "cleanShutdown") {
			if err := g.SaveSnapshot(); err != nil {
				t.Fatal(err)
			}
		}
		g.Close()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st = openRapidStore(t, dir)
		g2, _ := openRapidGraph(t, st, snap)
		defer g2.Close()
		checkIndex(t, g2, st, ids)
	})
}

func openRapidStore(t *rapid.T, dir string) *persistence.Store {
	cfg := persistence.DefaultConfig(dir)
	cfg.MemTableSize, cfg.BlockCacheSize = 1<<20, 1<<20
	cfg.Log = slog.New(slog.DiscardHandler)
	st, err := persistence.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func openRapidGraph(t *rapid.T, st *persistence.Store, snap string) (*identity.Graph, *identity.Suppressions) {
	g, err := identity.OpenGraph(identity.GraphConfig{Store: st.Graph(), Log: slog.New(slog.DiscardHandler),
		SnapshotPath: snap})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := identity.OpenSuppressions(st.Graph())
	if err != nil {
		t.Fatal(err)
	}
	return g, sup
}
