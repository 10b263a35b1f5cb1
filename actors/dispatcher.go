package actors

import (
	"sync"
	"sync/atomic"
)

// dispatcher runs the actors' mailboxes on goroutines kept for it, where
// protoactor's default dispatcher starts a goroutine for every batch of
// messages a mailbox processes (actor/dispatcher.go: goroutineDispatcher).
// Each new goroutine starts on a small stack and grows it again through
// the match, the dispatch transaction and the registry: 6 % of a node's
// CPU at 1,000 page views/s went to newstack and copystack.
//
// Schedule never waits: a batch goes to an idle worker, or to a new
// worker while there are fewer than max, or else to a goroutine of its
// own, as protoactor would. Actors may block in a batch (a visitor actor
// waits for its person actor's answer), so a bounded pool that queued
// batches could deadlock; this one cannot.
type dispatcher struct {
	throughput int
	max        int32
	work       chan func() // unbuffered: a send succeeds only when a worker waits
	quit       chan struct{}
	workers    atomic.Int32

	// mu orders starting a worker (wg.Add) before stop's wg.Wait: after
	// stop, Schedule starts no worker.
	mu      sync.RWMutex
	stopped bool
	wg      sync.WaitGroup
}

func newDispatcher(throughput, maxWorkers int) *dispatcher {
	return &dispatcher{throughput: throughput, max: int32(maxWorkers), work: make(chan func()), quit: make(chan struct{})}
}

// Schedule implements actor.Dispatcher.
func (d *dispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
		return
	default:
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if n := d.workers.Add(1); n <= d.max && !d.stopped {
		d.wg.Add(1)
		go d.worker(fn)
		return
	}
	d.workers.Add(-1)
	go fn()
}

// Throughput implements actor.Dispatcher: how many messages a mailbox
// processes before it yields its goroutine.
func (d *dispatcher) Throughput() int { return d.throughput }

func (d *dispatcher) worker(fn func()) {
	defer d.wg.Done()
	defer d.workers.Add(-1)
	for {
		fn()
		select {
		case fn = <-d.work:
		case <-d.quit:
			return
		}
	}
}

// stop ends the workers once their batches are done and waits for them.
// Batches scheduled afterwards run on goroutines of their own.
func (d *dispatcher) stop() {
	d.mu.Lock()
	if !d.stopped {
		d.stopped = true
		close(d.quit)
	}
	d.mu.Unlock()
	d.wg.Wait()
}
