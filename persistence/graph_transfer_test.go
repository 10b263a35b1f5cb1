package persistence

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// storedLinks lists every stored link as "tenant/vid→person", and every reverse
// entry as "person←tenant/vid", sorted.
func storedLinks(t *testing.T, g *GraphStore) []string {
	t.Helper()
	var out []string
	if err := g.ScanLinks(func(tenant, vid, person string) error {
		out = append(out, tenant+"/"+vid+"→"+person)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := g.scan(prefixLinkReverse, false, func(k, _ []byte) error {
		person, rest, _ := strings.Cut(string(k), "/")
		out = append(out, person+"←"+rest)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestGraphStore_LinksInBatches(t *testing.T) {
	g := openStore(t, testConfig(t.TempDir())).Graph()
	if err := g.PutLinks([]LinkPut{
		{Tenant: "t1", VisitorID: "a", PersonID: "p1"},
		{Tenant: "t1", VisitorID: "b", PersonID: "p1"},
		{Tenant: "t2", VisitorID: "a", PersonID: "p2"},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("PutLinks stores links with their reverse entries, and moves a link from its previous person", func(t *testing.T) {
		if err := g.PutLinks([]LinkPut{{Tenant: "t1", VisitorID: "b", PersonID: "p2", Previous: "p1"}}); err != nil {
			t.Fatal(err)
		}
		want := []string{"p1←t1/a", "p2←t1/b", "p2←t2/a", "t1/a→p1", "t1/b→p2", "t2/a→p2"}
		if got := storedLinks(t, g); !reflect.DeepEqual(got, want) {
			t.Fatalf("stored %q; want %q", got, want)
		}
	})
	t.Run("ScanLinksWhere passes only the links match accepts", func(t *testing.T) {
		var got []string
		err := g.ScanLinksWhere(func(key []byte) bool { return strings.HasPrefix(string(key), "t1/") },
			func(tenant, vid, person string, _ uint64) error {
				got = append(got, tenant+"/"+vid+"→"+person)
				return nil
			})
		if want := []string{"t1/a→p1", "t1/b→p2"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("ScanLinksWhere = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("LinksOfPersons finds them through the reverse entries", func(t *testing.T) {
		got, err := g.LinksOfPersons([]string{"p2", "p3", "p1"})
		want := map[string][][2]string{"p1": {{"t1", "a"}}, "p2": {{"t1", "b"}, {"t2", "a"}}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("LinksOfPersons = %v, %v; want %v", got, err, want)
		}
	})
	t.Run("DeleteLinkKeys deletes links and reverse entries, and says whose they were", func(t *testing.T) {
		got, err := g.DeleteLinkKeys([][2]string{{"t1", "b"}, {"t9", "x"}})
		if want := map[[2]string]string{{"t1", "b"}: "p2"}; err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("DeleteLinkKeys = %v, %v; want %v", got, err, want)
		}
		want := []string{"p1←t1/a", "p2←t2/a", "t1/a→p1", "t2/a→p2"}
		if got := storedLinks(t, g); !reflect.DeepEqual(got, want) {
			t.Fatalf("stored %q; want %q", got, want)
		}
	})
}
