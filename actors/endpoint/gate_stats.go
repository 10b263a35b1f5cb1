package endpoint

// Usage reports the gate's free slots and how many requests wait for
// one, for saturation metrics: a moment's view, read under the gate's
// lock. A nil *Gate reports zeros (it bounds nothing).
func (g *Gate) Usage() (free, waiting int) {
	if g == nil {
		return 0, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.waiters {
		waiting += len(g.waiters[c])
	}
	return g.free, waiting
}
