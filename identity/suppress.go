package identity

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/firehook/firehook/persistence"
)

// ErrInvalidSuppression is returned for a suppression entry that cannot
// be stored (bad kind or value); the message says which.
var ErrInvalidSuppression = errors.New("invalid suppression")

// GlobalScope is the scope of the operator's suppression list, which
// applies to every tenant. Other scopes are tenant ids.
const GlobalScope = "global"

// Kind is what a suppression entry matches.
type Kind string

// Suppression kinds. Emails are never stored: an email entry is stored
// as the sha256 of its normalised form, with kind hem.
const (
	KindEmail         Kind = "email"
	KindHEM           Kind = "hem"
	KindEmailDomain   Kind = "email_domain"
	KindCompanyDomain Kind = "company_domain"
)

// SuppressionEntry is one entry of a list.
type SuppressionEntry struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// Suppressions holds the per-tenant and global suppression lists in
// memory (sets), persisted in badger. A suppressed match is dropped
// before any dispatch. Safe for concurrent use; Suppressed takes only a
// read lock and does no I/O.
type Suppressions struct {
	store *persistence.GraphStore

	mu     sync.RWMutex // guards scopes
	scopes map[string]map[Kind]map[string]struct{}
}

// OpenSuppressions loads the lists from store.
func OpenSuppressions(store *persistence.GraphStore) (*Suppressions, error) {
	s := &Suppressions{store: store, scopes: map[string]map[Kind]map[string]struct{}{}}
	err := store.ScanSuppressions(func(scope, kind, value string) error {
		s.set(scope, Kind(kind))[value] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("identity: load suppressions: %w", err)
	}
	return s, nil
}

func (s *Suppressions) set(scope string, kind Kind) map[string]struct{} {
	kinds := s.scopes[scope]
	if kinds == nil {
		kinds = map[Kind]map[string]struct{}{}
		s.scopes[scope] = kinds
	}
	set := kinds[kind]
	if set == nil {
		set = map[string]struct{}{}
		kinds[kind] = set
	}
	return set
}

// normalise validates values of kind and returns the stored kind and
// values: emails become sha256 hems, hems and domains are lower-cased.
func normaliseSuppression(kind Kind, values []string) (Kind, []string, error) {
	out := make([]string, 0, len(values))
	stored := kind
	for i, v := range values {
		switch kind {
		case KindEmail:
			h, err := HashEmail(v)
			if err != nil {
				return "", nil, fmt.Errorf("values[%d]: %w: not an email address", i, ErrInvalidSuppression)
			}
			stored, v = KindHEM, h.SHA256
		case KindHEM:
			var ok bool
			for _, n := range []int{32, 20, 16} { // sha256, sha1, md5
				if h, good := NormalizeHex(v, n); good {
					v, ok = h, true
					break
				}
			}
			if !ok {
				return "", nil, fmt.Errorf("values[%d]: %w: not a sha256, sha1 or md5 hex digest", i, ErrInvalidSuppression)
			}
		case KindEmailDomain, KindCompanyDomain:
			v = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), ".")
			if v == "" || len(v) > 253 || strings.ContainsAny(v, " /@:") || !strings.Contains(v, ".") {
				return "", nil, fmt.Errorf("values[%d]: %w: not a domain such as example.com", i, ErrInvalidSuppression)
			}
		default:
			return "", nil, fmt.Errorf("%w: kind must be email, hem, email_domain or company_domain", ErrInvalidSuppression)
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return stored, out, nil
}

// Add puts values of kind on scope's list (durably) and returns the
// entries as stored.
func (s *Suppressions) Add(scope string, kind Kind, values []string) ([]SuppressionEntry, error) {
	kind, values, err := normaliseSuppression(kind, values)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.PutSuppressions(scope, string(kind), values); err != nil {
		return nil, err
	}
	set := s.set(scope, kind)
	out := make([]SuppressionEntry, len(values))
	for i, v := range values {
		set[v] = struct{}{}
		out[i] = SuppressionEntry{Kind: kind, Value: v}
	}
	return out, nil
}

// Remove takes values of kind off scope's list.
func (s *Suppressions) Remove(scope string, kind Kind, values []string) error {
	kind, values, err := normaliseSuppression(kind, values)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.DeleteSuppressions(scope, string(kind), values); err != nil {
		return err
	}
	set := s.set(scope, kind)
	for _, v := range values {
		delete(set, v)
	}
	return nil
}

// List returns scope's entries, sorted by kind and value.
func (s *Suppressions) List(scope string) []SuppressionEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []SuppressionEntry{}
	for kind, set := range s.scopes[scope] {
		for v := range set {
			out = append(out, SuppressionEntry{Kind: kind, Value: v})
		}
	}
	slices.SortFunc(out, func(a, b SuppressionEntry) int {
		if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

// Subject is what a match is checked against.
type Subject struct {
	HEMs          []string // every hashed email known for the visit and person
	EmailDomain   string   // the person's business email domain
	CompanyDomain string
}

// Suppressed reports whether subject is on tenant's list or the global
// one, and which kind matched.
func (s *Suppressions) Suppressed(tenant string, subj Subject) (bool, Kind) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, scope := range [2]string{GlobalScope, tenant} {
		kinds := s.scopes[scope]
		if kinds == nil {
			continue
		}
		for _, h := range subj.HEMs {
			if _, ok := kinds[KindHEM][h]; ok {
				return true, KindHEM
			}
		}
		if _, ok := kinds[KindEmailDomain][subj.EmailDomain]; ok && subj.EmailDomain != "" {
			return true, KindEmailDomain
		}
		if _, ok := kinds[KindCompanyDomain][subj.CompanyDomain]; ok && subj.CompanyDomain != "" {
			return true, KindCompanyDomain
		}
	}
	return false, ""
}
