package identity_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

func TestGraph_LearnRecordAndHold(t *testing.T) {
	const sx, sy = 60, 70 // a shard the node owns, one it does not
	x, y := cookieIn(t, sx, "x"), cookieIn(t, sy, "y")
	owns := func(s int) bool { return s == sx }
	var tenant, vid string
	for n := 0; ; n++ { // a visitor whose link is in the owned shard
		if tenant, vid = "ten_1", fmt.Sprint("v-", n); identity.LinkShard(tenant, vid) == sx {
			break
		}
	}
	link := identity.LinkIdentifier(tenant, vid)

	t.Run("a node that does not hold the person keeps a copy without its own shards' identifiers", func(t *testing.T) {
		g, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
		rec := worldRecord("p_1", []identity.Identifier{x, y}, false) // x is stale: the node would hold p_1 otherwise
		if err := g.LearnRecordAndHold(tenant, vid, &rec, owns); err != nil {
			t.Fatal(err)
		}
		if got, err := answerOf(g, link); err != nil || got.person != "p_1" {
			t.Fatalf("the link answers %v (%v); want p_1", got, err)
		}
		if got, _ := answerOf(g, x); got.person != "" {
			t.Fatalf("the stale identifier of an owned shard answers %v", got)
		}
		held, _, _ := g.Profile("p_1")
		if !reflect.DeepEqual(held.Identifiers, []identity.Identifier{y}) {
			t.Fatalf("the copy lists %v; want only y", held.Identifiers)
		}
	})
	t.Run("during a transfer the copy gives way to the sender's", func(t *testing.T) {
		a, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
		b, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
		current := worldRecord("p_1", []identity.Identifier{x, y}, false)
		if err := a.Upsert([]identity.Record{current}); err != nil {
			t.Fatal(err)
		}
		tr := b.BeginTransfer([]int{sx}, owns)
		defer tr.Close()
		stale := worldRecord("p_1", []identity.Identifier{y}, false) // a hit elsewhere, older
		stale.Person.FirstName = "Old"
		for _, g := range []*identity.Graph{a, b} { // the link's owners both get it
			if err := g.LearnRecordAndHold(tenant, vid, &stale, owns); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.ExportShards([]int{sx}, 1, func(batch identity.ShardBatch) error {
			_, err := tr.Apply(batch)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Finish(); err != nil {
			t.Fatal(err)
		}
		if diff, err := shardDifference(a, b, []int{sx}, []identity.Identifier{x, link}); err != nil || diff != "" {
			t.Fatalf("%s (%v)", diff, err)
		}
		got, _, _ := b.Profile("p_1")
		if got.Person.FirstName != current.Person.FirstName {
			t.Fatalf("the receiver keeps %+v; want the sender's copy", got)
		}
	})
	t.Run("a copy is replaced by the record of a later link, which owners keep current", func(t *testing.T) {
		g, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
		old := worldRecord("p_1", []identity.Identifier{y}, true) // held while p_1 was a company's
		if err := g.LearnRecordAndHold(tenant, vid, &old, owns); err != nil {
			t.Fatal(err)
		}
		if got, _ := answerOf(g, link); !got.company {
			t.Fatalf("the link answers %v; want p_1 (company)", got)
		}
		now := worldRecord("p_1", []identity.Identifier{y, x}, false) // a person now, read from an owner
		if err := g.LearnRecordAndHold(tenant, vid, &now, owns); err != nil {
			t.Fatal(err)
		}
		if got, _ := answerOf(g, link); got != (answer{person: "p_1"}) {
			t.Fatalf("the link answers %v; want p_1, a person, as the current record says", got)
		}

		// A record this node holds for a shard it owns is its own: a
		// link's record never replaces it.
		own := worldRecord("p_2", []identity.Identifier{x}, false)
		if err := g.Upsert([]identity.Record{own}); err != nil {
			t.Fatal(err)
		}
		other := worldRecord("p_2", []identity.Identifier{y}, true)
		if err := g.LearnRecordAndHold(tenant, vid, &other, owns); err != nil {
			t.Fatal(err)
		}
		if got, _ := answerOf(g, link); got != (answer{person: "p_2"}) {
			t.Fatalf("the link answers %v; want p_2 from this node's own record", got)
		}
		if got, _ := answerOf(g, x); got != (answer{person: "p_2"}) {
			t.Fatalf("x answers %v; want p_2", got)
		}
	})
}
