package pipeline

import (
	"strings"
	"time"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/persistence"
)

// Observer is told how long each event spends in the stages between the
// event log and the endpoint actors: the metrics' stage timings. Its
// methods are called from the feeder's and the actors' goroutines, so
// they must be safe for concurrent use, quick, and must not block.
type Observer interface {
	// Queued reports the wait of an event from its commit to the log to
	// the start of its handling by its visitor actor. Events replayed
	// from the log at start are not reported (they waited for a restart).
	Queued(ev *firehook.Event, wait time.Duration)
	// Matched reports how long the match stage took for an event.
	Matched(ev *firehook.Event, took time.Duration)
	// Dispatched reports a person actor's dispatch of a matched event:
	// the decision, how many deliveries it made, and how long deciding,
	// building the payload and storing the deliveries took.
	Dispatched(ev *firehook.Event, dec persistence.Decision, deliveries int, took time.Duration)
}

// observeVisitor is the visitor actors' Observe hook.
func (p *Pipeline) observeVisitor(ev *firehook.Event, committedAt, start time.Time, match time.Duration) {
	if !committedAt.IsZero() { // not for events replayed at start: they waited for a restart
		p.cfg.Observer.Queued(ev, start.Sub(committedAt))
	}
	p.cfg.Observer.Matched(ev, match)
}

// ActorTenant returns the tenant of a visitor or person actor from its
// id (see VisitorActorID and PersonActorID); ok is false for other kinds,
// whose ids carry no tenant (an endpoint actor's id is the endpoint's).
func ActorTenant(kind, id string) (tenantID string, ok bool) {
	var prefix string
	switch kind {
	case KindVisitor:
		prefix = "v:"
	case KindPerson:
		prefix = "p:"
	default:
		return "", false
	}
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return "", false
	}
	tenantID, _, ok = strings.Cut(rest, "/")
	return tenantID, ok && tenantID != ""
}
