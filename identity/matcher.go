package identity

import (
	"strings"
	"sync/atomic"
)

// Matcher is the match stage: resolution against the graph, the
// suppression check, and learning visitor links. The visitor actors call
// it for every event; it is safe for concurrent use.
type Matcher struct {
	src   Source
	graph *Graph // src when it is a local graph (see Match)
	sup   *Suppressions

	hits, misses, suppressed, conflicts, companies, learned atomic.Int64
}

// NewMatcher returns the match stage over the local graph and sup.
func NewMatcher(graph *Graph, sup *Suppressions) *Matcher {
	return NewMatcherWith(graph, sup)
}

// NewMatcherWith returns the match stage over src (a Graph, or a cluster
// client that asks the owners of the identifiers' shards) and sup.
func NewMatcherWith(src Source, sup *Suppressions) *Matcher {
	m := &Matcher{src: src, sup: sup}
	m.graph, _ = src.(*Graph)
	return m
}

// Outcome is a Match with the suppression verdict.
type Outcome struct {
	Match
	// Suppressed is set when the matched person or company is on the
	// tenant's or the global suppression list: the match must be dropped
	// before any dispatch. SuppressedBy says which kind of entry matched.
	Suppressed   bool
	SuppressedBy Kind
}

// Match resolves v, checks suppression, and when a strong identifier
// (email, device) identified a person whose visitor id the tenant has not
// linked yet, learns the link so that the next visit with only the
// visitor id matches too. A suppressed person is never learned.
//
// The visit is resolved by CombineHits over the Source's Hits of its
// identifiers and learned link; the link is learned through the Source.
func (m *Matcher) Match(v Visit) (Outcome, error) {
	var res Match
	var err error
	if m.graph != nil {
		res, err = m.graph.Resolve(v) // the same, without the heap copies an interface call needs
	} else {
		res, err = resolveWith(m.src, v)
	}
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Match: res}
	if res.Person == nil && res.Company == nil {
		if res.Conflict {
			m.conflicts.Add(1)
		}
		m.misses.Add(1)
		return out, nil
	}
	if ok, kind := m.sup.Suppressed(v.Tenant, subjectOf(v, res)); ok {
		out.Suppressed, out.SuppressedBy = true, kind
		m.suppressed.Add(1)
		return out, nil
	}
	if res.Person == nil {
		m.companies.Add(1)
		return out, nil
	}
	m.hits.Add(1)
	if (res.Method == MethodHEM || res.Method == MethodDevice) && v.Tenant != "" && v.VisitorID != "" {
		if err := m.src.LearnRecord(v.Tenant, v.VisitorID, res.Person); err != nil {
			return Outcome{}, err
		}
		m.learned.Add(1)
	}
	return out, nil
}

// subjectOf gathers what suppression is checked against: every hashed
// email of the visit and the person, the person's email domain and the
// company's domain.
func subjectOf(v Visit, m Match) Subject {
	var s Subject
	for _, id := range v.Identifiers {
		if strings.HasPrefix(string(id.Type), "hem_") {
			s.HEMs = append(s.HEMs, id.Value)
		}
	}
	if p := m.Person; p != nil {
		for _, id := range p.Identifiers {
			if strings.HasPrefix(string(id.Type), "hem_") {
				s.HEMs = append(s.HEMs, id.Value)
			}
		}
		if _, domain, ok := strings.Cut(p.Person.BusinessEmail, "@"); ok {
			s.EmailDomain = strings.ToLower(domain)
		}
	}
	if m.Company != nil {
		s.CompanyDomain = strings.ToLower(m.Company.Domain)
	}
	return s
}

// MatcherStats counts the match stage's outcomes since start.
type MatcherStats struct {
	Hits       int64 `json:"hits"`       // a person matched (and was not suppressed)
	Companies  int64 `json:"companies"`  // only a company matched
	Misses     int64 `json:"misses"`     // nothing matched (conflicts included)
	Conflicts  int64 `json:"conflicts"`  // strong identifiers named different persons
	Suppressed int64 `json:"suppressed"` // a match dropped by a suppression list
	Learned    int64 `json:"learned"`    // visitor links learned or confirmed
}

// Stats returns the counters.
func (m *Matcher) Stats() MatcherStats {
	return MatcherStats{Hits: m.hits.Load(), Companies: m.companies.Load(), Misses: m.misses.Load(),
		Conflicts: m.conflicts.Load(), Suppressed: m.suppressed.Load(), Learned: m.learned.Load()}
}
