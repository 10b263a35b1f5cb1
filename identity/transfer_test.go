package identity_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/testkit"
)

// cookieIn returns the cookie "<prefix>-<n>" with the smallest n that
// falls in shard.
func cookieIn(tb testing.TB, shard int, prefix string) identity.Identifier {
	tb.Helper()
	for n := 0; n < 1_000_000; n++ {
		id := identity.Identifier{Type: identity.TypeCookie, Value: fmt.Sprintf("%s-%d", prefix, n)}
		if identity.ShardOf(id) == shard {
			return id
		}
	}
	tb.Fatalf("no cookie %s-n in shard %d", prefix, shard)
	return identity.Identifier{}
}

// randomWorld fills g with persons records (2 to 5 identifiers each,
// drawn from a pool small enough that records take each other's; one in
// ten company-only) and learned links, and returns every identifier it
// used, link identifiers included.
func randomWorld(tb testing.TB, g *identity.Graph, r *rand.Rand, persons int) []identity.Identifier {
	tb.Helper()
	var pool []identity.Identifier
	for i := range persons * 3 {
		switch i % 3 {
		case 0:
			pool = append(pool, identity.Identifier{Type: identity.TypeCookie, Value: fmt.Sprintf("ck-%d", i)})
		case 1:
			pool = append(pool, identity.Identifier{Type: identity.TypeDeviceID, Value: fmt.Sprintf("dev-%d", i)})
		default:
			pool = append(pool, identity.Identifier{Type: identity.TypeIP, Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)})
		}
	}
	var recs []identity.Record
	for p := range persons {
		var ids []identity.Identifier
		for _, i := range r.Perm(len(pool))[:2+r.IntN(4)] {
			ids = append(ids, pool[i])
		}
		recs = append(recs, worldRecord(fmt.Sprintf("p_%d", p), ids, r.IntN(10) == 0))
	}
	for len(recs) > 0 {
		n := min(len(recs), 50)
		if err := g.Upsert(recs[:n]); err != nil {
			tb.Fatal(err)
		}
		recs = recs[n:]
	}
	all := slices.Clone(pool)
	for v := range persons {
		via := pool[r.IntN(len(pool))]
		if err := (liveOp{kind: opLearn, tenant: "ten_1", vid: fmt.Sprint("v-", v), via: via}).apply(g); err != nil {
			tb.Fatal(err)
		}
		all = append(all, identity.LinkIdentifier("ten_1", fmt.Sprint("v-", v)))
	}
	if err := g.Sync(); err != nil {
		tb.Fatal(err)
	}
	return all
}

func TestTransfer_CopiesShardsFromAnOwner(t *testing.T) {
	a, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	ids := randomWorld(t, a, rand.New(rand.NewPCG(1, 2)), 400)
	stB := testkit.OpenStore(t, t.TempDir())
	b, _ := openGraph(t, stB)

	var shards []int
	for s := 0; s < identity.NumShards; s += 3 {
		shards = append(shards, s)
	}
	transferShards(t, a, b, shards, nil, 7)

	t.Run("the receiver answers every lookup of the shards as the sender", func(t *testing.T) {
		if diff, err := shardDifference(a, b, shards, ids); err != nil || diff != "" {
			t.Fatalf("%s (%v)", diff, err)
		}
		hits := 0
		for _, s := range shards {
			hits += b.ShardDigest(s).Entries
		}
		if hits == 0 {
			t.Fatal("the transferred shards are empty: the test proves nothing")
		}
	})
	t.Run("and so does it after a restart", func(t *testing.T) {
		b2, _ := openGraph(t, stB)
		if diff, err := shardDifference(a, b2, shards, ids); err != nil || diff != "" {
			t.Fatalf("%s (%v)", diff, err)
		}
	})
	t.Run("records come whole", func(t *testing.T) {
		for _, id := range ids {
			if !slices.Contains(shards, identity.ShardOf(id)) {
				continue
			}
			ra, okA, _ := a.Lookup(id)
			rb, okB, _ := b.Lookup(id)
			if okA != okB || okA && !reflect.DeepEqual(ra, rb) {
				t.Fatalf("Lookup(%s): %+v on the sender, %+v on the receiver", id.Key(), ra, rb)
			}
		}
	})
}

// A node that receives a shard keeps deciding the shards it already
// owns: the sender's copy of a record is stale in shards the sender does
// not own, and must not change the receiver's answers there.
func TestTransfer_KeepsTheReceiversOwnShards(t *testing.T) {
	const sx, st, su = 10, 20, 30 // the transferred shard, one the receiver owns, one nobody here owns
	x, tt, u := cookieIn(t, sx, "x"), cookieIn(t, st, "t"), cookieIn(t, su, "u")
	t2 := cookieIn(t, st, "t2")
	a, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	b, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	owns := func(s int) bool { return s == sx || s == st }

	// Both hold r (it has identifiers in both nodes' shards). Then, on
	// the receiver only (as the owner of shard st), r2 takes t and is
	// erased, and r3 takes t2: the sender's copy of r still lists both.
	r := worldRecord("p_r", []identity.Identifier{x, tt, t2, u}, false)
	for _, g := range []*identity.Graph{a, b} {
		if err := g.Upsert([]identity.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Upsert([]identity.Record{worldRecord("p_r2", []identity.Identifier{tt}, false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Erase("p_r2", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Upsert([]identity.Record{worldRecord("p_r3", []identity.Identifier{t2}, false)}); err != nil {
		t.Fatal(err)
	}
	ownBefore := b.ShardDigest(st)

	transferShards(t, a, b, []int{sx}, owns, 10)

	if got := b.ShardDigest(st); got != ownBefore {
		t.Errorf("shard %d, which the receiver owns, changed: %+v, was %+v", st, got, ownBefore)
	}
	for _, c := range []struct {
		id   identity.Identifier
		want string
	}{{x, "p_r"}, {tt, ""}, {t2, "p_r3"}, {u, "p_r"}} {
		got, err := answerOf(b, c.id)
		if err != nil || got.person != c.want {
			t.Errorf("receiver: lookup of %s = %v (%v); want %q", c.id.Key(), got, err, c.want)
		}
	}
	if diff, err := shardDifference(a, b, []int{sx}, []identity.Identifier{x}); err != nil || diff != "" {
		t.Errorf("%s (%v)", diff, err)
	}
}

// A receiver that held entries of the shard before (records it keeps for
// other shards, stale there) ends with the sender's answers: Finish
// removes what the sender does not have.
func TestTransfer_FinishRemovesWhatTheSenderDoesNotHave(t *testing.T) {
	const sx, sy = 40, 50 // transferred; owned by the receiver already
	x, z, y := cookieIn(t, sx, "x"), cookieIn(t, sx, "z"), cookieIn(t, sy, "y")
	var tenant, vid string
	for n := 0; ; n++ { // a visitor whose link is in the transferred shard
		if tenant, vid = "ten_1", fmt.Sprint("v-", n); identity.LinkShard(tenant, vid) == sx {
			break
		}
	}
	a, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	b, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	if err := a.Upsert([]identity.Record{worldRecord("p_r", []identity.Identifier{x}, false)}); err != nil {
		t.Fatal(err)
	}
	s := worldRecord("p_s", []identity.Identifier{x, z, y}, false)
	if err := b.Upsert([]identity.Record{s}); err != nil {
		t.Fatal(err)
	}
	if err := b.LearnRecord(tenant, vid, &s); err != nil {
		t.Fatal(err)
	}

	tr := b.BeginTransfer([]int{sx}, func(s int) bool { return s == sx || s == sy })
	defer tr.Close()
	if err := a.ExportShards([]int{sx}, 10, func(batch identity.ShardBatch) error {
		_, err := tr.Apply(batch)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	removed, err := tr.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2 {
		t.Errorf("Finish removed %d entries; want 2 (the identifier z, the link)", removed)
	}
	link := identity.LinkIdentifier(tenant, vid)
	if diff, err := shardDifference(a, b, []int{sx}, []identity.Identifier{x, z, link}); err != nil || diff != "" {
		t.Fatalf("%s (%v)", diff, err)
	}
	rec, ok, err := b.Profile("p_s")
	if err != nil || !ok || !reflect.DeepEqual(rec.Identifiers, []identity.Identifier{y}) {
		t.Fatalf("p_s on the receiver = %+v, %v, %v; want it kept with y only", rec, ok, err)
	}
}

// The copies a transfer brings may be older than the live writes the
// receiver has applied meanwhile; they must not undo them.
func TestTransfer_SkipsCopiesOlderThanLiveWrites(t *testing.T) {
	a, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	b, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	x1, x2 := identity.Identifier{Type: identity.TypeCookie, Value: "x1"}, identity.Identifier{Type: identity.TypeCookie, Value: "x2"}
	x3 := identity.Identifier{Type: identity.TypeDeviceID, Value: "x3"}
	if err := a.Upsert([]identity.Record{
		worldRecord("p_r", []identity.Identifier{x1, x2}, false),
		worldRecord("p_p", []identity.Identifier{x3}, false),
	}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []liveOp{
		{kind: opLearn, tenant: "ten_1", vid: "v-1", via: x1},
		{kind: opLearn, tenant: "ten_1", vid: "v-3", via: x3},
	} {
		if err := o.apply(a); err != nil {
			t.Fatal(err)
		}
	}

	tr := b.BeginTransfer(allShards(), nil)
	defer tr.Close()
	var wire []identity.ShardBatch // the whole export is read before any live write
	if err := a.ExportShards(allShards(), 2, func(batch identity.ShardBatch) error {
		wire = append(wire, batch)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	live := []liveOp{
		{kind: opUpsert, recs: []identity.Record{worldRecord("p_q", []identity.Identifier{x1}, false)}}, // takes x1 from p_r
		{kind: opErase, person: "p_p"},
		{kind: opLearn, tenant: "ten_1", vid: "v-1", via: x1}, // now p_q
		{kind: opLearn, tenant: "ten_1", vid: "v-2", via: x2}, // p_r, not held by the receiver yet
	}
	for _, o := range live {
		if err := o.apply(a, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, batch := range wire {
		if _, err := tr.Apply(batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.Finish(); err != nil {
		t.Fatal(err)
	}

	want := map[identity.Identifier]string{x1: "p_q", x2: "p_r", x3: "",
		identity.LinkIdentifier("ten_1", "v-1"): "p_q", identity.LinkIdentifier("ten_1", "v-2"): "p_r",
		identity.LinkIdentifier("ten_1", "v-3"): ""}
	for id, person := range want {
		if got, err := answerOf(b, id); err != nil || got.person != person {
			t.Errorf("receiver: lookup of %s = %v (%v); want %q", id.Key(), got, err, person)
		}
	}
	var ids []identity.Identifier
	for id := range want {
		ids = append(ids, id)
	}
	if diff, err := shardDifference(a, b, allShards(), ids); err != nil || diff != "" {
		t.Fatalf("%s (%v)", diff, err)
	}
}

func TestTransfer_IsOverAfterFinishOrClose(t *testing.T) {
	g, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	t.Run("Finish", func(t *testing.T) {
		tr := g.BeginTransfer([]int{1}, nil)
		if _, err := tr.Finish(); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Apply(identity.ShardBatch{}); !errors.Is(err, identity.ErrTransferClosed) {
			t.Errorf("Apply after Finish: %v; want ErrTransferClosed", err)
		}
		if _, err := tr.Finish(); !errors.Is(err, identity.ErrTransferClosed) {
			t.Errorf("a second Finish: %v; want ErrTransferClosed", err)
		}
		tr.Close() // a no-op
	})
	t.Run("Close", func(t *testing.T) {
		tr := g.BeginTransfer([]int{1, 2}, nil)
		tr.Close()
		tr.Close()
		if _, err := tr.Apply(identity.ShardBatch{}); !errors.Is(err, identity.ErrTransferClosed) {
			t.Errorf("Apply after Close: %v; want ErrTransferClosed", err)
		}
	})
	t.Run("a shard out of range is a programming error", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("BeginTransfer accepted shard 256")
			}
		}()
		g.BeginTransfer([]int{identity.NumShards}, nil)
	})
	t.Run("so is an export of one", func(t *testing.T) {
		if err := g.ExportShards([]int{-1}, 1, func(identity.ShardBatch) error { return nil }); err == nil {
			t.Error("ExportShards accepted shard -1")
		}
	})
}

func TestTransfer_ApplyRejectsBadCopies(t *testing.T) {
	g, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
	tr := g.BeginTransfer(allShards(), nil)
	defer tr.Close()
	bad := map[string]identity.ShardBatch{
		"an undecodable record": {Records: [][]byte{{1, 2, 3}}},
		"a link without tenant": {Links: []identity.LearnedLink{{VisitorID: "v", PersonID: "p_1"}}},
		"a bad person id":       {Links: []identity.LearnedLink{{Tenant: "t", VisitorID: "v", PersonID: "p 1"}}},
	}
	for name, batch := range bad {
		if _, err := tr.Apply(batch); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
}

func TestShardBatch_MarshalBinary(t *testing.T) {
	rec := worldRecord("p_1", []identity.Identifier{{Type: identity.TypeCookie, Value: "ck"}}, false)
	enc, err := identity.EncodeRecord(&rec)
	if err != nil {
		t.Fatal(err)
	}
	batch := identity.ShardBatch{Records: [][]byte{enc, enc},
		Links: []identity.LearnedLink{{Tenant: "ten_1", VisitorID: "v/1", PersonID: "p_1", ExpiresAt: 1_900_000_000},
			{Tenant: "ten_1", VisitorID: "v/2", PersonID: "p_1"}}}
	data, err := batch.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("round trip", func(t *testing.T) {
		var got identity.ShardBatch
		if err := got.UnmarshalBinary(data); err != nil || !reflect.DeepEqual(got, batch) {
			t.Fatalf("UnmarshalBinary = %+v, %v; want %+v", got, err, batch)
		}
		var empty identity.ShardBatch
		e, _ := empty.MarshalBinary()
		if err := got.UnmarshalBinary(e); err != nil || got.Len() != 0 {
			t.Fatalf("empty batch: %+v, %v", got, err)
		}
	})
	t.Run("version 1 (links without expiry) is still read", func(t *testing.T) {
		v1 := []byte{1, 0, 1} // no records, one link
		for _, s := range []string{"ten_1", "v/1", "p_1"} {
			v1 = append(append(v1, byte(len(s))), s...)
		}
		var got identity.ShardBatch
		want := identity.ShardBatch{Links: []identity.LearnedLink{{Tenant: "ten_1", VisitorID: "v/1", PersonID: "p_1"}}}
		if err := got.UnmarshalBinary(v1); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("UnmarshalBinary(v1) = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("corrupt forms are refused", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"empty":          nil,
			"other version":  append([]byte{3}, data[1:]...),
			"truncated":      data[:len(data)-1],
			"trailing bytes": append(slices.Clone(data), 0),
			"huge count":     {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		} {
			var got identity.ShardBatch
			if err := got.UnmarshalBinary(b); !errors.Is(err, identity.ErrCorruptBatch) {
				t.Errorf("%s: %v; want ErrCorruptBatch", name, err)
			}
		}
	})
}

// A link learned live after the export read the links (here: after the
// export ended) leads to a person the export never sends when the person
// has no identifier in the transferred shards. The sender learned the
// link, so the receiver must answer it too: Finish holds the person's
// record as the link was learned with it, unless the person was erased.
func TestTransfer_HoldsThePersonOfALinkLearnedAfterTheExport(t *testing.T) {
	const sx, sy = 90, 100 // the transferred shard (the link's), the person's
	y := cookieIn(t, sy, "y")
	var tenant, vid string
	for n := 0; ; n++ {
		if tenant, vid = "ten_1", fmt.Sprint("v-", n); identity.LinkShard(tenant, vid) == sx {
			break
		}
	}
	link := identity.LinkIdentifier(tenant, vid)
	for _, erase := range []bool{false, true} {
		t.Run(fmt.Sprint("erased=", erase), func(t *testing.T) {
			a, _ := openGraph(t, testkit.OpenStore(t, t.TempDir()))
			stB := testkit.OpenStore(t, t.TempDir())
			b, _ := openGraph(t, stB)
			if err := a.Upsert([]identity.Record{worldRecord("p_1", []identity.Identifier{y}, false)}); err != nil {
				t.Fatal(err)
			}
			tr := b.BeginTransfer([]int{sx}, nil)
			defer tr.Close()
			if err := a.ExportShards([]int{sx}, 10, func(batch identity.ShardBatch) error {
				_, err := tr.Apply(overTheWire(batch))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			live := []liveOp{{kind: opLearn, tenant: tenant, vid: vid, via: y}}
			if erase {
				live = append(live, liveOp{kind: opErase, person: "p_1"})
			}
			for _, o := range live {
				if err := o.apply(a, b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tr.Finish(); err != nil {
				t.Fatal(err)
			}
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			want := "p_1"
			if erase {
				want = ""
			}
			if got, err := answerOf(b, link); err != nil || got.person != want {
				t.Fatalf("receiver: the link answers %v (%v); want %q", got, err, want)
			}
			if diff, err := shardDifference(a, b, []int{sx}, []identity.Identifier{link}); err != nil || diff != "" {
				t.Fatalf("%s (%v)", diff, err)
			}
			b2, _ := openGraph(t, stB) // and after a restart
			if diff, err := shardDifference(a, b2, []int{sx}, []identity.Identifier{link}); err != nil || diff != "" {
				t.Fatalf("after a restart: %s (%v)", diff, err)
			}
		})
	}
}
