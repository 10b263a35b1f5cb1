package identity_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
	"github.com/firehook/firehook/persistence"
)

// keptEntries counts, from the store alone, the index entries that each
// shard must hold after DropShards(owned): the indexed identifiers of the
// records that stay (those with an owned shard, or the person of a link
// of one) and the links of owned shards.
func keptEntries(tb testing.TB, st *persistence.Store, owned func(int) bool) (entries [identity.NumShards]int, persons, links int) {
	tb.Helper()
	linked := map[string]bool{}
	err := st.Graph().ScanLinks(func(tenant, vid, personID string) error {
		if s := identity.LinkShard(tenant, vid); owned(s) {
			linked[personID] = true
			entries[s]++
			links++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	err = st.Graph().ScanPersons(func(id string, v []byte) error {
		rec, err := identity.DecodeStoredRecord(v)
		if err != nil {
			return err
		}
		shards := identity.RecordShards(&rec)
		keep := linked[id]
		for _, s := range shards {
			keep = keep || owned(s)
		}
		if !keep {
			return nil
		}
		persons++
		for _, id := range rec.Identifiers {
			if id.Type != identity.TypeIP || rec.IsCompanyOnly() {
				entries[identity.ShardOf(id)]++
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return entries, persons, links
}

func TestGraph_DropShards(t *testing.T) {
	owned := func(s int) bool { return s%4 == 0 }
	st := testkit.OpenStore(t, t.TempDir())
	g, _ := openGraph(t, st)
	ids := randomWorld(t, g, rand.New(rand.NewPCG(5, 6)), 600)
	before := digests(g)
	want, wantPersons, wantLinks := keptEntries(t, st, owned)
	stats := g.Stats()

	persons, links, err := g.DropShards(owned)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}

	t.Run("it removes the persons and links that own nothing here", func(t *testing.T) {
		if persons == 0 || links == 0 {
			t.Fatalf("removed %d persons and %d links: the test proves nothing", persons, links)
		}
		if got := g.Stats(); got.Persons != int64(wantPersons) || got.LearnedLinks != int64(wantLinks) ||
			stats.Persons-int64(persons) != got.Persons || stats.LearnedLinks-int64(links) != got.LearnedLinks {
			t.Fatalf("stats %+v after removing %d persons and %d links from %+v; want %d persons, %d links",
				got, persons, links, stats, wantPersons, wantLinks)
		}
	})
	check := func(t *testing.T, g *identity.Graph) {
		t.Helper()
		for s, d := range digests(g) {
			switch {
			case owned(s) && d != before[s]:
				t.Fatalf("owned shard %d: digest %+v, was %+v", s, d, before[s])
			case !owned(s) && d.Entries != want[s]:
				t.Fatalf("shard %d, not owned: %d entries; the records kept list %d there", s, d.Entries, want[s])
			}
		}
		for _, id := range ids {
			if owned(identity.ShardOf(id)) {
				continue
			}
			if id.Type == "vid" {
				if got, err := answerOf(g, id); err != nil || got.person != "" {
					t.Fatalf("the link %s of a shard not owned answers %v (%v)", id.Key(), got, err)
				}
			}
		}
	}
	t.Run("owned shards answer as before; the others hold only what records kept for owned shards list", func(t *testing.T) {
		check(t, g)
	})
	t.Run("and so after a restart", func(t *testing.T) {
		g2, _ := openGraph(t, st)
		check(t, g2)
	})
	t.Run("a second drop has nothing to remove", func(t *testing.T) {
		if p, l, err := g.DropShards(owned); p != 0 || l != 0 || err != nil {
			t.Fatalf("DropShards again = %d, %d, %v", p, l, err)
		}
	})
}

// With records of one identifier each, the shards that are not owned end
// empty.
func TestGraph_DropShardsEmptiesTheOthers(t *testing.T) {
	owned := func(s int) bool { return s < identity.NumShards/2 }
	st := testkit.OpenStore(t, t.TempDir())
	g, _ := openGraph(t, st)
	var recs []identity.Record
	for _, r := range distinctRecords(500) {
		r.Identifiers = r.Identifiers[:1]
		recs = append(recs, r)
	}
	if err := g.Upsert(recs); err != nil {
		t.Fatal(err)
	}
	for i := range 100 { // links of every shard, to persons that stay
		if !owned(identity.ShardOf(recs[i].Identifiers[0])) {
			continue
		}
		if err := g.LearnRecord("ten_1", fmt.Sprint("v-", i), &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	before := digests(g)
	if _, _, err := g.DropShards(owned); err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	g2, _ := openGraph(t, st)
	for _, gr := range []*identity.Graph{g, g2} {
		for s, d := range digests(gr) {
			if owned(s) && d != before[s] || !owned(s) && d.Entries != 0 {
				t.Fatalf("shard %d (owned: %v): %+v, was %+v", s, owned(s), d, before[s])
			}
		}
	}
}
