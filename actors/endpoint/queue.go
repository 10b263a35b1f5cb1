package endpoint

import (
	"container/heap"
	"sort"
	"time"

	"github.com/firehook/firehook"
)

// queue is an endpoint actor's in-memory window of unfinished deliveries,
// in per-person FIFO lanes. A lane holds one (tenant, person)'s
// deliveries in sequence order; only its head may be tried, and only when
// no attempt of the lane is in flight, so a person's events reach the
// endpoint in order and a person whose head is retrying holds back only
// their own later events.
//
// Lanes whose head may be tried sit in one of two heaps: waiting (head not
// due yet, by due time) and ready (head due, by priority — First Match
// first — then due time, then delivery id). A busy or empty lane is in
// neither. The queue is owned by the actor's goroutine; it does no I/O.
type queue struct {
	lanes   map[string]*lane
	byID    map[string]*firehook.Delivery
	ready   laneHeap
	waiting laneHeap
	// retrying counts the deliveries in byID whose status is retrying.
	retrying int
}

type lane struct {
	key   string
	items []*firehook.Delivery // sequence order; items[0] is the head
	busy  bool                 // the head (or a batch holding it) is in flight
	where *laneHeap            // the heap the lane is in, nil for none
	index int                  // its index there
}

func (l *lane) head() *firehook.Delivery { return l.items[0] }

func newQueue() *queue {
	q := &queue{lanes: map[string]*lane{}, byID: map[string]*firehook.Delivery{}}
	q.ready.less = readyLess
	q.waiting.less = waitingLess
	return q
}

// len is the number of deliveries in memory, in flight included.
func (q *queue) len() int { return len(q.byID) }

// has reports whether delivery id is in memory.
func (q *queue) has(id string) bool { _, ok := q.byID[id]; return ok }

// add puts d in its lane, in sequence order. A delivery already in memory
// is not added again (false); an unfinished one that was brought forward
// (a replay) gets its new due time when it is not in flight, and its
// replay time in any case (record counts the plan and the retry window
// from it). A payload read again from the outbox replaces the one in
// memory (an erased person's, redacted: persistence.Outbox.RedactPerson);
// an attempt in flight keeps the bytes it was built with.
func (q *queue) add(d firehook.Delivery) bool {
	if cur, ok := q.byID[d.ID]; ok {
		if d.Payload != nil {
			cur.Payload = d.Payload
		}
		replayed := d.ReplayedAt.After(cur.ReplayedAt)
		if replayed {
			cur.ReplayedAt = d.ReplayedAt
		}
		// A copy older than the one in memory — an Enqueue overtaken by
		// the actor's own load from the outbox and an attempt made since —
		// must not undo the retry's due time (a 429's Retry-After): only
		// a replay, or a copy that knows every attempt made, brings the
		// delivery forward.
		current := replayed || len(d.Attempts) >= len(cur.Attempts)
		l := q.lanes[cur.PersonKey]
		if current && !(l.busy && l.head() == cur) && d.NextAttemptAt.Before(cur.NextAttemptAt) {
			cur.NextAttemptAt = d.NextAttemptAt
			q.place(l)
		}
		return false
	}
	dp := new(firehook.Delivery)
	*dp = d
	q.byID[d.ID] = dp
	q.count(dp, 1)
	l := q.lanes[d.PersonKey]
	if l == nil {
		l = &lane{key: d.PersonKey, index: -1}
		q.lanes[d.PersonKey] = l
	}
	i := sort.Search(len(l.items), func(i int) bool { return l.items[i].Sequence > d.Sequence })
	if i == 0 && l.busy {
		// The lane's head is in flight; a delivery that sorts before it
		// (a replay of an older event) waits behind it.
		i = 1
	}
	l.items = append(l.items, nil)
	copy(l.items[i+1:], l.items[i:])
	l.items[i] = dp
	if i == 0 {
		q.place(l)
	}
	return true
}

// place puts an idle lane in the heap its head belongs to: waiting, from
// which promote moves it to ready once due. A busy or empty lane is taken
// out of both.
func (q *queue) place(l *lane) {
	if l.where != nil {
		heap.Remove(l.where, l.index)
	}
	if l.busy || len(l.items) == 0 {
		return
	}
	heap.Push(&q.waiting, l)
}

// promote moves the lanes whose head is due at now from waiting to ready.
func (q *queue) promote(now time.Time) {
	for q.waiting.Len() > 0 && !q.waiting.lanes[0].head().NextAttemptAt.After(now) {
		heap.Push(&q.ready, heap.Pop(&q.waiting))
	}
}

// peekReady returns the lane that should be tried next, or nil.
func (q *queue) peekReady() *lane {
	if q.ready.Len() == 0 {
		return nil
	}
	return q.ready.lanes[0]
}

// take marks the best ready lane busy and returns it.
func (q *queue) take() *lane {
	l := heap.Pop(&q.ready).(*lane)
	l.busy = true
	return l
}

// finish ends the attempt of lane key's head: a finished delivery leaves
// the queue, an unfinished one stays as the head with its new state. The
// lane becomes idle and is placed again.
func (q *queue) finish(d firehook.Delivery) {
	cur, ok := q.byID[d.ID]
	if !ok {
		return
	}
	l := q.lanes[cur.PersonKey]
	l.busy = false
	if d.Status.Finished() {
		q.remove(l, cur)
	} else {
		q.count(cur, -1)
		defer q.count(cur, 1)
		payload := cur.Payload     // reports carry no payload: keep the one in memory
		replayed := cur.ReplayedAt // a replay while in flight: the report's copy predates it
		*cur = d
		if cur.Payload == nil {
			cur.Payload = payload
		}
		if replayed.After(cur.ReplayedAt) {
			cur.ReplayedAt = replayed
		}
	}
	if len(l.items) == 0 {
		if l.where != nil {
			heap.Remove(l.where, l.index)
		}
		delete(q.lanes, l.key)
		return
	}
	q.place(l)
}

// release makes a busy lane idle again without a change (an attempt that
// was abandoned).
func (q *queue) release(id string) {
	if cur, ok := q.byID[id]; ok {
		l := q.lanes[cur.PersonKey]
		l.busy = false
		q.place(l)
	}
}

// count adds n to the status count of d.
func (q *queue) count(d *firehook.Delivery, n int) {
	if d.Status == firehook.DeliveryRetrying {
		q.retrying += n
	}
}

func (q *queue) remove(l *lane, d *firehook.Delivery) {
	delete(q.byID, d.ID)
	q.count(d, -1)
	for i, it := range l.items {
		if it == d {
			l.items = append(l.items[:i], l.items[i+1:]...)
			break
		}
	}
}

// nextDue is when the earliest waiting head is due.
func (q *queue) nextDue() (time.Time, bool) {
	if q.waiting.Len() == 0 {
		return time.Time{}, false
	}
	return q.waiting.lanes[0].head().NextAttemptAt, true
}

// counts returns how many deliveries in memory are pending and retrying.
func (q *queue) counts() (pending, retrying int) {
	return len(q.byID) - q.retrying, q.retrying
}

func readyLess(a, b *lane) bool {
	x, y := a.head(), b.head()
	if x.Priority != y.Priority {
		return x.Priority < y.Priority
	}
	if !x.NextAttemptAt.Equal(y.NextAttemptAt) {
		return x.NextAttemptAt.Before(y.NextAttemptAt)
	}
	return x.ID < y.ID
}

func waitingLess(a, b *lane) bool {
	x, y := a.head(), b.head()
	if !x.NextAttemptAt.Equal(y.NextAttemptAt) {
		return x.NextAttemptAt.Before(y.NextAttemptAt)
	}
	return x.ID < y.ID
}

// laneHeap is a container/heap of lanes that keeps each lane's index and
// heap pointer up to date, so a lane can be removed from the middle.
type laneHeap struct {
	lanes []*lane
	less  func(a, b *lane) bool
}

func (h *laneHeap) Len() int           { return len(h.lanes) }
func (h *laneHeap) Less(i, j int) bool { return h.less(h.lanes[i], h.lanes[j]) }
func (h *laneHeap) Swap(i, j int) {
	h.lanes[i], h.lanes[j] = h.lanes[j], h.lanes[i]
	h.lanes[i].index, h.lanes[j].index = i, j
}
func (h *laneHeap) Push(x any) {
	l := x.(*lane)
	l.where, l.index = h, len(h.lanes)
	h.lanes = append(h.lanes, l)
}
func (h *laneHeap) Pop() any {
	n := len(h.lanes) - 1
	l := h.lanes[n]
	h.lanes[n] = nil
	h.lanes = h.lanes[:n]
	l.where, l.index = nil, -1
	return l
}
