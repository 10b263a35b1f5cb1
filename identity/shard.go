package identity

import (
	"cmp"
	"slices"
	"sync"
)

// shard is one partition of the in-memory index: identifier hash →
// ordinal. Most entries live in two sorted parallel arrays (12 bytes an
// entry, searched by bisection); recent writes and deletions live in a
// small overlay map that is merged into the arrays once it holds an
// eighth of them. A Go map of the same entries takes four to five times
// the memory, and building it entry by entry is what made a cold start
// slow.
type shard struct {
	mu      sync.RWMutex      // guards everything below
	keys    []uint64          // sorted
	vals    []uint32          // vals[i] is the ordinal of keys[i]
	overlay map[uint64]uint32 // newer than the arrays; tombstone: deleted
	n       int               // live entries

	loading []entry // bulk load before seal (cold start)
}

type entry struct {
	key uint64
	val uint32
}

// tombstone marks a deleted key in the overlay. No ordinal reaches it:
// ordinals are below companyFlag, so the largest flagged value is
// companyFlag|(companyFlag-1) - 1.
const tombstone = ^uint32(0)

// minMerge is the overlay size under which merging is not worth it.
const minMerge = 1024

// load adds an entry during a cold start; seal must follow.
func (s *shard) load(key uint64, val uint32) {
	s.loading = append(s.loading, entry{key, val})
}

// seal sorts what load added into the arrays. Later loads of a key win.
func (s *shard) seal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.loading
	s.loading = nil
	slices.SortStableFunc(es, func(a, b entry) int { return cmp.Compare(a.key, b.key) })
	// Keep the last of equal keys.
	out := es[:0]
	for i, e := range es {
		if i+1 < len(es) && es[i+1].key == e.key {
			continue
		}
		out = append(out, e)
	}
	s.keys = make([]uint64, len(out))
	s.vals = make([]uint32, len(out))
	for i, e := range out {
		s.keys[i], s.vals[i] = e.key, e.val
	}
	s.overlay = map[uint64]uint32{}
	s.n = len(out)
}

// find returns the value of key; caller holds mu (read or write).
func (s *shard) find(key uint64) (uint32, bool) {
	if v, ok := s.overlay[key]; ok {
		return v, v != tombstone
	}
	if i, ok := slices.BinarySearch(s.keys, key); ok {
		return s.vals[i], true
	}
	return 0, false
}

func (s *shard) get(key uint64) (uint32, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.find(key)
}

func (s *shard) put(key uint64, val uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.find(key); !ok {
		s.n++
	}
	s.setOverlay(key, val)
}

// drop deletes key if it still maps to val.
func (s *shard) drop(key uint64, val uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.find(key); ok && cur == val {
		s.n--
		s.setOverlay(key, tombstone)
	}
}

func (s *shard) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.n
}

// setOverlay records a write and merges when the overlay has grown.
func (s *shard) setOverlay(key uint64, val uint32) {
	if s.overlay == nil {
		s.overlay = map[uint64]uint32{}
	}
	s.overlay[key] = val
	if len(s.overlay) >= max(minMerge, len(s.keys)/8) {
		s.merge()
	}
}

// merge folds the overlay into the arrays (one pass over both).
func (s *shard) merge() {
	over := make([]entry, 0, len(s.overlay))
	for k, v := range s.overlay {
		over = append(over, entry{k, v})
	}
	slices.SortFunc(over, func(a, b entry) int { return cmp.Compare(a.key, b.key) })
	keys := make([]uint64, 0, s.n)
	vals := make([]uint32, 0, s.n)
	i, j := 0, 0
	for i < len(s.keys) || j < len(over) {
		switch {
		case j == len(over) || (i < len(s.keys) && s.keys[i] < over[j].key):
			keys, vals = append(keys, s.keys[i]), append(vals, s.vals[i])
			i++
		default:
			if i < len(s.keys) && s.keys[i] == over[j].key {
				i++ // the overlay's write replaces it
			}
			if over[j].val != tombstone {
				keys, vals = append(keys, over[j].key), append(vals, over[j].val)
			}
			j++
		}
	}
	s.keys, s.vals = keys, vals
	clear(s.overlay)
}

// ordinals returns the distinct values of the shard (the persons it
// indexes), in no particular order.
func (s *shard) ordinals() []uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	seen := make(map[uint32]struct{}, s.n/4+1)
	for i, k := range s.keys {
		if v, ok := s.overlay[k]; ok && v == tombstone {
			continue
		}
		seen[s.vals[i]] = struct{}{}
	}
	for _, v := range s.overlay {
		if v != tombstone {
			seen[v] = struct{}{}
		}
	}
	out := make([]uint32, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	return out
}

// liveKeys returns the keys of the shard's entries, in no particular
// order.
func (s *shard) liveKeys() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]uint64, 0, s.n)
	for _, k := range s.keys {
		if _, over := s.overlay[k]; !over {
			out = append(out, k)
		}
	}
	for k, v := range s.overlay {
		if v != tombstone {
			out = append(out, k)
		}
	}
	return out
}
