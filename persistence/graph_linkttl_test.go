package persistence

import (
	"reflect"
	"testing"
	"time"
)

// DueLinkExpiries reports a link whose expiry passed once (it is gone from
// reads already: badger's TTL), and not a link learned again since with a
// later expiry; either way the due entry is removed.
func TestGraphStore_DueLinkExpiries(t *testing.T) {
	g := openStore(t, testConfig(t.TempDir())).Graph()
	now := time.Now()
	past := uint64(now.Add(-10 * time.Second).Unix())
	if err := g.PutLinks([]LinkPut{
		{Tenant: "t1", VisitorID: "a", PersonID: "p1", ExpiresAt: past},
		{Tenant: "t1", VisitorID: "b", PersonID: "p1", ExpiresAt: past},
		{Tenant: "t1", VisitorID: "c", PersonID: "p2"}, // expires LinkRetention from now
	}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutLink("t1", "b", "p2", "p1"); err != nil { // learned again, for another person
		t.Fatal(err)
	}
	var live []string
	if err := g.ScanLinks(func(tenant, vid, person string) error {
		live = append(live, tenant+"/"+vid+"→"+person)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"t1/b→p2", "t1/c→p2"}; !reflect.DeepEqual(live, want) {
		t.Fatalf("links read %q; want %q (t1/a expired)", live, want)
	}
	due, err := g.DueLinkExpiries(now, 100)
	if want := []ExpiredLink{{"t1", "a", "p1"}}; err != nil || !reflect.DeepEqual(due, want) {
		t.Fatalf("DueLinkExpiries = %+v, %v; want %+v", due, err, want)
	}
	if due, err := g.DueLinkExpiries(now, 100); err != nil || len(due) != 0 {
		t.Fatalf("a second pass = %+v, %v; want nothing", due, err)
	}
	if due, err := g.DueLinkExpiries(now.Add(DefaultLinkRetention+time.Minute), 100); err != nil || len(due) != 0 {
		t.Fatalf("links that have not expired in badger's eyes are reported: %+v, %v", due, err)
	}
}
