package identity

import (
	"slices"
	"strings"

	"github.com/firehook/firehook"
)

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

// candidate is one index hit of a visit.
type candidate struct {
	id       Identifier
	personID string
	company  bool // a company-only record
}

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
// Resolve reads the index and at most the profiles of the matched person
// and company; it writes nothing (see Matcher for learning).
func (g *Graph) Resolve(v Visit) (Match, error) {
	var strong, weak []candidate
	var company *candidate
	see := func(id Identifier) {
		ord, ok := g.get(id.Hash())
		if !ok {
			return
		}
		c := candidate{id: id, personID: g.personID(ord), company: ord&companyFlag != 0}
		switch {
		case c.company:
			if id.Type == TypeIP && company == nil {
				company = &c
			}
		case id.Type.Strength() >= TypeDeviceID.Strength():
			strong = append(strong, c)
		case id.Type == TypeCookie || id.Type == typeVisitor:
			weak = append(weak, c)
		}
	}
	for _, id := range v.Identifiers {
		see(id)
	}
	if v.Tenant != "" && v.VisitorID != "" {
		see(linkIdentifier(v.Tenant, v.VisitorID))
	}

	var m Match
	for _, group := range [][]candidate{strong, weak} {
		if len(group) == 0 {
			continue
		}
		// Confirm every hit against its record: a hash collision is no hit.
		confirmed, err := g.confirm(group)
		if err != nil {
			return Match{}, err
		}
		if len(confirmed) == 0 {
			continue
		}
		persons := distinctPersons(confirmed)
		if len(persons) > 1 {
			return Match{Conflict: true}, nil
		}
		rec, ok, err := g.profile(persons[0])
		if err != nil {
			return Match{}, err
		}
		if !ok {
			continue // erased between the index read and now
		}
		m.Person = rec
		m.Method, m.Confidence, m.Learned = methodOf(confirmed)
		if !rec.Company.IsZero() {
			c := rec.Company
			m.Company = &c
		}
		return m, nil
	}
	if company != nil {
		if rec, ok, err := g.profile(company.personID); err != nil {
			return Match{}, err
		} else if ok && slices.Contains(rec.Identifiers, company.id) {
			c := rec.Company
			return Match{Company: &c, Method: MethodIP, Confidence: confCompanyIP}, nil
		}
	}
	return Match{}, nil
}

// confirm keeps the candidates whose record lists their identifier
// (learned links are confirmed by their stored link).
func (g *Graph) confirm(cs []candidate) ([]candidate, error) {
	out := cs[:0]
	for _, c := range cs {
		if c.id.Type == typeVisitor {
			out = append(out, c)
			continue
		}
		rec, ok, err := g.profile(c.personID)
		if err != nil {
			return nil, err
		}
		if ok && slices.Contains(rec.Identifiers, c.id) {
			out = append(out, c)
		}
	}
	return out, nil
}

func distinctPersons(cs []candidate) []string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.personID) {
			out = append(out, c.personID)
		}
	}
	return out
}

// methodOf names the strongest evidence of one person's candidates.
func methodOf(cs []candidate) (Method, float64, bool) {
	var hem, device, cookie, learned bool
	for _, c := range cs {
		switch {
		case strings.HasPrefix(string(c.id.Type), "hem_"):
			hem = true
		case c.id.Type == TypeDeviceID || c.id.Type == TypeMAID:
			device = true
		case c.id.Type == typeVisitor:
			learned = true
		default:
			cookie = true
		}
	}
	switch {
	case hem && device:
		return MethodHEM, confHEMAndDevice, false
	case hem:
		return MethodHEM, confHEM, false
	case device:
		return MethodDevice, confDevice, false
	case learned:
		return MethodCookie, confLearned, true
	default:
		_ = cookie
		return MethodCookie, confCookie, false
	}
}
