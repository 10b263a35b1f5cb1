package endpoint

import (
	"context"
	"sync"

	"github.com/firehook/firehook"
)

// Gate bounds the webhook requests in flight on a node across all
// endpoints — the shared connections and CPU — and, when they are all
// taken, hands the next free slot to the most urgent waiter: First Match
// before Every Update, then enterprise before pro before free, first come
// first served within a class. Each endpoint's own max_in_flight still
// applies below it; the gate only decides who goes first when the node as
// a whole is saturated. A nil *Gate admits everything.
type Gate struct {
	mu      sync.Mutex
	free    int
	waiters [classes][]chan struct{}
}

// classes: (priority 0, 1) × (enterprise, pro, free).
const classes = 6

// NewGate returns a gate with slots concurrent requests (at least 1).
func NewGate(slots int) *Gate { return &Gate{free: max(slots, 1)} }

// Class returns the gate class of a delivery of priority for a tenant of
// tier; lower classes are served first.
func Class(priority int, tier firehook.Tier) int {
	t := 2
	switch tier {
	case firehook.TierEnterprise:
		t = 0
	case firehook.TierPro:
		t = 1
	}
	return min(max(priority, 0), 1)*3 + t
}

// Acquire takes a slot for class, waiting while none is free. It returns
// ctx's error (and holds no slot) when ctx ends first.
func (g *Gate) Acquire(ctx context.Context, class int) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	if g.free > 0 && g.noWaiters() {
		g.free--
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	g.waiters[class] = append(g.waiters[class], ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		for i, w := range g.waiters[class] {
			if w == ch {
				g.waiters[class] = append(g.waiters[class][:i], g.waiters[class][i+1:]...)
				return ctx.Err()
			}
		}
		// Granted while ctx ended: pass the slot on.
		g.releaseLocked()
		return ctx.Err()
	}
}

// Release returns a slot taken by Acquire.
func (g *Gate) Release() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.releaseLocked()
	g.mu.Unlock()
}

func (g *Gate) releaseLocked() {
	for c := range g.waiters {
		if len(g.waiters[c]) > 0 {
			ch := g.waiters[c][0]
			g.waiters[c] = g.waiters[c][1:]
			close(ch)
			return
		}
	}
	g.free++
}

func (g *Gate) noWaiters() bool {
	for c := range g.waiters {
		if len(g.waiters[c]) > 0 {
			return false
		}
	}
	return true
}
