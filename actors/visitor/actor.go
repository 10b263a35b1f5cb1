package visitor

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/failpoint"
	"github.com/firehook/firehook/persistence"
)

// Arrival is a stored event routed to its visitor's actor, in log order.
type Arrival struct {
	Event *firehook.Event
	// CommittedAt is when the log made the event durable; zero for an
	// event replayed from the log at start.
	CommittedAt time.Time
}

// ActorConfig is shared by every visitor actor of a node.
type ActorConfig struct {
	// Store holds the visitors' persisted state. Required.
	Store *persistence.Store
	// Matcher runs the match stage. Required.
	Matcher *identity.Matcher
	// Session holds the session rules.
	Session Config
	// Dispatch hands a matched event to its person's actor and returns
	// once the decision and the deliveries are durable (or failed).
	// Required.
	Dispatch func(ev *firehook.Event, m identity.Match, s webhook.SessionInfo) error
	// Done reports that the event with log sequence seq is fully
	// processed: dispatched, or dropped (no match, suppressed). An event
	// that is not reported is processed again after a restart. Required.
	Done func(seq uint64)
	// Unordered says that a visitor's events may reach its actor out of
	// the order of this node's log (a cluster: an event handed to another
	// member and back comes after later ones). The actor then does not
	// take an event whose sequence is below its state's for a replay of
	// one already applied: it applies it (the dispatch decision is
	// idempotent by event id; the session's counters may count a replayed
	// page view twice). False on a lone node: a replay is skipped.
	Unordered bool
	// Passivate stops the actor (actors.System.Stop) after IdleTimeout
	// without events. Nil: never.
	Passivate func(id string)
	// IdleTimeout is how long an actor waits for an event before it
	// passivates. Default 1 min.
	IdleTimeout time.Duration
	// Observe, when set, is told of each event the actor matches (not of
	// replays of events it had applied already): when the log committed it
	// (zero for an event replayed from the log at start), when its
	// handling began and how long the match took (metrics). It is called
	// on the actor's goroutine and must be quick.
	Observe func(ev *firehook.Event, committedAt, start time.Time, match time.Duration)
	// Log receives errors. Default slog.Default().
	Log *slog.Logger
}

// Actor is the actor of one (tenant, visitor): it applies the visitor's
// page views, in log order, to its session state, runs the match and
// hands matched events to the person's actor.
//
// Replays are harmless: the persisted state carries the log sequence of
// the last event applied, and an event at or below it is only reported
// done. The state is stored after the event's dispatch is durable, so an
// event applied to the stored state has been dispatched; an event
// dispatched but not yet applied (a crash in between) is applied again to
// the same older state — the same session, since session ids are derived
// from the event — and its dispatch answers with the stored decision.
type Actor struct {
	cfg             *ActorConfig
	id              string
	tenant, visitor string
	seq             uint64
	state           State
	loaded          bool

	// backlog holds, in order, an event whose handling failed (a disk
	// that cannot take the decision, say) and the ones that arrived
	// after it: they are tried again after retryWait, the failed one
	// first, so that the visitor's events keep their order and the node
	// goes on once the fault is gone, without a restart.
	backlog   []*Arrival
	retryWait time.Duration
	tries     int // failed tries of the backlog's first event
	retry     *time.Timer
}

// The waits before the backlog is tried again: doubling from the first
// to the last.
const (
	firstRetryWait = 500 * time.Millisecond
	lastRetryWait  = 30 * time.Second
	// maxTries bounds the tries of one event (about 4 minutes): an event
	// that still fails is set aside — processed again after a restart, as
	// before — so that an error that does not pass (a record that cannot
	// be decoded) stalls the visitor for a while, not for ever.
	maxTries = 12
)

// retryBacklog asks the actor to try its backlog again.
type retryBacklog struct{}

// ActorProducer returns the producer of the visitor actor id for
// (tenantID, visitorID).
func ActorProducer(cfg *ActorConfig, id, tenantID, visitorID string) func() actor.Actor {
	return func() actor.Actor {
		return &Actor{cfg: cfg, id: id, tenant: tenantID, visitor: visitorID}
	}
}

// Receive implements actor.Actor.
func (a *Actor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		if a.cfg.Passivate != nil {
			c.SetReceiveTimeout(a.cfg.idle())
		}
	case *actor.ReceiveTimeout:
		if len(a.backlog) == 0 {
			a.cfg.Passivate(a.id)
		}
	case *actor.Stopping:
		if a.retry != nil {
			a.retry.Stop() // the backlog is not reported done: it is processed again after a restart
		}
	case *Arrival:
		a.backlog = append(a.backlog, m)
		if len(a.backlog) == 1 {
			a.work(c)
		}
	case retryBacklog:
		a.retry = nil
		a.work(c)
	}
}

// work handles the backlog in order until it is empty or an event fails;
// then it tries again later (see backlog).
func (a *Actor) work(c actor.Context) {
	for len(a.backlog) > 0 {
		m := a.backlog[0]
		if err := a.handle(m.Event, m.CommittedAt); err != nil {
			// Not reported done: tried again below, or after a restart.
			// The in-memory state is reloaded from the store first.
			a.loaded = false
			if a.tries++; a.tries >= maxTries {
				a.cfg.log().Error("visitor: event not processed; set aside until a restart", "visitor", a.id,
					"event", m.Event.ID, "seq", m.Event.Seq, "err", err, "tries", a.tries)
				a.backlog[0], a.backlog = nil, a.backlog[1:]
				a.tries, a.retryWait = 0, 0
				continue
			}
			a.retryWait = min(max(2*a.retryWait, firstRetryWait), lastRetryWait)
			a.cfg.log().Error("visitor: event not processed; trying again", "visitor", a.id, "event", m.Event.ID,
				"seq", m.Event.Seq, "err", err, "in", a.retryWait, "waiting", len(a.backlog))
			self, root := c.Self(), c.ActorSystem().Root
			a.retry = time.AfterFunc(a.retryWait, func() { root.Send(self, retryBacklog{}) })
			return
		}
		a.backlog[0] = nil
		a.backlog = a.backlog[1:]
		a.tries, a.retryWait = 0, 0
	}
	a.backlog = nil
}

func (a *Actor) load() error {
	if a.loaded {
		return nil
	}
	rec, ok, err := a.cfg.Store.Visitor(a.tenant, a.visitor)
	if err != nil {
		return err
	}
	a.seq, a.state = 0, State{}
	if ok {
		if err := a.state.UnmarshalBinary(rec.State); err != nil {
			return fmt.Errorf("visitor %s: %w", a.id, err)
		}
		a.seq = rec.Seq
	}
	a.loaded = true
	return nil
}

func (a *Actor) handle(ev *firehook.Event, committedAt time.Time) error {
	start := time.Now()
	if err := a.load(); err != nil {
		return err
	}
	if ev.Seq != 0 && ev.Seq <= a.seq && !a.cfg.Unordered {
		a.cfg.Done(ev.Seq) // a replay of an event already applied
		return nil
	}
	a.cfg.Session.Observe(&a.state, ev, func() string {
		// Derived from the event, so that applying it again gives the same id.
		return DeriveSessionID(ev.TenantID, ev.VisitorID, ev.ID, a.state.VisitCount)
	})
	matchStart := time.Now()
	out, err := a.cfg.Matcher.Match(identity.VisitFromEvent(ev))
	if err != nil {
		return fmt.Errorf("match: %w", err)
	}
	if a.cfg.Observe != nil {
		a.cfg.Observe(ev, committedAt, start, time.Since(matchStart))
	}
	if out.Person != nil && !out.Suppressed {
		failpoint.Hit("visitor.before-dispatch")
		s := webhook.SessionInfo{ID: a.state.SessionID, PagesViewed: a.state.PagesViewed, VisitCount: a.state.VisitCount}
		if err := a.cfg.Dispatch(ev, out.Match, s); err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
	}
	b, err := a.state.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := a.cfg.Store.PutVisitor(a.tenant, a.visitor, persistence.VisitorRecord{Seq: ev.Seq, State: b}); err != nil {
		return err
	}
	a.seq = ev.Seq
	a.cfg.Done(ev.Seq)
	return nil
}

// idle is IdleTimeout or its default. Producers do not fill in defaults:
// the config is shared by every actor, produced on many goroutines.
func (c *ActorConfig) idle() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return time.Minute
}

// log is Log or slog.Default().
func (c *ActorConfig) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}
