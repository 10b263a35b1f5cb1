package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
//
// The lists are replicated entry by entry (see persistence/replica.go):
// each (scope, kind, value) entry has the Version of its last add or
// remove, stamped by the node's clock (persistence.GraphStore.Clock), and
// a removed entry leaves a tombstone with its removal's version. Local
// Adds and Removes are handed to the OnChange hook, one Change per entry;
// the other nodes' come in through Apply, last writer wins, so that every
// node that has received the same changes, in any order, holds the same
// lists. Snapshot is the whole state, for a joining node.
type Suppressions struct {
	store    *persistence.GraphStore
	clock    *persistence.Clock
	onChange atomic.Pointer[func(persistence.Change)]

	mu      sync.RWMutex // guards scopes and removed, serialises writes
	scopes  map[string]map[Kind]map[string]persistence.Version
	removed map[suppressionKey]persistence.Version // tombstones
}

// suppressionKey names one entry: the replicated record.
type suppressionKey struct {
	scope string
	kind  Kind
	value string
}

// id is the entry's Change.ID: scope/kind/value (none of them holds a
// "/" but the value, which is checked not to).
func (k suppressionKey) id() string { return k.scope + "/" + string(k.kind) + "/" + k.value }

// suppressionRecord is the Change.Value of an entry on its list.
type suppressionRecord struct {
	Scope string `json:"scope"`
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// OpenSuppressions loads the lists from store.
func OpenSuppressions(store *persistence.GraphStore) (*Suppressions, error) {
	s := &Suppressions{store: store, clock: store.Clock(),
		scopes: map[string]map[Kind]map[string]persistence.Version{}, removed: map[suppressionKey]persistence.Version{}}
	if s.clock == nil {
		s.clock = persistence.NewClock("")
	}
	err := store.ScanSuppressionVersions(func(w persistence.SuppressionWrite) error {
		s.clock.Observe(w.Version)
		if w.Removed {
			s.removed[suppressionKey{w.Scope, Kind(w.Kind), w.Value}] = w.Version
		} else {
			s.set(w.Scope, Kind(w.Kind))[w.Value] = w.Version
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("identity: load suppressions: %w", err)
	}
	return s, nil
}

func (s *Suppressions) set(scope string, kind Kind) map[string]persistence.Version {
	kinds := s.scopes[scope]
	if kinds == nil {
		kinds = map[Kind]map[string]persistence.Version{}
		s.scopes[scope] = kinds
	}
	set := kinds[kind]
	if set == nil {
		set = map[string]persistence.Version{}
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
			// One trailing dot (the DNS root) goes; an empty label
			// anywhere else is refused, so that the stored form, given
			// again, is stored the same.
			v = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), ".")
			if len(v) > 253 || strings.ContainsAny(v, " /@:") || !strings.Contains(v, ".") ||
				strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") || strings.Contains(v, "..") {
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

// checkScope refuses a scope that cannot be part of an entry's key.
func checkScope(scope string) error {
	if scope == "" || strings.Contains(scope, "/") {
		return fmt.Errorf("%w: scope %q: must be %q or a tenant id", ErrInvalidSuppression, scope, GlobalScope)
	}
	return nil
}

// Add puts values of kind on scope's list (durably) and returns the
// entries as stored.
func (s *Suppressions) Add(scope string, kind Kind, values []string) ([]SuppressionEntry, error) {
	if err := checkScope(scope); err != nil {
		return nil, err
	}
	kind, values, err := normaliseSuppression(kind, values)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.write(s.stamp(scope, kind, values, false)); err != nil {
		return nil, err
	}
	out := make([]SuppressionEntry, len(values))
	for i, v := range values {
		out[i] = SuppressionEntry{Kind: kind, Value: v}
	}
	return out, nil
}

// Remove takes values of kind off scope's list. Each value leaves a
// tombstone, whether it was on the list here or not (another node may
// have added it).
func (s *Suppressions) Remove(scope string, kind Kind, values []string) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	kind, values, err := normaliseSuppression(kind, values)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(s.stamp(scope, kind, values, true))
}

// stamp returns the local writes of values: one new version for all of
// them, newer than each one's current version. Caller holds mu.
func (s *Suppressions) stamp(scope string, kind Kind, values []string, removed bool) []persistence.SuppressionWrite {
	for _, v := range values {
		if cur, ok := s.version(suppressionKey{scope, kind, v}); ok {
			s.clock.Observe(cur)
		}
	}
	ver := s.clock.Now()
	writes := make([]persistence.SuppressionWrite, len(values))
	for i, v := range values {
		writes[i] = s.replacing(persistence.SuppressionWrite{Scope: scope, Kind: string(kind), Value: v, Version: ver, Removed: removed})
	}
	return writes
}

// replacing sets w.Replaces when the entry has a key of the other state
// than w's. Caller holds mu.
func (s *Suppressions) replacing(w persistence.SuppressionWrite) persistence.SuppressionWrite {
	k := suppressionKey{w.Scope, Kind(w.Kind), w.Value}
	if w.Removed {
		_, w.Replaces = s.scopes[k.scope][k.kind][k.value]
	} else {
		_, w.Replaces = s.removed[k]
	}
	return w
}

// write stores local writes durably, applies them to the sets and tells
// the hook. Caller holds mu.
func (s *Suppressions) write(writes []persistence.SuppressionWrite) error {
	if err := s.store.WriteSuppressions(writes); err != nil {
		return err
	}
	s.applyToSets(writes)
	fn := s.onChange.Load()
	if fn == nil {
		return nil
	}
	for _, w := range writes {
		(*fn)(changeOf(w))
	}
	return nil
}

// applyToSets makes stored writes visible. Caller holds mu.
func (s *Suppressions) applyToSets(writes []persistence.SuppressionWrite) {
	for _, w := range writes {
		k := suppressionKey{w.Scope, Kind(w.Kind), w.Value}
		if w.Removed {
			if set := s.scopes[k.scope][k.kind]; set != nil {
				delete(set, k.value)
			}
			s.removed[k] = w.Version
		} else {
			s.set(k.scope, k.kind)[k.value] = w.Version
			delete(s.removed, k)
		}
	}
}

// version returns the version of k's entry or tombstone, and whether
// there is either. Caller holds mu.
func (s *Suppressions) version(k suppressionKey) (persistence.Version, bool) {
	if v, ok := s.scopes[k.scope][k.kind][k.value]; ok {
		return v, true
	}
	v, ok := s.removed[k]
	return v, ok
}

// changeOf is the Change of a write.
func changeOf(w persistence.SuppressionWrite) persistence.Change {
	k := suppressionKey{w.Scope, Kind(w.Kind), w.Value}
	ch := persistence.Change{Kind: persistence.KindSuppression, ID: k.id(), Version: w.Version, Deleted: w.Removed}
	if !w.Removed {
		ch.Value, _ = json.Marshal(suppressionRecord{Scope: w.Scope, Kind: k.kind, Value: w.Value}) // strings only: cannot fail
	}
	return ch
}

// SetOnChange sets the function told of every local write (Add, Remove),
// one Change per entry, once it is durable and visible, in the order of
// the writes; changes applied with Apply are not passed to it. Set it
// before the first write; nil removes it.
//
// fn is called with the lists locked: it must not block (queue the change
// for sending and return) and must not call the Suppressions.
func (s *Suppressions) SetOnChange(fn func(persistence.Change)) {
	if fn == nil {
		s.onChange.Store(nil)
		return
	}
	s.onChange.Store(&fn)
}

// Apply applies a change of another node to one entry: it is added (or
// removed, leaving a tombstone) when ch.Version is newer than the version
// of the entry or its tombstone here, or when there is neither. It reports
// whether it changed anything: an older version, or the same version
// again, is a no-op, which makes Apply idempotent and the outcome
// independent of the order changes arrive in. The node's clock is
// advanced past ch.Version either way. A change that is not a valid
// suppression entry (Kind persistence.KindSuppression, ID
// scope/kind/value with kind hem, email_domain or company_domain and the
// value as Add stores it, Value the entry's JSON unless Deleted) is an
// ErrInvalidSuppression error. Each call syncs once; use ApplyAll for
// many.
func (s *Suppressions) Apply(ch persistence.Change) (applied bool, err error) {
	n, err := s.ApplyAll([]persistence.Change{ch})
	return n > 0, err
}

// ApplyAll applies changes (a snapshot, a batch of changes) as Apply
// would one after the other, in one write and one sync, and returns the
// number of entries it changed. When one change is invalid it applies
// none.
func (s *Suppressions) ApplyAll(changes []persistence.Change) (int, error) {
	in := make([]persistence.SuppressionWrite, len(changes))
	for i, ch := range changes {
		w, err := decodeSuppressionChange(ch)
		if err != nil {
			return 0, err
		}
		in[i] = w
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var writes []persistence.SuppressionWrite
	staged := map[suppressionKey]int{} // entry → its index in writes
	for _, w := range in {
		s.clock.Observe(w.Version)
		k := suppressionKey{w.Scope, Kind(w.Kind), w.Value}
		i, ok := staged[k]
		if ok {
			if writes[i].Version.Less(w.Version) {
				writes[i] = w
			}
			continue
		}
		if cur, ok := s.version(k); ok && !cur.Less(w.Version) {
			continue
		}
		staged[k] = len(writes)
		writes = append(writes, w)
	}
	for i, w := range writes {
		writes[i] = s.replacing(w)
	}
	if len(writes) == 0 {
		return 0, nil
	}
	if err := s.store.WriteSuppressions(writes); err != nil {
		return 0, err
	}
	s.applyToSets(writes)
	return len(writes), nil
}

// decodeSuppressionChange checks a remote change and returns its write.
func decodeSuppressionChange(ch persistence.Change) (persistence.SuppressionWrite, error) {
	bad := func(why string) (persistence.SuppressionWrite, error) {
		return persistence.SuppressionWrite{}, fmt.Errorf("%w: change %s: %s", ErrInvalidSuppression, ch, why)
	}
	if ch.Kind != persistence.KindSuppression {
		return bad("not a suppression change")
	}
	parts := strings.SplitN(ch.ID, "/", 3)
	if len(parts) != 3 {
		return bad("id is not scope/kind/value")
	}
	scope, kind, value := parts[0], Kind(parts[1]), parts[2]
	if checkScope(scope) != nil {
		return bad("bad scope")
	}
	if kind == KindEmail {
		return bad("emails are stored as hems")
	}
	if stored, vals, err := normaliseSuppression(kind, []string{value}); err != nil || stored != kind || len(vals) != 1 || vals[0] != value {
		return bad("kind or value not as stored")
	}
	if !ch.Deleted {
		var rec suppressionRecord
		if err := json.Unmarshal(ch.Value, &rec); err != nil {
			return bad("value: " + err.Error())
		}
		if rec != (suppressionRecord{Scope: scope, Kind: kind, Value: value}) {
			return bad("value does not match the id")
		}
	}
	return persistence.SuppressionWrite{Scope: scope, Kind: string(kind), Value: value, Version: ch.Version, Removed: ch.Deleted}, nil
}

// Snapshot returns every entry and every tombstone, each with its
// version, as Changes in id order. Applying it with ApplyAll brings a node
// up to date with this one.
func (s *Suppressions) Snapshot() []persistence.Change {
	s.mu.RLock()
	writes := make([]persistence.SuppressionWrite, 0, len(s.removed))
	for scope, kinds := range s.scopes {
		for kind, set := range kinds {
			for v, ver := range set {
				writes = append(writes, persistence.SuppressionWrite{Scope: scope, Kind: string(kind), Value: v, Version: ver})
			}
		}
	}
	for k, ver := range s.removed {
		writes = append(writes, persistence.SuppressionWrite{Scope: k.scope, Kind: string(k.kind), Value: k.value, Version: ver, Removed: true})
	}
	s.mu.RUnlock()
	out := make([]persistence.Change, len(writes))
	for i, w := range writes {
		out[i] = changeOf(w)
	}
	slices.SortFunc(out, func(a, b persistence.Change) int { return strings.Compare(a.ID, b.ID) })
	return out
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
