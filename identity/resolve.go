package identity

import "github.com/firehook/firehook"

// Method is how a visit was matched.
type Method string

// Match methods, strongest first.
const (
	MethodHEM    Method = "hem"
	MethodDevice Method = "device"
	MethodCookie Method = "cookie"
	MethodIP     Method = "ip"
)

// Confidence of a match by method. A learned link (a visitor id first
// seen with a strong identifier) is surer than a cookie from the graph.
const (
	confHEMAndDevice = 0.99
	confHEM          = 0.97
	confDevice       = 0.9
	confLearned      = 0.85
	confCookie       = 0.75
	confCompanyIP    = 0.5
)

// Visit is what one page view tells about who is there.
type Visit struct {
	Tenant      string       // whose visitor this is (learned links are per tenant)
	VisitorID   string       // the tenant's first-party visitor id (fh_vid)
	Identifiers []Identifier // hashed emails, device ids, graph cookies, the IP
}

// VisitFromEvent collects the identifiers of a stored page view. Values
// that are not valid identifiers (or are junk) are left out.
func VisitFromEvent(ev *firehook.Event) Visit {
	v := Visit{Tenant: ev.TenantID, VisitorID: ev.VisitorID}
	add := func(t Type, value string) {
		if value == "" {
			return
		}
		if id, err := NewIdentifier(t, value); err == nil {
			v.Identifiers = append(v.Identifiers, id)
		}
	}
	add(TypeHEMSHA256, ev.HEMs.SHA256)
	add(TypeHEMSHA1, ev.HEMs.SHA1)
	add(TypeHEMMD5, ev.HEMs.MD5)
	for k, val := range ev.IDs {
		if t := Type(k); t.Valid() && t != TypeIP {
			add(t, val)
		}
	}
	add(TypeIP, ev.IP)
	return v
}

// Match is the result of resolving a visit.
type Match struct {
	// Person is the matched person's record (shared: do not modify); nil
	// when no person matched.
	Person *Record
	// Company names the company: the person's, or for an IP of a
	// company-only record, that company. Nil when none.
	Company *Company
	// Method and Confidence say how sure the match is.
	Method     Method
	Confidence float64
	// Learned is set when the person matched through a learned link.
	Learned bool
	// Conflict is set when strong identifiers named different persons:
	// no match is made rather than a wrong one.
	Conflict bool
}

// Matched reports whether a person (not only a company) matched.
func (m Match) Matched() bool { return m.Person != nil }

// Resolve finds who a visit is, by the rules of the match stage:
//
//   - hashed emails outrank device ids and mobile ad ids, which outrank
//     cookies (graph cookies and learned visitor links), which outrank IPs;
//   - strong identifiers (emails, devices) that name different persons
//     make no match (Conflict) rather than a wrong one; so do cookies
//     that name different persons when nothing stronger matched;
//   - an IP never identifies a person: it can only name a company, and
//     only through a company-only record.
//
// It is CombineHits of the Hits of the visit's identifiers and, when the
// visit has a tenant and a visitor id, of its learned link
// (LinkIdentifier). Resolve reads the index and the profiles of the hits;
// it writes nothing (see Matcher for learning).
func (g *Graph) Resolve(v Visit) (Match, error) {
	var buf [8]Hit // most visits have a few hits: none escape to the heap
	hits, err := g.appendHits(buf[:0], v.Identifiers)
	if err != nil {
		return Match{}, err
	}
	if v.Tenant != "" && v.VisitorID != "" {
		// The link's hash is computed without building its identifier,
		// which only a hit needs.
		if ord, ok := g.get(linkHash(v.Tenant, v.VisitorID)); ok {
			h, ok, err := g.confirm(LinkIdentifier(v.Tenant, v.VisitorID), ord)
			if err != nil {
				return Match{}, err
			}
			if ok {
				hits = append(hits, h)
			}
		}
	}
	return CombineHits(hits), nil
}

// lookupIdentifiers is what a Source is asked about to resolve v: its
// identifiers and, with a tenant and a visitor id, its learned link.
func lookupIdentifiers(v Visit) []Identifier {
	if v.Tenant == "" || v.VisitorID == "" {
		return v.Identifiers
	}
	ids := make([]Identifier, len(v.Identifiers), len(v.Identifiers)+1)
	copy(ids, v.Identifiers)
	return append(ids, LinkIdentifier(v.Tenant, v.VisitorID))
}

// resolveWith is Resolve through a Source.
func resolveWith(src Source, v Visit) (Match, error) {
	hits, err := src.Hits(lookupIdentifiers(v))
	if err != nil {
		return Match{}, err
	}
	return CombineHits(hits), nil
}
