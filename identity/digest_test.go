package identity_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

// digests returns the digest of every shard of g.
func digests(g *identity.Graph) []identity.ShardDigest {
	out := make([]identity.ShardDigest, identity.NumShards)
	for s := range out {
		out[s] = g.ShardDigest(s)
	}
	return out
}

// distinctRecords returns n records that share no identifier.
func distinctRecords(n int) []identity.Record {
	var out []identity.Record
	for p := range n {
		ids := []identity.Identifier{
			{Type: identity.TypeCookie, Value: fmt.Sprintf("ck-%d", p)},
			{Type: identity.TypeDeviceID, Value: fmt.Sprintf("dev-%d", p)},
			{Type: identity.TypeIP, Value: fmt.Sprintf("10.0.%d.%d", p/256, p%256)},
		}
		out = append(out, worldRecord(fmt.Sprintf("p_%d", p), ids, p%7 == 0))
	}
	return out
}

func TestGraph_ShardDigest(t *testing.T) {
	recs := distinctRecords(300)

	t.Run("equal contents give equal digests, whatever the order and history of the writes", func(t *testing.T) {
		a, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
		b, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
		if err := a.Upsert(recs); err != nil {
			t.Fatal(err)
		}
		// b first holds other versions of the persons (other identifiers,
		// which the final versions release), then the final ones in
		// another order, one at a time: other ordinals, other overlays.
		var junk []identity.Record
		for _, r := range recs {
			junk = append(junk, worldRecord(r.PersonID, []identity.Identifier{{Type: identity.TypeCookie, Value: "old-" + r.PersonID}}, false))
		}
		if err := b.Upsert(junk); err != nil {
			t.Fatal(err)
		}
		for _, i := range rand.New(rand.NewPCG(3, 4)).Perm(len(recs)) {
			if err := b.Upsert(recs[i : i+1]); err != nil {
				t.Fatal(err)
			}
		}
		da, db := digests(a), digests(b)
		for s := range da {
			if da[s] != db[s] {
				t.Fatalf("shard %d: %+v and %+v", s, da[s], db[s])
			}
		}
	})

	g, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	if err := g.Upsert(recs); err != nil {
		t.Fatal(err)
	}
	t.Run("Entries counts the shard's index entries", func(t *testing.T) {
		total := 0
		for s := range identity.NumShards {
			d := g.ShardDigest(s)
			if d.Entries != g.ShardLen(s) {
				t.Fatalf("shard %d: %d entries, ShardLen %d", s, d.Entries, g.ShardLen(s))
			}
			if d.Entries == 0 && d.Sum != 0 {
				t.Fatalf("shard %d: empty, sum %d", s, d.Sum)
			}
			total += d.Entries
		}
		if int64(total) != g.Stats().IndexEntries {
			t.Fatalf("%d entries in all; the index has %d", total, g.Stats().IndexEntries)
		}
	})
	t.Run("the person an entry leads to counts", func(t *testing.T) {
		id := recs[1].Identifiers[0]
		before := g.ShardDigest(identity.ShardOf(id))
		moved := worldRecord("p_new", []identity.Identifier{id}, recs[1].IsCompanyOnly())
		if err := g.Upsert([]identity.Record{moved}); err != nil {
			t.Fatal(err)
		}
		after := g.ShardDigest(identity.ShardOf(id))
		if after.Entries != before.Entries || after.Sum == before.Sum {
			t.Fatalf("moving %s to another person: digest %+v, was %+v", id.Key(), after, before)
		}
	})
	t.Run("whether a record is company-only counts", func(t *testing.T) {
		id := recs[2].Identifiers[0]
		before := g.ShardDigest(identity.ShardOf(id))
		r := recs[2]
		r.Person, r.Company = identity.Person{}, identity.Company{Name: "C", Domain: "c.example"}
		if err := g.Upsert([]identity.Record{r}); err != nil {
			t.Fatal(err)
		}
		if after := g.ShardDigest(identity.ShardOf(id)); after == before {
			t.Fatalf("the record became company-only; the digest of %s's shard stayed %+v", id.Key(), after)
		}
	})
	t.Run("learned links count", func(t *testing.T) {
		link := identity.LinkIdentifier("ten_1", "v-1")
		before := g.ShardDigest(identity.ShardOf(link))
		if err := g.LearnRecord("ten_1", "v-1", &recs[3]); err != nil {
			t.Fatal(err)
		}
		if after := g.ShardDigest(identity.ShardOf(link)); after.Entries != before.Entries+1 || after.Sum == before.Sum {
			t.Fatalf("after learning a link: %+v, was %+v", after, before)
		}
	})
}
