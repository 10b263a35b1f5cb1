package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/cluster/clusterpb"
	"github.com/firehook/firehook/persistence"
)

// handoffBatch is the most events one Handoff message carries.
const handoffBatch = 256

// pendingEvent is an event waiting for its visitor's owner to store it.
type pendingEvent struct {
	ev   *firehook.Event
	key  string // visitorKey of the event
	done func()
	here func()
}

// handoffs hands the events this node accepted to their visitors' owners
// (durable handoff: an event counts as done here only once the owner
// answered that it stored it).
//
// Order: a visitor's events leave in this node's log order. While a
// visitor has events on their way to a member, its later events follow
// them to that member (sticky), even if the placement changed meanwhile;
// when a member fails, its queue is routed again, in order, by the
// current placement. So a visitor's events never overtake each other,
// whatever the membership does.
type handoffs struct {
	cl  *clusterNode
	log *slog.Logger

	// mu guards queues, sticky and waiters.
	mu      sync.Mutex
	queues  map[string]*handoffQueue // by member name
	sticky  map[string]stickyRoute   // visitor key → member its events go to
	waiters map[string]chan struct{} // event id → closed once it is stored where it is processed

	wg   sync.WaitGroup
	quit chan struct{}
}

type stickyRoute struct {
	member  string
	pending int
}

// handoffQueue is one member's queue and the goroutine that sends it.
type handoffQueue struct {
	member string
	events []pendingEvent
	signal chan struct{} // capacity 1
}

func newHandoffs(cl *clusterNode) *handoffs {
	return &handoffs{cl: cl, log: cl.log, queues: map[string]*handoffQueue{},
		sticky: map[string]stickyRoute{}, waiters: map[string]chan struct{}{}, quit: make(chan struct{})}
}

// local reports whether this node processes key's events itself: it owns
// the key and none of its events are on their way elsewhere.
func (h *handoffs) local(tenantID, visitorID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sticky[visitorKey(tenantID, visitorID)]; ok {
		return false
	}
	return h.cl.visitorOwner(tenantID, visitorID) == h.cl.name
}

// add queues events for their owners (or for where their visitor's
// earlier events went), in order.
func (h *handoffs) add(evs ...pendingEvent) {
	h.mu.Lock()
	here := h.addLocked(evs)
	h.mu.Unlock()
	for _, fn := range here { // may wait for an actor to start: not under mu
		fn()
	}
}

// addLocked is add with mu held; it returns the events' here callbacks
// to run once mu is released (their visitors are this node's now).
func (h *handoffs) addLocked(evs []pendingEvent) (here []func()) {
	for _, pe := range evs {
		member := h.cl.visitorOwner(pe.ev.TenantID, pe.ev.VisitorID)
		if s, ok := h.sticky[pe.key]; ok {
			member = s.member
		}
		if member == h.cl.name {
			here = append(here, pe.here)
			h.release(pe.ev.ID)
			continue
		}
		s := h.sticky[pe.key]
		h.sticky[pe.key] = stickyRoute{member: member, pending: s.pending + 1}
		q := h.queues[member]
		if q == nil {
			q = &handoffQueue{member: member, signal: make(chan struct{}, 1)}
			h.queues[member] = q
			h.wg.Add(1)
			go h.send(q)
		}
		q.events = append(q.events, pe)
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	return here
}

// send is the goroutine of one member's queue: it sends batches in order,
// one at a time, until the queue stays empty or the member fails (then
// the rest is routed again).
func (h *handoffs) send(q *handoffQueue) {
	defer h.wg.Done()
	idle := time.NewTimer(time.Minute)
	defer idle.Stop()
	for {
		h.mu.Lock()
		n := min(len(q.events), handoffBatch)
		batch := q.events[:n:n]
		h.mu.Unlock()
		if n == 0 {
			idle.Reset(30 * time.Second)
			select {
			case <-h.quit:
				return
			case <-q.signal:
				continue
			case <-idle.C:
				h.mu.Lock()
				if len(q.events) == 0 {
					delete(h.queues, q.member)
					h.mu.Unlock()
					return
				}
				h.mu.Unlock()
				continue
			}
		}
		refused, err := h.deliver(q.member, batch)
		h.mu.Lock()
		queued := len(q.events) // for the log below, read under mu
		if err == nil {
			// The stored ones are done; the refused ones stay at the head
			// of the queue, in order, and are routed again below.
			var stored, kept []pendingEvent
			for i, pe := range batch {
				if refused[i] {
					kept = append(kept, pe)
					continue
				}
				stored = append(stored, pe)
				h.unstick(pe.key)
				h.release(pe.ev.ID)
			}
			q.events = append(kept, q.events[n:]...)
			h.mu.Unlock()
			for _, pe := range stored {
				pe.done()
			}
			if len(kept) == 0 {
				continue
			}
			err = errNotOwner
		} else {
			h.mu.Unlock()
		}
		// The member did not store them: wait for the membership to
		// change (or a moment), then route the whole queue again.
		//
		// A member that says it does not own the visitors is in the middle
		// of a change of owners (or sees the members differently): ask
		// again soon. Other failures wait longer.
		wait := 500 * time.Millisecond
		if errors.Is(err, errNotOwner) {
			wait = 50 * time.Millisecond
			h.log.Debug("cluster: handoff refused by a member that does not own the visitors; routing again", "member", q.member)
		} else {
			h.log.Warn("cluster: handoff failed; retrying", "member", q.member, "events", queued, "err", err)
		}
		select {
		case <-h.quit:
			return
		case <-h.cl.members.Changed():
		case <-time.After(wait):
		}
		h.mu.Lock()
		if _, alive := h.cl.members.Member(q.member); alive && !errors.Is(err, errNotOwner) {
			h.mu.Unlock()
			continue // a transient failure: send to it again
		}
		// Routed again under mu, so that no newer event of these
		// visitors slips in ahead of them.
		rest := q.events
		q.events = nil
		delete(h.queues, q.member)
		for _, pe := range rest {
			h.unstick(pe.key)
		}
		here := h.addLocked(rest)
		h.mu.Unlock()
		for _, fn := range here {
			fn()
		}
		return
	}
}

// expect returns a channel closed once event id is stored on the member
// that processes it (or routed here); forget must follow.
func (h *handoffs) expect(id string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan struct{})
	h.waiters[id] = ch
	return ch
}

// forget drops the channel of expect.
func (h *handoffs) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiters, id)
}

// release closes event id's channel, if anyone waits. Caller holds mu.
func (h *handoffs) release(id string) {
	if ch, ok := h.waiters[id]; ok {
		close(ch)
		delete(h.waiters, id)
	}
}

// unstick counts one event of key as no longer on its way. Caller holds mu.
func (h *handoffs) unstick(key string) {
	s := h.sticky[key]
	if s.pending <= 1 {
		delete(h.sticky, key)
		return
	}
	s.pending--
	h.sticky[key] = s
}

// deliver sends one batch and waits for the member's answer: refused[i]
// is set for the events it did not store (it does not process their
// visitors now).
func (h *handoffs) deliver(member string, batch []pendingEvent) (refused []bool, err error) {
	msg := &clusterpb.Handoff{From: h.cl.name, Events: make([][]byte, len(batch))}
	for i, pe := range batch {
		msg.Events[i] = persistence.EncodeEvent(nil, pe.ev)
	}
	ack, err := call[*clusterpb.HandoffAck](context.Background(), h.cl, member, msg, 10*time.Second)
	if err != nil {
		return nil, err
	}
	refused = make([]bool, len(batch))
	for _, i := range ack.Refused {
		if i < 0 || int(i) >= len(batch) {
			return nil, fmt.Errorf("cluster: %s refused event %d of a batch of %d", member, i, len(batch))
		}
		refused[i] = true
	}
	return refused, nil
}

// errNotOwner: the member does not own the visitors of a handoff (its
// view of the members differs from this node's).
var errNotOwner = errors.New("the member does not own these visitors")

// pending returns how many events are on their way to other members.
func (h *handoffs) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, q := range h.queues {
		n += len(q.events)
	}
	return n
}

// close stops the senders; the events still queued stay in this node's
// log (its mark did not pass them) and are handed off after a restart.
func (h *handoffs) close() {
	close(h.quit)
	h.wg.Wait()
}
