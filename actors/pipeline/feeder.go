package pipeline

import (
	"errors"
	"sync"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/visitor"
)

// maxFeed bounds the committed events the feed keeps in memory for the
// feeder. Beyond it new commits are not queued: the feeder is behind and
// reads them back from the log when it gets there.
const maxFeed = 1 << 16

// feed is the queue of committed events between the event log's syncer
// (push, which must not block) and the feeder goroutine (pop).
type feed struct {
	mu     sync.Mutex
	queue  []visitor.Arrival // in sequence order
	signal chan struct{}     // capacity 1: something was pushed
}

func newFeed() *feed { return &feed{signal: make(chan struct{}, 1)} }

// push queues committed events, or drops them when the queue is full.
func (f *feed) push(evs []*firehook.Event) {
	now := time.Now()
	f.mu.Lock()
	for _, ev := range evs {
		if len(f.queue) >= maxFeed {
			break // in the log: the feeder reads them from there
		}
		f.queue = append(f.queue, visitor.Arrival{Event: ev, CommittedAt: now})
	}
	f.mu.Unlock()
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

// pop returns the queued event with sequence next, dropping the queued
// events before it (the feeder read them from the log); ok is false when
// the queue does not start with it (empty, or ahead of next).
func (f *feed) pop(next uint64) (a visitor.Arrival, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := 0
	for i < len(f.queue) && f.queue[i].Event.Seq < next {
		i++
	}
	if i < len(f.queue) && f.queue[i].Event.Seq == next {
		a, ok = f.queue[i], true
		i++
	}
	if i > 0 {
		n := copy(f.queue, f.queue[i:])
		clear(f.queue[n:])
		f.queue = f.queue[:n]
	}
	return a, ok
}

// feeder routes every event from sequence next on to its visitor's actor,
// in log order: from the feed when it holds the next one (the usual case:
// no read), else from the log (a replay after a restart, or after the
// feed overflowed). It keeps at most MaxOutstanding events routed and not
// yet finished, waiting for room beyond that.
func (p *Pipeline) feeder(next uint64) {
	defer p.wg.Done()
	for {
		if !p.feedFrom(&next) {
			return
		}
		select {
		case <-p.closing:
			return
		case <-p.feed.signal:
		}
	}
}

// feedFrom routes what is available from next on; false when the
// pipeline closes.
func (p *Pipeline) feedFrom(next *uint64) bool {
	for {
		if p.track.inFlight() >= p.cfg.MaxOutstanding {
			select {
			case <-p.closing:
				return false
			case <-p.track.freed:
			}
			continue
		}
		if a, ok := p.feed.pop(*next); ok {
			if !p.routeOrLog(a) {
				return false
			}
			*next++
			continue
		}
		if *next > p.store.Events.LastSeq() {
			return true // caught up
		}
		room := max(p.cfg.MaxOutstanding-p.track.inFlight(), 1)
		evs, err := p.store.Events.Read(*next, min(room, 1024))
		if err != nil || len(evs) == 0 {
			// A read error is the disk's: the events stay in the log for
			// the next attempt (or the next start).
			p.cfg.Log.Error("pipeline: reading the event log", "from", *next, "err", err)
			select {
			case <-p.closing:
				return false
			case <-time.After(time.Second):
			}
			continue
		}
		for i := range evs {
			if !p.routeOrLog(visitor.Arrival{Event: &evs[i]}) {
				return false
			}
		}
		*next = evs[len(evs)-1].Seq + 1
	}
}

// routeOrLog routes a; false when the actor system is closed.
func (p *Pipeline) routeOrLog(a visitor.Arrival) bool {
	err := p.route(a)
	if errors.Is(err, actors.ErrClosed) {
		return false
	}
	if err != nil {
		// Left for the replay after the next restart.
		p.cfg.Log.Error("pipeline: event not routed", "event", a.Event.ID, "seq", a.Event.Seq, "err", err)
	}
	return true
}
