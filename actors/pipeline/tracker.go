package pipeline

import "sync"

// tracker computes the visitor stage's low watermark: the highest log
// sequence up to which every event has been processed. Events are added
// in sequence order (the feeder's) and finish in any order (the visitor
// actors run in parallel); the mark advances over a prefix of finished
// ones.
type tracker struct {
	mu    sync.Mutex
	mark  uint64              // every event ≤ mark is done
	queue []uint64            // queue[head:]: added and not yet below the mark, in order
	head  int                 // start of the live part of queue
	done  map[uint64]struct{} // finished, not yet below the mark
	// freed is signalled (capacity 1) when finished events made room:
	// the feeder waits on it when too many are outstanding.
	freed chan struct{}
}

func newTracker(mark uint64) *tracker {
	return &tracker{mark: mark, done: map[uint64]struct{}{}, freed: make(chan struct{}, 1)}
}

// add registers seq, which is higher than every seq added before.
func (t *tracker) add(seq uint64) {
	t.mu.Lock()
	t.queue = append(t.queue, seq)
	t.mu.Unlock()
}

// finish records that seq is done and advances the mark.
func (t *tracker) finish(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[seq] = struct{}{}
	for t.head < len(t.queue) {
		s := t.queue[t.head]
		if _, ok := t.done[s]; !ok {
			break
		}
		delete(t.done, s)
		t.mark = s
		t.head++
	}
	select {
	case t.freed <- struct{}{}:
	default:
	}
	if t.head == len(t.queue) {
		t.queue, t.head = t.queue[:0], 0
	} else if t.head > 1024 && t.head > len(t.queue)/2 {
		n := copy(t.queue, t.queue[t.head:])
		t.queue, t.head = t.queue[:n], 0
	}
}

// value returns the mark and how many events are outstanding.
func (t *tracker) value() (mark uint64, outstanding int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mark, len(t.queue) - t.head
}

// inFlight returns how many events are added and not yet finished (those
// finished beyond the mark's gap do not count).
func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue) - t.head - len(t.done)
}
