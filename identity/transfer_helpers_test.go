package identity_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/firehook/firehook/identity"
)

// The helpers of the shard transfer tests (transfer_test.go,
// transfer_property_test.go, drop_test.go, digest_test.go).

// allShards is every shard of the index.
func allShards() []int {
	out := make([]int, identity.NumShards)
	for i := range out {
		out[i] = i
	}
	return out
}

// transferShards moves shards from one graph to another as a cluster
// does: BeginTransfer on the receiver, ExportShards on the sender with
// every batch through its binary form, Finish, Sync.
func transferShards(tb testing.TB, from, to *identity.Graph, shards []int, owned func(int) bool, batch int) {
	tb.Helper()
	tr := to.BeginTransfer(shards, owned)
	defer tr.Close()
	err := from.ExportShards(shards, batch, func(b identity.ShardBatch) error {
		_, err := tr.Apply(overTheWire(b))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tr.Finish(); err != nil {
		tb.Fatal(err)
	}
	if err := to.Sync(); err != nil {
		tb.Fatal(err)
	}
}

// overTheWire returns b after a round trip through its binary form.
func overTheWire(b identity.ShardBatch) identity.ShardBatch {
	data, err := b.MarshalBinary()
	if err != nil {
		panic(err)
	}
	var out identity.ShardBatch
	if err := out.UnmarshalBinary(data); err != nil {
		panic(err)
	}
	return out
}

// answer is what a graph answers to a lookup of one identifier.
type answer struct {
	person  string // "" when no hit
	company bool
}

func (a answer) String() string {
	if a.person == "" {
		return "no hit"
	}
	if a.company {
		return a.person + " (company)"
	}
	return a.person
}

// answerOf looks id up in g.
func answerOf(g *identity.Graph, id identity.Identifier) (answer, error) {
	hits, err := g.Hits([]identity.Identifier{id})
	if err != nil || len(hits) == 0 {
		return answer{}, err
	}
	return answer{hits[0].Record.PersonID, hits[0].Company}, nil
}

// shardDifference reports the first difference between the digests of shards
// on a and b, and between their answers to the lookups of ids in those
// shards: "" when there is none.
func shardDifference(a, b *identity.Graph, shards []int, ids []identity.Identifier) (string, error) {
	for _, id := range ids {
		if !slices.Contains(shards, identity.ShardOf(id)) {
			continue
		}
		x, err := answerOf(a, id)
		if err != nil {
			return "", err
		}
		y, err := answerOf(b, id)
		if err != nil {
			return "", err
		}
		if x != y {
			return fmt.Sprintf("lookup of %s (shard %d): %v on the sender, %v on the receiver", id.Key(), identity.ShardOf(id), x, y), nil
		}
	}
	for _, s := range shards {
		if x, y := a.ShardDigest(s), b.ShardDigest(s); x != y {
			return fmt.Sprintf("shard %d: digest %+v on the sender, %+v on the receiver", s, x, y), nil
		}
	}
	return "", nil
}

// The live writes that the transfer tests send to both graphs, as a
// cluster sends each write to every owner.
type liveOp struct {
	kind   int // opUpsert, opErase, opLearn
	recs   []identity.Record
	person string
	tenant string
	vid    string
	via    identity.Identifier // opLearn: the identifier whose hit gives the record
}

const (
	opUpsert = iota
	opErase
	opLearn
)

func (o liveOp) String() string {
	switch o.kind {
	case opUpsert:
		var s []string
		for _, r := range o.recs {
			var ids []string
			for _, id := range r.Identifiers {
				ids = append(ids, id.Key()[:min(len(id.Key()), 20)])
			}
			s = append(s, fmt.Sprintf("%s%v company=%v", r.PersonID, ids, r.IsCompanyOnly()))
		}
		return fmt.Sprintf("upsert %v", s)
	case opErase:
		return "erase " + o.person
	default:
		return fmt.Sprintf("learn %s/%s via %s", o.tenant, o.vid, o.via.Key())
	}
}

// apply applies o to each graph in turn. A learned link takes the record
// of the first graph's hit of o.via, as the match stage would (and
// nothing when there is none, or it is a company's), and each graph
// learns it with LearnRecord.
func (o liveOp) apply(graphs ...*identity.Graph) error {
	return o.applyLearning(func(g *identity.Graph, tenant, vid string, rec *identity.Record) error {
		return g.LearnRecord(tenant, vid, rec)
	}, graphs...)
}

// applyLearning is apply with the graphs learning links with learn (as a
// cluster's link owners do with LearnRecordAndHold).
func (o liveOp) applyLearning(learn func(g *identity.Graph, tenant, vid string, rec *identity.Record) error, graphs ...*identity.Graph) error {
	switch o.kind {
	case opUpsert:
		for _, g := range graphs {
			if err := g.Upsert(slices.Clone(o.recs)); err != nil {
				return err
			}
		}
	case opErase:
		for _, g := range graphs {
			if _, err := g.Erase(o.person, nil); err != nil {
				return err
			}
		}
	case opLearn:
		hits, err := graphs[0].Hits([]identity.Identifier{o.via})
		if err != nil || len(hits) == 0 || hits[0].Company {
			return err
		}
		for _, g := range graphs {
			if err := learn(g, o.tenant, o.vid, hits[0].Record); err != nil {
				return err
			}
		}
	}
	return nil
}

// The small world of the random tests: few persons, identifiers, tenants
// and visitors, so that records often take each other's identifiers and
// links are often learned again.
const (
	worldPersons  = 6
	worldTenants  = 2
	worldVisitors = 4
)

// worldLinks are the link identifiers of the world.
func worldLinks() []identity.Identifier {
	var out []identity.Identifier
	for t := range worldTenants {
		for v := range worldVisitors {
			out = append(out, identity.LinkIdentifier(worldTenant(t), worldVisitor(v)))
		}
	}
	return out
}

func worldTenant(i int) string  { return fmt.Sprintf("ten_%d", i) }
func worldVisitor(i int) string { return fmt.Sprintf("vid-%d", i) }
func worldPerson(i int) string  { return fmt.Sprintf("p_%d", i) }

// randomOp draws a live write over ids with r (for the tests that run
// their writes on goroutines, where rapid cannot draw).
func randomOp(r *rand.Rand, ids []identity.Identifier) liveOp {
	switch n := r.IntN(10); {
	case n < 5:
		var recs []identity.Record
		for range 1 + r.IntN(3) {
			var picked []identity.Identifier
			for _, i := range r.Perm(len(ids))[:1+r.IntN(4)] {
				picked = append(picked, ids[i])
			}
			recs = append(recs, worldRecord(worldPerson(r.IntN(worldPersons)), picked, r.IntN(4) == 0))
		}
		return liveOp{kind: opUpsert, recs: recs}
	case n < 7:
		return liveOp{kind: opErase, person: worldPerson(r.IntN(worldPersons))}
	default:
		return liveOp{kind: opLearn, tenant: worldTenant(r.IntN(worldTenants)), vid: worldVisitor(r.IntN(worldVisitors)),
			via: ids[r.IntN(len(ids))]}
	}
}

// worldRecord is a person's record, or a company-only one.
func worldRecord(person string, ids []identity.Identifier, companyOnly bool) identity.Record {
	rec := identity.Record{PersonID: person, Identifiers: ids}
	if companyOnly {
		rec.Company = identity.Company{Name: "C", Domain: "c.example"}
	} else {
		rec.Person = identity.Person{FirstName: "P" + person}
	}
	return rec
}
