// Package pipeline wires a node's actors into the path of an event: the
// event log's commits feed the visitor actors (session, match), matched
// events go to their person's actor (dispatch decision, outbox), and the
// deliveries to the endpoint actors (signed POSTs, retries).
//
// It owns what runs between the actors: the feeder goroutine that takes
// committed events from the log and sends each to its visitor's actor in
// log order, and the "processed up to" mark — the low watermark of the
// events every stage is done with — written to the store periodically so
// that a restart resumes from it (Start replays the log after it). Every
// step after the log is idempotent by event id, so a replay never
// duplicates a decision; at most it sends a delivery again.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/firehook/firehook"
	"github.com/firehook/firehook/actors"
	"github.com/firehook/firehook/actors/endpoint"
	"github.com/firehook/firehook/actors/person"
	"github.com/firehook/firehook/actors/visitor"
	"github.com/firehook/firehook/actors/webhook"
	"github.com/firehook/firehook/identity"
	"github.com/firehook/firehook/internal/failpoint"
	"github.com/firehook/firehook/persistence"
)

// Actor kinds and id prefixes. Ids are the partition keys written out —
// (tenant, visitor), (tenant, person), endpoint id — prefixed so that they
// are unique across kinds.
const (
	KindVisitor  = "visitor"
	KindPerson   = "person"
	KindEndpoint = "endpoint"
)

// VisitorActorID is the actor id of (tenant, visitor).
func VisitorActorID(tenantID, visitorID string) string { return "v:" + tenantID + "/" + visitorID }

// PersonActorID is the actor id of (tenant, person).
func PersonActorID(tenantID, personID string) string {
	return "p:" + firehook.PersonKey(tenantID, personID)
}

// Config configures a Pipeline.
type Config struct {
	// Store is the node's store. Required.
	Store *persistence.Store
	// Matcher is the match stage. Required.
	Matcher *identity.Matcher
	// System runs the actors. Required; Pipeline.Close closes it.
	System *actors.System
	// Endpoint configures the endpoint actors; Outbox, Endpoints and
	// Attempts are filled in by New. Endpoint.Client is required.
	Endpoint endpoint.Config
	// Session holds the session rules.
	Session visitor.Config
	// IdleTimeout is how long visitor and person actors live without
	// events before they passivate. Default 1 min.
	IdleTimeout time.Duration
	// MarkInterval is how often the checkpoint is written when the
	// processed-up-to mark moved: the visitor states put since the last
	// one, the mark, and one badger fsync that makes them and the
	// decisions made meanwhile durable (persistence.Store.MarkProcessed).
	// A crash replays the log from the last checkpoint. Default 200 ms.
	MarkInterval time.Duration
	// MaxOutstanding bounds the events routed to visitor actors and not
	// yet finished: the feeder waits for room beyond it, so that a
	// replay of a long log, or a load the node cannot keep up with, stays
	// in the log rather than in mailboxes. Default 8192.
	MaxOutstanding int
	// DispatchTimeout bounds a visitor actor's wait for its person actor.
	// Default 30 s.
	DispatchTimeout time.Duration
	// Replicate, when set, copies each decision's dispatch state where it
	// survives this node (see person.Config.Replicate). Nil: not copied.
	Replicate func(personKey string, seq uint64, deliveries []firehook.Delivery) error
	// Router, when set, spreads the work over a cluster: events whose
	// visitor another member owns are handed to it, matches whose person
	// another member owns are dispatched there. Nil: this node does all.
	Router Router
	// Observer, when set, is told how long each event spends in each stage
	// up to the endpoint actors (metrics). Nil: nothing is measured.
	Observer Observer
	// Log receives errors. Default slog.Default().
	Log *slog.Logger
}

// Pipeline is the running event path of one node.
type Pipeline struct {
	cfg     Config
	sys     *actors.System
	store   *persistence.Store
	visitor visitor.ActorConfig
	person  person.Config
	ep      endpoint.Config
	track   *tracker
	feed    *feed

	statsMu sync.Mutex
	stats   map[string]*endpoint.Stats

	attempts sync.WaitGroup
	closing  chan struct{}
	// ctx ends when Close begins: it bounds the waits on other members.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// New returns a pipeline over cfg; Start runs it.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Store == nil || cfg.Matcher == nil || cfg.System == nil || cfg.Endpoint.Client == nil {
		return nil, fmt.Errorf("pipeline: Store, Matcher, System and Endpoint.Client are required: %w", firehook.ErrInvalid)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.MarkInterval <= 0 {
		cfg.MarkInterval = 200 * time.Millisecond
	}
	if cfg.DispatchTimeout <= 0 {
		cfg.DispatchTimeout = 30 * time.Second
	}
	if cfg.MaxOutstanding <= 0 {
		cfg.MaxOutstanding = 8192
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p := &Pipeline{cfg: cfg, sys: cfg.System, store: cfg.Store, feed: newFeed(),
		stats: map[string]*endpoint.Stats{}, closing: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.ep = cfg.Endpoint
	p.ep.Outbox = cfg.Store.Outbox()
	p.ep.Endpoints = cfg.Store.Config
	p.ep.Attempts = &p.attempts
	if p.ep.Log == nil {
		p.ep.Log = cfg.Log
	}
	p.ep.Defaults() // before producers run on several goroutines
	p.person = person.Config{
		Replicate:   cfg.Replicate,
		Store:       cfg.Store,
		Endpoints:   cfg.Store.Config,
		Deliver:     p.deliver,
		Passivate:   func(id string) { p.sys.Stop(KindPerson, id) },
		IdleTimeout: cfg.IdleTimeout,
		Log:         cfg.Log,
	}
	if cfg.Observer != nil {
		p.person.Observe = cfg.Observer.Dispatched
	}
	p.visitor = visitor.ActorConfig{
		Unordered:   cfg.Router != nil,
		Store:       cfg.Store,
		Matcher:     cfg.Matcher,
		Session:     cfg.Session,
		Dispatch:    p.dispatch,
		Done:        func(seq uint64) { p.track.finish(seq) },
		Passivate:   func(id string) { p.sys.Stop(KindVisitor, id) },
		IdleTimeout: cfg.IdleTimeout,
		Log:         cfg.Log,
	}
	if cfg.Observer != nil {
		p.visitor.Observe = p.observeVisitor
	}
	return p, nil
}

// Committed is the event log's OnCommit hook: it queues the events for the
// feeder and returns at once.
func (p *Pipeline) Committed(evs []*firehook.Event) { p.feed.push(evs) }

// Start starts every endpoint's actor (each loads its unfinished
// deliveries) and the feeder, which routes the events after the
// processed-up-to mark — read back from the log, then as they are
// committed — and the checkpoint writer. Call it before the node accepts
// events; it returns without waiting for the replay, which runs in log
// order ahead of every new event.
func (p *Pipeline) Start() error {
	mark, err := p.store.ProcessedUpTo()
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p.track = newTracker(mark)
	for _, ep := range p.store.Config.Endpoints("") {
		if _, err := p.sys.Spawn(KindEndpoint, ep.ID, p.endpointProducer(ep.ID)); err != nil {
			return fmt.Errorf("pipeline: start endpoint %s: %w", ep.ID, err)
		}
	}
	if last := p.store.Events.LastSeq(); last > mark {
		p.cfg.Log.Info("pipeline: replaying the events after the checkpoint", "mark", mark, "events", last-mark)
	}
	p.wg.Add(2)
	go p.feeder(mark + 1)
	go p.marker()
	return nil
}

// route sends one event to its visitor's actor, or to the member that
// owns its visitor.
func (p *Pipeline) route(a visitor.Arrival) error {
	ev := a.Event
	p.track.add(ev.Seq)
	if r := p.cfg.Router; r != nil && !r.LocalVisitor(ev) {
		r.HandOff(ev, func() { p.track.finish(ev.Seq) }, func() {
			if err := p.routeHere(a); err != nil && !errors.Is(err, actors.ErrClosed) {
				p.cfg.Log.Error("pipeline: event not routed", "event", ev.ID, "seq", ev.Seq, "err", err)
			}
		})
		return nil
	}
	return p.routeHere(a)
}

// routeHere sends an event, already tracked, to its visitor's actor here.
func (p *Pipeline) routeHere(a visitor.Arrival) error {
	ev := a.Event
	id := VisitorActorID(ev.TenantID, ev.VisitorID)
	return p.sys.Send(KindVisitor, id, visitor.ActorProducer(&p.visitor, id, ev.TenantID, ev.VisitorID), &a)
}

// marker writes the processed-up-to mark when it moved.
func (p *Pipeline) marker() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.MarkInterval)
	defer t.Stop()
	var written uint64
	for {
		select {
		case <-p.closing:
			return
		case <-t.C:
		}
		if mark, _ := p.track.value(); mark > written {
			if err := p.store.MarkProcessed(mark); err != nil {
				p.cfg.Log.Error("pipeline: writing the processed-up-to mark", "err", err)
				continue
			}
			failpoint.Hit("pipeline.after-checkpoint")
			written = mark
		}
	}
}

// dispatch is the visitor actors' hand-off to the person actors: here, or
// on the member that owns the person.
func (p *Pipeline) dispatch(ev *firehook.Event, m identity.Match, s webhook.SessionInfo) error {
	if r := p.cfg.Router; r != nil {
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.DispatchTimeout)
		defer cancel()
		return r.Dispatch(ctx, ev, m, s)
	}
	return p.DispatchHere(ev, m, s)
}

// DispatchHere has this node's person actor decide and deliver a matched
// event; it is also how a member's Dispatch is answered.
func (p *Pipeline) DispatchHere(ev *firehook.Event, m identity.Match, s webhook.SessionInfo) error {
	reply := make(chan error, 1)
	id := PersonActorID(ev.TenantID, m.Person.PersonID)
	w := &person.Work{Event: ev, Match: m, Session: s, Reply: reply}
	if err := p.sys.Send(KindPerson, id, person.Producer(&p.person, id), w); err != nil {
		return err
	}
	t := time.NewTimer(p.cfg.DispatchTimeout)
	defer t.Stop()
	select {
	case err := <-reply:
		return err
	case <-p.closing:
		return actors.ErrClosed
	case <-t.C:
		return fmt.Errorf("person actor %s did not answer within %s", id, p.cfg.DispatchTimeout)
	}
}

// Enqueue hands deliveries stored in the outbox by other means than a
// decision here (taken over from a dead member) to their endpoint actors.
func (p *Pipeline) Enqueue(ds []firehook.Delivery) {
	byEndpoint := map[string][]firehook.Delivery{}
	for _, d := range ds {
		if !d.Status.Finished() {
			byEndpoint[d.EndpointID] = append(byEndpoint[d.EndpointID], d)
		}
	}
	for id, eds := range byEndpoint {
		p.deliver(id, eds)
	}
}

// deliver is the person actors' hand-off to the endpoint actors.
func (p *Pipeline) deliver(endpointID string, ds []firehook.Delivery) {
	if err := p.sys.Send(KindEndpoint, endpointID, p.endpointProducer(endpointID), &endpoint.Enqueue{Deliveries: ds}); err != nil &&
		!errors.Is(err, actors.ErrClosed) {
		// The deliveries are in the outbox: the actor loads them when it starts.
		p.cfg.Log.Error("pipeline: deliveries not handed to their endpoint actor", "endpoint", endpointID, "err", err)
	}
}

func (p *Pipeline) endpointProducer(id string) func() actor.Actor {
	return endpoint.Producer(&p.ep, id, p.EndpointStats(id))
}

// EndpointStats returns the live figures of endpoint id's actor.
func (p *Pipeline) EndpointStats(id string) *endpoint.Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	s := p.stats[id]
	if s == nil {
		s = new(endpoint.Stats)
		p.stats[id] = s
	}
	return s
}

// EndpointChanged tells endpoint id's actor that its configuration
// changed (or, for a deleted endpoint, stops it).
func (p *Pipeline) EndpointChanged(id string) {
	if _, ok := p.store.Config.Endpoint(id); !ok {
		p.sys.Stop(KindEndpoint, id)
		return
	}
	p.deliverMsg(id, &endpoint.Reload{})
}

// Replayed tells endpoint id's actor that deliveries of it were replayed.
func (p *Pipeline) Replayed(id string) { p.deliverMsg(id, &endpoint.Reload{}) }

func (p *Pipeline) deliverMsg(id string, msg any) {
	if err := p.sys.Send(KindEndpoint, id, p.endpointProducer(id), msg); err != nil && !errors.Is(err, actors.ErrClosed) {
		p.cfg.Log.Error("pipeline: endpoint actor not reached", "endpoint", id, "err", err)
	}
}

// WaitProcessed waits until every event up to log sequence seq is done
// (processed here or stored by the member it was handed to), or ctx ends:
// how a member that gives up visitors lets the events it stored for them
// finish before their new owner goes on.
func (p *Pipeline) WaitProcessed(ctx context.Context, seq uint64) error {
	target := seq
	for {
		if mark, _ := p.track.value(); mark >= target {
			return nil
		}
		select { // polls: the feeder alone waits on track.freed
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Mark returns the processed-up-to mark and how many events are being
// processed.
func (p *Pipeline) Mark() (mark uint64, outstanding int) { return p.track.value() }

// Close stops the pipeline: the feeder, then every actor (closing the
// actor system: an event being dispatched is abandoned, to be replayed
// after the restart), then waits for the requests in flight (cancelled)
// and writes the final processed-up-to mark. ctx bounds the wait for the
// actors. Safe to call twice.
func (p *Pipeline) Close(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		close(p.closing)
		p.cancel()
		p.wg.Wait()
		err = p.sys.Close(ctx)
		p.attempts.Wait()
		if mark, _ := p.track.value(); mark > 0 {
			if e := p.store.MarkProcessed(mark); e != nil {
				err = errors.Join(err, e)
			}
		}
	})
	return err
}
