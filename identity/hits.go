package identity

import (
	"slices"
	"strings"
)

// Hit is one confirmed index hit: identifier ID leads to Record.
//
// A hit is only made when Record lists ID, so a hash collision in the
// index is no hit. The exception is a learned visitor link (the
// identifier LinkIdentifier returns), which no record lists: it is
// confirmed by its stored link. An erased person yields no hit.
type Hit struct {
	ID Identifier
	// Record is the record ID leads to. It is shared: do not modify it.
	Record *Record
	// Company is set when the index entry is a company-only record's (for
	// a learned link: when its record is company-only): it can name a
	// company (through an IP), never a person.
	Company bool
}

// Source answers the index lookups of the match stage and learns visitor
// links: a Graph on a single node, or in a cluster a client that sends
// each identifier to the owners of its shard (ShardOf, LinkShard) and
// merges their hits.
//
// Every visitor actor calls a Source, concurrently with the others (one
// call at a time per visitor), so an implementation must be safe for
// concurrent use. Both methods are on the path of every page view.
type Source interface {
	// Hits returns the confirmed hits of ids (see Hit), in the order of
	// ids: the order decides which of several company IPs names the
	// company (see CombineHits). Identifiers without a hit are left out.
	// It must not modify or retain ids. The records of the hits are
	// shared and read-only; the slice is the caller's.
	Hits(ids []Identifier) ([]Hit, error)
	// LearnRecord stores the learned link tenant's visitorID → the person
	// of rec, a record that a hit of this Source returned, so that later
	// Hits of LinkIdentifier(tenant, visitorID) find that person: the
	// Matcher calls it after a strong match. It is a no-op when the link
	// exists. It should not wait for a disk sync: a link lost in a crash
	// is learned again at the visitor's next strong match.
	//
	// A Graph answers a link's hit with the person's record, which it
	// reads from its own records: it learns nothing (and returns nil)
	// when it does not hold the person (erased meanwhile, or, in a
	// cluster, a person with no identifier in this node's shards).
	LearnRecord(tenant, visitorID string, rec *Record) error
}

var _ Source = (*Graph)(nil)

// Hits returns the confirmed hits of ids in this graph, in the order of
// ids: what a shard owner answers to a remote lookup.
func (g *Graph) Hits(ids []Identifier) ([]Hit, error) { return g.appendHits(nil, ids) }

// appendHits appends the hits of ids to dst.
func (g *Graph) appendHits(dst []Hit, ids []Identifier) ([]Hit, error) {
	for _, id := range ids {
		ord, ok := g.get(id.Hash())
		if !ok {
			continue
		}
		h, ok, err := g.confirm(id, ord)
		if err != nil {
			return nil, err
		}
		if ok {
			dst = append(dst, h)
		}
	}
	return dst, nil
}

// confirm makes the hit of id, whose index entry is ord, if the record
// of ord lists id (learned links are confirmed by their stored link).
func (g *Graph) confirm(id Identifier, ord uint32) (Hit, bool, error) {
	rec, ok, err := g.profile(g.personID(ord))
	if err != nil || !ok {
		return Hit{}, false, err // erased between the index read and now
	}
	if id.Type != typeVisitor && !slices.Contains(rec.Identifiers, id) {
		return Hit{}, false, nil // a hash collision
	}
	company := ord&companyFlag != 0
	if id.Type == typeVisitor {
		// A link's entry carries no company flag (see LearnRecord): its
		// record tells.
		company = rec.IsCompanyOnly()
	}
	return Hit{ID: id, Record: rec, Company: company}, true, nil
}

// CombineHits resolves a visit from the hits of its identifiers (and of
// its learned link), wherever they were gathered, by the rules of the
// match stage (see Resolve):
//
//   - the hits of hashed emails, device ids and mobile ad ids (strong)
//     decide when there are any: one person is a match, several persons
//     a Conflict;
//   - otherwise the hits of cookies and learned links (weak) decide, the
//     same way;
//   - otherwise the first hit (in hits order) of an IP on a company-only
//     record names that company, with no person.
//
// A company-only record's hit names a company only through an IP, and a
// person's IP is never a hit of its own. Hits without a Record are
// ignored. The Person of the result is the Record of the first hit of
// the person (shared, not copied); the Company is a copy.
func CombineHits(hits []Hit) Match {
	if m, ok := combineRank(hits, rankStrong); ok {
		return m
	}
	if m, ok := combineRank(hits, rankWeak); ok {
		return m
	}
	for i := range hits {
		h := &hits[i]
		if h.Company && h.ID.Type == TypeIP && h.Record != nil {
			c := h.Record.Company
			return Match{Company: &c, Method: MethodIP, Confidence: confCompanyIP}
		}
	}
	return Match{}
}

// The ranks of person evidence.
const (
	rankNone   = iota // IPs and unknown types: never a person
	rankWeak          // cookies and learned links
	rankStrong        // hashed emails, device ids, mobile ad ids
)

func rankOf(t Type) int {
	switch {
	case t.Strength() >= TypeDeviceID.Strength():
		return rankStrong
	case t == TypeCookie || t == typeVisitor:
		return rankWeak
	}
	return rankNone
}

// combineRank combines the person hits of one rank; ok is false when the
// rank has none.
func combineRank(hits []Hit, rank int) (m Match, ok bool) {
	var person *Record
	var ev evidence
	for i := range hits {
		h := &hits[i]
		if h.Company || h.Record == nil || rankOf(h.ID.Type) != rank {
			continue
		}
		if person == nil {
			person = h.Record
		} else if h.Record.PersonID != person.PersonID {
			return Match{Conflict: true}, true
		}
		ev.see(h.ID.Type)
	}
	if person == nil {
		return Match{}, false
	}
	m.Person = person
	m.Method, m.Confidence, m.Learned = ev.method()
	if !person.Company.IsZero() {
		c := person.Company
		m.Company = &c
	}
	return m, true
}

// evidence is what kinds of identifier named one person.
type evidence struct{ hem, device, learned, cookie bool }

func (e *evidence) see(t Type) {
	switch {
	case strings.HasPrefix(string(t), "hem_"):
		e.hem = true
	case t == TypeDeviceID || t == TypeMAID:
		e.device = true
	case t == typeVisitor:
		e.learned = true
	default:
		e.cookie = true
	}
}

// method names the strongest evidence.
func (e evidence) method() (Method, float64, bool) {
	switch {
	case e.hem && e.device:
		return MethodHEM, confHEMAndDevice, false
	case e.hem:
		return MethodHEM, confHEM, false
	case e.device:
		return MethodDevice, confDevice, false
	case e.learned:
		return MethodCookie, confLearned, true
	default:
		return MethodCookie, confCookie, false
	}
}
