// Package person is the person actor: one per (tenant, person) while the
// person is active. It makes the dispatch decision for each of the
// person's matched events — First Match or Every Update, and the
// per-(tenant, person) sequence — stores the event's deliveries in the
// outbox (persistence.Store.Dispatch), and hands them to the endpoint
// actors. A person seen from two visitor ids (two devices) is decided in
// one place, so the order in which deliveries reach an endpoint actor is
// the order of their sequence numbers.
package person

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

// Work asks a person actor to dispatch one matched event. The actor
// answers on Reply (buffered, capacity ≥ 1) once the decision and the
// deliveries are durable and handed on, or with the error that stopped it.
type Work struct {
	Event   *firehook.Event
	Match   identity.Match // Match.Person is set
	Session webhook.SessionInfo
	Reply   chan<- error
}

// Endpoints lists a tenant's endpoints: the node's persistence.ConfigStore.
type Endpoints interface {
	Endpoints(tenantID string) []firehook.Endpoint
}

// Config is shared by every person actor of a node.
type Config struct {
	// Store makes the dispatch decisions durable. Required.
	Store *persistence.Store
	// Endpoints is the configuration. Required.
	Endpoints Endpoints
	// Deliver hands an event's new or unfinished deliveries for one
	// endpoint to that endpoint's actor. Required.
	Deliver func(endpointID string, ds []firehook.Delivery)
	// Passivate stops the actor (actors.System.Stop) after IdleTimeout
	// without work. Nil: never.
	Passivate func(id string)
	// IdleTimeout is how long an actor waits for work before it
	// passivates. Default 1 min.
	IdleTimeout time.Duration
	// Replicate, when set, copies a decision's dispatch state — the
	// person's lane (firehook.PersonKey), its sequence now, and the
	// event's deliveries (with payloads) — to where it
	// must survive this node (a cluster's other owner of the person's
	// shard). It is called after the decision is stored and before its
	// deliveries are handed on, so that no webhook goes out whose First
	// Match or sequence a crash of this node could make again. An error
	// is logged; the deliveries go on.
	Replicate func(personKey string, seq uint64, deliveries []firehook.Delivery) error
	// Observe, when set, is told of each dispatch that succeeded: the
	// decision, how many deliveries it made (or, replayed, found) and how
	// long the decision, the payload and the outbox write took (metrics).
	// It is called on the actor's goroutine and must be quick.
	Observe func(ev *firehook.Event, dec persistence.Decision, deliveries int, took time.Duration)
	// Log receives errors. Default slog.Default().
	Log *slog.Logger
}

// Actor is the actor of one (tenant, person).
type Actor struct {
	cfg *Config
	id  string
}

// Producer returns the producer of the person actor named id.
func Producer(cfg *Config, id string) func() actor.Actor {
	return func() actor.Actor { return &Actor{cfg: cfg, id: id} }
}

// Receive implements actor.Actor.
func (a *Actor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		if a.cfg.Passivate != nil {
			c.SetReceiveTimeout(a.cfg.idle())
		}
	case *actor.ReceiveTimeout:
		a.cfg.Passivate(a.id)
	case *Work:
		m.Reply <- a.dispatch(m)
	}
}

// dispatch decides, stores and hands on one event.
func (a *Actor) dispatch(w *Work) error {
	ev := w.Event
	start := time.Now()
	dec, dels, err := a.cfg.Store.Dispatch(ev.ID, ev.TenantID, w.Match.Person.PersonID, func(dec persistence.Decision) ([]firehook.Delivery, error) {
		var body []byte
		var out []firehook.Delivery
		now := time.Now()
		for _, ep := range a.cfg.Endpoints.Endpoints(ev.TenantID) {
			if ep.State != firehook.EndpointEnabled || !ep.Subscribes(dec.Type) {
				continue
			}
			if body == nil {
				body = webhook.AppendJSON(nil, webhook.Build(ev, dec.Type, dec.Sequence, w.Match, w.Session))
			}
			out = append(out, firehook.Delivery{ID: firehook.DeliveryIDFor(ev.ID, ep.ID, ev.ReceivedAt),
				EndpointID: ep.ID, CreatedAt: now, Payload: body, EventReceivedAt: ev.ReceivedAt})
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("person %s: %w", a.id, err)
	}
	failpoint.Hit("person.after-dispatch")
	if a.cfg.Replicate != nil {
		if err := a.cfg.Replicate(firehook.PersonKey(ev.TenantID, w.Match.Person.PersonID), dec.Sequence, dels); err != nil {
			a.cfg.log().Warn("person: dispatch state not replicated", "person", a.id, "seq", dec.Sequence, "err", err)
		}
	}
	if a.cfg.Observe != nil {
		a.cfg.Observe(ev, dec, len(dels), time.Since(start))
	}
	for _, d := range dels {
		if !d.Status.Finished() {
			a.cfg.Deliver(d.EndpointID, []firehook.Delivery{d})
		}
	}
	return nil
}

// idle is IdleTimeout or its default. Producers do not fill in defaults:
// the config is shared by every actor, produced on many goroutines.
func (c *Config) idle() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return time.Minute
}

// log is Log or slog.Default().
func (c *Config) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}
