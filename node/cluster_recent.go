package node

import "sync"

// recentIDs remembers the last n ids added: a member that resends a
// handoff whose answer it lost finds its events already stored.
type recentIDs struct {
	mu   sync.Mutex // guards the fields below
	ids  map[string]struct{}
	ring []string
	next int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

// has reports whether id was added lately.
func (r *recentIDs) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}

// add remembers ids, forgetting the oldest beyond the capacity.
func (r *recentIDs) add(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if _, ok := r.ids[id]; ok {
			continue
		}
		if old := r.ring[r.next]; old != "" {
			delete(r.ids, old)
		}
		r.ring[r.next] = id
		r.ids[id] = struct{}{}
		r.next = (r.next + 1) % len(r.ring)
	}
}

// remove forgets id (its slot in the ring is reused in turn).
func (r *recentIDs) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.ids, id)
}
