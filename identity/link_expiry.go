package identity

import "time"

// linkExpiryBatch bounds the links ExpireLinks handles in one call.
const linkExpiryBatch = 10_000

// ExpireLinks forgets learned links that expired by now (the store keeps
// a link LinkRetention after it was learned: see persistence's
// graph_linkttl.go): their index entries are dropped, so lookups no longer
// find them; the visitor's next strong match learns the link again. It
// handles at most linkExpiryBatch links a call and returns how many it
// dropped. Call it periodically, and once after opening: an index loaded
// from a snapshot may hold links that expired while the node was down.
func (g *Graph) ExpireLinks(now time.Time) (int, error) {
	due, err := g.store.DueLinkExpiries(now, linkExpiryBatch)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	n := 0
	for _, l := range due {
		h := linkHash(l.Tenant, l.VisitorID)
		ord, ok := g.get(h)
		if !ok || g.personID(ord) != l.PersonID {
			continue // erased, or learned again for another person
		}
		if n == 0 {
			if err := g.markChanged(); err != nil {
				return 0, err
			}
		}
		g.drop(h, ord)
		g.links.Add(-1)
		n++
	}
	return n, nil
}
